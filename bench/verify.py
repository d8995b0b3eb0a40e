"""How many SNS messages per second does snsflow verify, with a warm certificate cache?

Compared, on the same messages, with
  (a) the floor: a bare verification written here (``json.loads``, the canonical string, base64
      decode, one ``cryptography`` RSA verify with the public key already loaded);
  (b) the PyPI packages ``aws-sns-message-validator`` and ``aws-sns-verifier`` (in-process, their
      certificate download served from memory), and ``validatesns`` (in a throwaway virtualenv,
      driven round by round through a pipe, since its ``oscrypto`` dependency must be checked
      against this machine's OpenSSL first).
Each peer is timed only on the messages it can verify; its ratio is against the floor on that
same subset. Timing is interleaved (every round runs every implementation, in shuffled order),
repeated, and summarised by medians, so a noisy 2-core machine skews all sides alike.

Usage: ``make bench`` or ``.venv/bin/python bench/verify.py [--rounds N] [--no-validatesns]``.
Writes ``bench/results/verify.json``.

Only the standard library is imported at module level: the same file runs as the validatesns
worker inside the throwaway virtualenv, which has nothing else installed.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "verify.json"
REAL_FIXTURES = ROOT / "tests" / "fixtures" / "sns-real"
#: Target of the issue: snsflow within 1.5x of the floor, and faster than every peer.
TARGET_RATIO = 1.5
VALIDATESNS = "validatesns==0.1.1"
#: oscrypto 1.3.0 (the last release) reads the OpenSSL version with a one-digit-per-part regex,
#: so it refuses OpenSSL >= 3.0.10 (wbond/oscrypto#75, #78; fixed on master, never released).
OSCRYPTO_VERSION_REGEX = (r"'\\b(\\d\\.\\d\\.\\d[a-z]*)\\b'", r"'\\b(\\d+\\.\\d+\\.\\d+[a-z]*)\\b'")

Runner = Callable[[], object]


@dataclass(frozen=True)
class Message:
    name: str
    body: bytes
    fields: dict[str, Any]
    certificate_pem: bytes
    #: The instant to verify at (real SNS certificates have all expired since).
    at: datetime
    source: str  # "test-ca" or "real"

    @property
    def version(self) -> str:
        return str(self.fields["SignatureVersion"])


@dataclass
class Implementation:
    name: str
    supports: Callable[[Message], bool]
    runner: Callable[[Message], Runner]
    note: str = ""


@dataclass
class Timings:
    """Seconds per message, per round: ``rounds[r][message name]``."""

    rounds: list[dict[str, float]] = field(default_factory=list)


# --- messages ---------------------------------------------------------------------------------


def build_messages(per_variant: int) -> list[Message]:
    sys.path.insert(0, str(ROOT))  # tests.support is not an installed package
    from tests.support.sns import SnsTestSigner, issue_certificate

    # aws-sns-verifier accepts a certificate only if its issuer's name contains "Amazon".
    certificate = issue_certificate(issuer="Amazon stand-in CA (snsflow bench)")
    signer = SnsTestSigner(certificate=certificate)
    now = datetime.now(UTC)
    messages: list[Message] = []
    for n in range(per_variant):
        event = {
            "orderId": f"ord-{n:06d}",
            "status": "SHIPPED",
            "customer": {"id": f"cus-{n * 7919 % 100000:05d}", "country": "DE"},
            "items": [{"sku": f"SKU-{n}-{i}", "quantity": i + 1} for i in range(3)],
            "note": "Grüße aus dem Lager — ships in 2 boxes\nfragile",
        }
        for version in ("1", "2"):
            variants = {
                "notification": signer.notification(
                    json.dumps(event), timestamp=now, signature_version=version
                ),
                "notification-subject": signer.notification(
                    json.dumps(event),
                    subject="Order shipped",
                    timestamp=now,
                    signature_version=version,
                ),
                "subscription-confirmation": signer.subscription_confirmation(
                    timestamp=now, signature_version=version
                ),
                "unsubscribe-confirmation": signer.unsubscribe_confirmation(
                    timestamp=now, signature_version=version
                ),
            }
            for variant, body in variants.items():
                messages.append(
                    Message(
                        name=f"test-ca/{variant}-v{version}-{n}",
                        body=body.encode(),
                        fields=json.loads(body),
                        certificate_pem=certificate.pem,
                        at=now,
                        source="test-ca",
                    )
                )
    manifest = json.loads((REAL_FIXTURES / "manifest.json").read_text())
    for entry in manifest:
        if entry["expect"] != "valid" or entry["format"] != "http":
            continue
        body = (REAL_FIXTURES / entry["message"]).read_bytes()
        fields = json.loads(body)
        messages.append(
            Message(
                name=f"real/{entry['message']}",
                body=body,
                fields=fields,
                certificate_pem=(REAL_FIXTURES / entry["cert"]).read_bytes(),
                at=datetime.fromisoformat(fields["Timestamp"]),
                source="real",
            )
        )
    return messages


# --- implementations --------------------------------------------------------------------------


def floor_implementation(messages: Sequence[Message]) -> Implementation:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

    keys: dict[str, RSAPublicKey] = {}
    for message in messages:
        key = x509.load_pem_x509_certificate(message.certificate_pem).public_key()
        assert isinstance(key, RSAPublicKey)
        keys[message.fields["SigningCertURL"]] = key
    digests = {"1": hashes.SHA1(), "2": hashes.SHA256()}
    padding = PKCS1v15()
    confirmation = (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    )
    signed_keys = {
        "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
        "SubscriptionConfirmation": confirmation,
        "UnsubscribeConfirmation": confirmation,
    }
    from base64 import b64decode

    def runner(message: Message) -> Runner:
        body = message.body

        def verify() -> None:
            fields = json.loads(body)
            signed = "".join(
                f"{key}\n{fields[key]}\n" for key in signed_keys[fields["Type"]] if key in fields
            ).encode()
            keys[fields["SigningCertURL"]].verify(
                b64decode(fields["Signature"]), signed, padding, digests[fields["SignatureVersion"]]
            )

        return verify

    return Implementation("floor", lambda _message: True, runner)


def snsflow_implementation(messages: Sequence[Message]) -> Implementation:
    from snsflow.sns import CertificateProvider, MessageVerifier, parse_message

    certificates = {m.fields["SigningCertURL"]: m.certificate_pem for m in messages}

    class MemoryFetcher:
        def fetch(self, url: str) -> bytes:
            return certificates[url]

    provider = CertificateProvider(MemoryFetcher())  # one shared, warm cache

    def runner(message: Message) -> Runner:
        verifier = MessageVerifier(provider, clock=lambda: message.at)
        body = message.body
        return lambda: verifier.verify(parse_message(body))

    return Implementation("snsflow", lambda _message: True, runner)


def message_validator_implementation(messages: Sequence[Message]) -> Implementation:
    from sns_message_validator import SNSMessageValidator

    validator = SNSMessageValidator()
    certificates = {m.fields["SigningCertURL"]: m.certificate_pem for m in messages}

    @dataclass
    class Response:
        content: bytes

    class MemorySession:
        def get(self, url: str) -> Response:
            return Response(certificates[url])

    # Its requests-cache session would hit the network once per URL; serve it from memory.
    validator._cert_session = MemorySession()

    def runner(message: Message) -> Runner:
        body = message.body
        return lambda: validator.validate_message(json.loads(body))

    return Implementation(
        "aws-sns-message-validator",
        # It hashes with SHA-1 whatever the SignatureVersion says: version 1 only.
        lambda message: message.version == "1",
        runner,
        note="SignatureVersion 1 only; parses the PEM on every message",
    )


def sns_verifier_implementation(messages: Sequence[Message]) -> Implementation:
    import urllib.request

    from aws_sns_verifier import validate_sns_signature

    def supports(message: Message) -> bool:
        # Its model requires a Subject on notifications, and it checks certificate validity
        # against the real clock (every real SNS certificate here has expired).
        has_subject = message.fields["Type"] != "Notification" or "Subject" in message.fields
        return message.source == "test-ca" and has_subject

    certificates = {m.fields["SigningCertURL"]: m.certificate_pem for m in messages}

    @contextmanager
    def served_from_memory() -> Iterator[None]:
        real_urlopen = urllib.request.urlopen

        @contextmanager
        def urlopen(url: str) -> Iterator[Any]:
            yield _Readable(certificates[url])

        urllib.request.urlopen = urlopen  # type: ignore[assignment]
        try:
            yield
        finally:
            urllib.request.urlopen = real_urlopen

    # Warm its lru_cache of certificates without any network I/O.
    with served_from_memory():
        for message in messages:
            if supports(message):
                validate_sns_signature(message.body, auto_confirm_subscription=False)

    def runner(message: Message) -> Runner:
        body = message.body
        return lambda: validate_sns_signature(body, auto_confirm_subscription=False)

    return Implementation(
        "aws-sns-verifier",
        supports,
        runner,
        note="no notifications without Subject; validity judged at the real clock",
    )


@dataclass(frozen=True)
class _Readable:
    data: bytes

    def read(self) -> bytes:
        return self.data


# --- validatesns, in a throwaway virtualenv ---------------------------------------------------


@dataclass
class ValidatesnsWorker:
    status: str
    process: subprocess.Popen[str] | None = None
    names: list[str] = field(default_factory=list)

    def timer(self, message: Message) -> Callable[[int], float]:
        """Times ``iterations`` verifications of ``message`` in the worker: CPU seconds each."""
        index = self.names.index(message.name)

        def timed(iterations: int) -> float:
            assert self.process is not None
            assert self.process.stdin is not None
            assert self.process.stdout is not None
            self.process.stdin.write(f"{index} {iterations}\n")
            self.process.stdin.flush()
            return float(self.process.stdout.readline())

        return timed

    def close(self) -> None:
        if self.process is not None and self.process.stdin:
            self.process.stdin.close()
            self.process.wait(timeout=30)


def validatesns_supports(message: Message) -> bool:
    # SignatureVersion 1 only, and no older than an hour by the real clock.
    return message.source == "test-ca" and message.version == "1"


def start_validatesns(messages: Sequence[Message], workdir: Path) -> ValidatesnsWorker:
    environment = workdir / "venv"
    python = environment / "bin" / "python"
    venv.create(environment, with_pip=True)
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            VALIDATESNS,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if install.returncode != 0:
        return ValidatesnsWorker(f"not measured: pip could not install {VALIDATESNS}")
    probe = [str(python), "-c", "import validatesns"]
    loaded = subprocess.run(probe, capture_output=True, text=True, check=False)
    status = f"{VALIDATESNS} loaded as released"
    if loaded.returncode != 0:
        reason = (loaded.stderr.strip().splitlines() or ["unknown error"])[-1]
        patched = _patch_oscrypto_version_regex(environment)
        if not patched or subprocess.run(probe, capture_output=True, check=False).returncode:
            return ValidatesnsWorker(f"not measured: validatesns cannot load here ({reason})")
        status = (
            f"{VALIDATESNS} cannot load against this OpenSSL as released ({reason}); measured "
            "after applying oscrypto's unreleased upstream fix of its OpenSSL version regex "
            "in a throwaway virtualenv"
        )
    supported = [m for m in messages if validatesns_supports(m)]
    corpus = workdir / "corpus.json"
    corpus.write_text(
        json.dumps(
            [{"body": m.body.decode(), "pem": m.certificate_pem.decode()} for m in supported]
        )
    )
    process = subprocess.Popen(
        [str(python), str(Path(__file__).resolve()), "--validatesns-worker", str(corpus)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return ValidatesnsWorker(status, process, [m.name for m in supported])


def _patch_oscrypto_version_regex(environment: Path) -> bool:
    patched = False
    for module in environment.glob("lib/python*/site-packages/oscrypto/_openssl/_libcrypto_*.py"):
        source = module.read_text()
        if OSCRYPTO_VERSION_REGEX[0] in source:
            module.write_text(source.replace(*OSCRYPTO_VERSION_REGEX))
            patched = True
    return patched


def validatesns_worker(corpus: Path) -> None:
    """Runs inside the throwaway virtualenv: time validatesns when asked, one round per line."""
    import validatesns  # type: ignore[import-not-found]

    messages = [(json.loads(m["body"]), m["pem"]) for m in json.loads(corpus.read_text())]
    runs = [
        functools.partial(validatesns.validate, message, get_certificate=_served(pem))
        for message, pem in messages
    ]
    for run in runs:  # everything must verify before anything is timed
        run()
    for line in sys.stdin:
        index, iterations = map(int, line.split())
        print(time_runner(runs[index], iterations), flush=True)


def _served(pem: str) -> Callable[[str], str]:
    """validatesns's certificate download, served from memory."""
    return lambda _url: pem


