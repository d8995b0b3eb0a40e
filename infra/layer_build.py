"""Build the Lambda dependencies layer without Docker: ``pip install --platform``.

pip downloads the wheels built for the Lambda platform (every manylinux level the runtime's
glibc loads, the runtime's Python version and CPU architecture) into ``build/layers/``; the CDK
app packages that folder. A build is keyed by the requirements, the Python version, the
architecture and the accepted platform tags, so a second synth reuses it offline. Run it ahead
of synth with ``make layers`` (``python -m infra.layer_build``).

Both layers ship byte code compiled by an interpreter of the runtime's Python version
(:func:`compile_bytecode`): Lambda's file system is read-only, so without it every module would
be compiled from source at every cold start (bench/coldstart.py measures the difference).

This module imports nothing from the CDK so that ``make layers`` starts instantly.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Literal

from infra.config import PROJECT_ROOT, StackConfig

Architecture = Literal["arm64", "x86_64"]

#: The Lambda runtime's Python version; infra/functions.py picks the matching runtime. Byte code
#: is specific to it, and the build needs an interpreter of it (3.14 is not available where the
#: stack is built yet: docs/deploy.md).
PYTHON_VERSION = "3.13"
#: The glibc of the runtime's OS, Amazon Linux 2023 (2.34): the newest manylinux level it loads.
RUNTIME_GLIBC = (2, 34)
#: The oldest manylinux level per CPU (as wheel tags name it): aarch64 begins with manylinux2014.
_OLDEST_GLIBC_MINOR = {"aarch64": 17, "x86_64": 5}
#: The names older wheels carry instead of (or beside) PEP 600's ``manylinux_2_<minor>``.
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
_WHEEL_CPU: dict[Architecture, str] = {"arm64": "aarch64", "x86_64": "x86_64"}


def _manylinux_tags(architecture: Architecture) -> tuple[str, ...]:
    """Every manylinux tag the runtime loads, newest first (pip prefers earlier tags). pip
    matches each ``--platform`` literally, so each level is named, in both spellings."""
    cpu = _WHEEL_CPU[architecture]
    major, newest = RUNTIME_GLIBC
    tags: list[str] = []
    for minor in range(newest, _OLDEST_GLIBC_MINOR[cpu] - 1, -1):
        tags.append(f"manylinux_{major}_{minor}_{cpu}")
        if minor in _LEGACY_MANYLINUX:
            tags.append(f"{_LEGACY_MANYLINUX[minor]}_{cpu}")
    return tuple(tags)


#: Wheel platform tags per Lambda architecture.
WHEEL_PLATFORMS: dict[Architecture, tuple[str, ...]] = {
    "arm64": _manylinux_tags("arm64"),
    "x86_64": _manylinux_tags("x86_64"),
}
LAYER_REQUIREMENTS = PROJECT_ROOT / "layers" / "requirements.txt"
BUILD_ROOT = PROJECT_ROOT / "build" / "layers"
#: Shipped by the Lambda Python runtime (boto3 and its dependencies): left out of the layer.
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six"}
)
#: Folders pip leaves behind that the runtime never reads (pip's byte code is for this Python).
_STRIPPED = ("bin", "__pycache__")


def build_dir(architecture: Architecture, requirements: Path = LAYER_REQUIREMENTS) -> Path:
    """Where the layer for these inputs is (or will be) built; its ``python/`` is the layer."""
    inputs = requirements.read_bytes() + " ".join(WHEEL_PLATFORMS[architecture]).encode()
    digest = hashlib.sha256(inputs).hexdigest()[:12]
    return BUILD_ROOT / f"deps-python{PYTHON_VERSION}-{architecture}-{digest}"


def pip_install_command(architecture: Architecture, requirements: Path, target: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",  # the requirements file lists the complete, pinned set
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        *(option for tag in WHEEL_PLATFORMS[architecture] for option in ("--platform", tag)),
        "--target",
        str(target),
        "--requirement",
        str(requirements),
    ]


def build_dependencies_layer(
    architecture: Architecture, requirements: Path = LAYER_REQUIREMENTS
) -> Path:
    """Build the layer once per input set and return its folder (holding ``python/``)."""
    final = build_dir(architecture, requirements)
    if (final / "python").is_dir():
        return final
    staging = final.with_name(final.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    command = pip_install_command(architecture, requirements, staging / "python")
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError(
            f"building the Lambda dependencies layer failed ({' '.join(command)}):\n"
            f"{result.stderr.strip()}"
        )
    for name in _STRIPPED:
        for path in list((staging / "python").rglob(name)):
            shutil.rmtree(path, ignore_errors=True)
    compile_bytecode(staging / "python")
    staging.rename(final)  # a build is visible only once complete
    return final


def _python_version(executable: str) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603 (an interpreter found on this machine)
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def runtime_python() -> str | None:
    """An interpreter of :data:`PYTHON_VERSION`: this one, ``python3.X`` on ``PATH``, or one
    installed by pyenv; None when the machine has none."""
    candidates = [sys.executable, shutil.which(f"python{PYTHON_VERSION}") or ""]
    pyenv_root = os.path.expanduser("~/.pyenv")
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{PYTHON_VERSION}.*/bin/python3"))
    for candidate in candidates:
        if candidate and _python_version(candidate) == PYTHON_VERSION:
            return candidate
    return None


def compile_bytecode(folder: Path) -> None:
    """Compile every module under ``folder`` for the runtime's Python. ``unchecked-hash``: the
    runtime loads the byte code without looking at the source's mtime (asset copies do not keep
    it) or hashing the source (a layer never changes).

    Without an interpreter of the runtime's version the layer ships source only: it works the
    same, each cold start compiles what it imports."""
    python = runtime_python()
    if python is None:
        print(
            f"note: no Python {PYTHON_VERSION} on this machine (the functions' runtime), so the "
            f"layer in {folder} ships without byte code; put python{PYTHON_VERSION} on PATH "
            "for faster cold starts",
            file=sys.stderr,
        )
        return
    command = [
        python,
        "-I",
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        str(folder),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError(
            f"compiling byte code in {folder} failed:\n{(result.stdout + result.stderr).strip()}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Lambda dependencies layer.")
    parser.add_argument(
        "--architecture",
        choices=sorted(WHEEL_PLATFORMS),
        default=StackConfig.from_cdk_json().architecture,
        help="Lambda CPU architecture (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    print(build_dependencies_layer(args.architecture))
    return 0


if __name__ == "__main__":
    sys.exit(main())