# --- measurement ------------------------------------------------------------------------------


def time_runner(run: Runner, iterations: int) -> float:
    """CPU seconds per call: time other processes take on the machine is not counted."""
    gc.disable()
    try:
        start = time.thread_time()
        for _ in range(iterations):
            run()
        return (time.thread_time() - start) / iterations
    finally:
        gc.enable()


Timers = dict[str, dict[str, Callable[[int], float]]]


def in_process_timers(
    implementations: Sequence[Implementation], messages: Sequence[Message]
) -> Timers:
    """A timer per implementation per message it supports; each must verify once first."""
    timers = {
        impl.name: {m.name: _timer(impl.runner(m)) for m in messages if impl.supports(m)}
        for impl in implementations
    }
    for name, by_message in timers.items():
        for message_name, timer in by_message.items():
            try:
                timer(1)
            except Exception as exc:
                raise SystemExit(f"{name} rejected {message_name}: {exc}") from None
    return timers


def measure(groups: Sequence[Timers], rounds: int, iterations: int) -> list[dict[str, Timings]]:
    """Every round runs every group; within a group, messages in shuffled order and, for each,
    every implementation that supports it in shuffled order, so a change of load between two
    implementations' turns lasts a few milliseconds at most."""
    timings = [{name: Timings() for name in group} for group in groups]
    shuffler = random.Random(20240531)
    for round_number in range(rounds + 1):  # round 0 warms up and is discarded
        for group, group_timings in zip(groups, timings, strict=True):
            order = sorted({message for by_message in group.values() for message in by_message})
            shuffler.shuffle(order)
            results: dict[str, dict[str, float]] = {name: {} for name in group}
            for message in order:
                names = [name for name in group if message in group[name]]
                shuffler.shuffle(names)
                for name in names:
                    results[name][message] = group[name][message](iterations)
            if round_number:
                for name, result in results.items():
                    group_timings[name].rounds.append(result)
        print(f"  round {round_number}/{rounds}", end="\r", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return timings


def _timer(run: Runner) -> Callable[[int], float]:
    return lambda iterations: time_runner(run, iterations)


@dataclass
class Figure:
    implementation: str
    messages_per_second: float
    microseconds_per_message: float
    ratio_to_floor: float


def summarise(
    timings: dict[str, Timings], subset: Sequence[str], names: Sequence[str]
) -> list[Figure]:
    """Median over rounds of the mean time per message of ``subset``; ratios per round."""

    def totals(name: str) -> list[float]:
        return [sum(round_[m] for m in subset) for round_ in timings[name].rounds]

    floor = totals("floor")
    figures = []
    for name in names:
        mine = totals(name)
        mean = statistics.median(mine) / len(subset)
        ratio = statistics.median(t / f for t, f in zip(mine, floor, strict=True))
        figures.append(Figure(name, 1 / mean, mean * 1e6, ratio))
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--iterations", type=int, default=20, help="per message per round")
    parser.add_argument("--per-variant", type=int, default=3, help="test-CA messages per variant")
    parser.add_argument("--no-validatesns", action="store_true")
    parser.add_argument("--validatesns-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.validatesns_worker is not None:
        validatesns_worker(args.validatesns_worker)
        return 0

    messages = build_messages(args.per_variant)
    implementations = [
        floor_implementation(messages),
        snsflow_implementation(messages),
        message_validator_implementation(messages),
        sns_verifier_implementation(messages),
    ]
    with tempfile.TemporaryDirectory(prefix="snsflow-bench-") as workdir:
        worker = None
        if args.no_validatesns:
            validatesns_status = "not measured: --no-validatesns"
        else:
            print("setting up validatesns in a throwaway virtualenv ...", file=sys.stderr)
            worker = start_validatesns(messages, Path(workdir))
            validatesns_status = worker.status
            if worker.process is None:
                worker = None
        timers = in_process_timers(implementations, messages)
        # validatesns runs in its own group, beside the floor and snsflow on its messages only:
        # its turns (another process, another crypto library) cool the CPU caches for whatever
        # runs next, which must not tax the in-process comparisons.
        groups = [timers]
        if worker is not None:
            groups.append(
                {
                    "floor": {m: timers["floor"][m] for m in worker.names},
                    "snsflow": {m: timers["snsflow"][m] for m in worker.names},
                    "validatesns": {
                        m.name: worker.timer(m) for m in messages if m.name in worker.names
                    },
                }
            )
        try:
            timings = measure(groups, args.rounds, args.iterations)
        finally:
            if worker is not None:
                worker.close()

    subsets = {i.name: [m.name for m in messages if i.supports(m)] for i in implementations}
    comparisons: list[tuple[str, list[str], list[str], str, dict[str, Timings]]] = [
        ("all messages", [m.name for m in messages], ["floor", "snsflow"], "", timings[0]),
        (
            "real SNS messages",
            [m.name for m in messages if m.source == "real"],
            ["floor", "snsflow"],
            "",
            timings[0],
        ),
    ]
    for impl in implementations[2:]:
        comparisons.append(
            (
                f"supported by {impl.name}",
                subsets[impl.name],
                ["floor", "snsflow", impl.name],
                impl.note,
                timings[0],
            )
        )
    if worker is not None:
        comparisons.append(
            (
                "supported by validatesns",
                worker.names,
                ["floor", "snsflow", "validatesns"],
                "SignatureVersion 1 only; parses the PEM on every message; timed in its own group",
                timings[1],
            )
        )

    report: dict[str, Any] = {
        "benchmark": "SNS message verification, warm certificate cache",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "method": {
            "rounds": args.rounds,
            "iterations_per_message_per_round": args.iterations,
            "timer": "CPU time of the measuring thread (time.thread_time), garbage collector off",
            "summary": "median over rounds; ratio = implementation / floor, per round, median",
            "messages": {
                "test-ca": sum(m.source == "test-ca" for m in messages),
                "real": sum(m.source == "real" for m in messages),
            },
        },
        "validatesns": validatesns_status,
        "comparisons": [],
    }
    print(f"\n{'subset':<42} {'implementation':<27} {'msgs/s':>9} {'us/msg':>8} {'x floor':>8}")
    for title, subset, names, note, group_timings in comparisons:
        figures = summarise(group_timings, subset, names)
        label = f"{title} ({len(subset)})"
        for figure in figures:
            print(
                f"{label:<42} {figure.implementation:<27} {figure.messages_per_second:>9.0f} "
                f"{figure.microseconds_per_message:>8.1f} {figure.ratio_to_floor:>8.2f}"
            )
            label = ""
        report["comparisons"].append(
            {
                "subset": title,
                "messages": len(subset),
                "note": note,
                "results": {
                    figure.implementation: {
                        "messages_per_second": round(figure.messages_per_second),
                        "microseconds_per_message": round(figure.microseconds_per_message, 1),
                        "ratio_to_floor": round(figure.ratio_to_floor, 3),
                    }
                    for figure in figures
                },
            }
        )
    report["target"] = _target(report["comparisons"])
    print(f"\nvalidatesns: {validatesns_status}")
    print(
        f"target: snsflow within {TARGET_RATIO}x of the floor: {report['target']['within_ratio']}; "
        f"faster than every peer: {report['target']['faster_than_every_peer']}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


def _target(comparisons: list[dict[str, Any]]) -> dict[str, Any]:
    worst = max(c["results"]["snsflow"]["ratio_to_floor"] for c in comparisons)
    faster = all(
        c["results"]["snsflow"]["ratio_to_floor"] < result["ratio_to_floor"]
        for c in comparisons
        for name, result in c["results"].items()
        if name not in ("floor", "snsflow")
    )
    return {
        "max_ratio_to_floor": TARGET_RATIO,
        "snsflow_worst_ratio": worst,
        "within_ratio": worst <= TARGET_RATIO,
        "faster_than_every_peer": faster,
    }


def _machine() -> dict[str, Any]:
    import os
    import ssl

    import cryptography

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cryptography": cryptography.__version__,
        "openssl": ssl.OPENSSL_VERSION,
    }


if __name__ == "__main__":
    sys.exit(main())
