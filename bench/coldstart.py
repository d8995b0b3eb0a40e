"""Cold start: what importing each Lambda handler module costs, relative to ``import boto3``.

Each measurement is a fresh interpreter (``python -S -c``) that times its one import with
``time.perf_counter``, on a Lambda-like file system and environment: boto3 and its dependencies
(with byte code, as the Lambda runtime provides them) after the layers' packages, ``snsflow``
(the code layer) and the function folders on ``PYTHONPATH``, no site-packages, and the variables
Lambda and the stack set (so Powertools' tracer and the X-Ray SDK start as they do in Lambda).
Two layouts of the stack's own code:

* ``compiled``: byte code present for everything, the function's own module included;
* ``as-deployed``: what the stack ships (infra/layer_build.py): both layers with byte code
  (``unchecked-hash``), the function's folder without, run with ``-B`` — the handler module is
  compiled from source at every cold start (Lambda's file system is read-only);
* ``no-bytecode``: nothing compiled, run with ``-B`` — what the stack shipped before its layers
  carried byte code, kept as the measure of what shipping it saves.

Rounds run every module (and the baseline) in both layouts once each, in shuffled order;
figures are medians, ratios are per round. ``-X importtime`` then names the heaviest imports
beyond boto3's and what pulled each in, and the unzipped (and zipped) size of each asset and
layer is measured.

Usage: ``.venv/bin/python bench/coldstart.py [--rounds N]``; writes
``bench/results/coldstart.json``. Target: every handler within 1.5x of ``import boto3``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any

from common import (
    ROOT,
    in_shuffled_order,
    machine,
    measure_rounds,
    median_ratio,
    use_project_imports,
    write_results,
)

TARGET_RATIO = 1.5
FUNCTIONS = ("authorizer", "webhook", "status", "reconciler", "query")
BASELINE = "boto3"
#: What the Lambda Python runtime provides (the layer build leaves these out), with byte code.
RUNTIME_DISTRIBUTIONS = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
)
_TIMER = (
    "import json, sys, time\n"
    "start = time.perf_counter()\n"
    "import {module}\n"
    "print(json.dumps({{'seconds': time.perf_counter() - start, "
    "'modules': len(sys.modules)}}))\n"
)


def lambda_environment(task_root: Path) -> dict[str, str]:
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return keep | {
        "AWS_LAMBDA_FUNCTION_NAME": "snsflow-coldstart",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": str(task_root),
        "POWERTOOLS_SERVICE_NAME": "snsflow",
        "POWERTOOLS_METRICS_NAMESPACE": "snsflow",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def layer_distributions() -> list[str]:
    """The distributions of the dependencies layer (layers/requirements.txt)."""
    names = []
    for line in (ROOT / "layers" / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.append(re.split(r"[=<>!~\[ ]", line, maxsplit=1)[0])
    return names


def copy_distributions(names: list[str] | tuple[str, ...], target: Path, *, bytecode: bool) -> None:
    """Copy the importable top-level packages and modules of ``names`` into ``target``."""
    ignore = None if bytecode else shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in names:
        distribution = metadata.distribution(name)
        tops = {Path(str(f)).parts[0] for f in distribution.files or []}
        for top in sorted(tops):
            if top.endswith((".dist-info", ".data")) or top in ("..", "bin", "__pycache__"):
                continue
            source = Path(str(distribution.locate_file(top)))
            if source.is_dir():
                shutil.copytree(source, target / top, ignore=ignore, dirs_exist_ok=True)
            elif source.is_file():
                shutil.copy2(source, target / top)


def lambda_like_tree(root: Path) -> dict[str, Path]:
    """A Lambda-like file system under ``root``: ``runtime`` (boto3 and its dependencies, with
    byte code, like /var/runtime), and the stack's code — functions, ``snsflow`` (code layer),
    the dependencies layer's packages — three times: ``source`` without byte code, ``deployed``
    with byte code for the layers only (as the assets ship) and ``compiled`` with it for all."""
    runtime = root / "runtime"
    runtime.mkdir(parents=True)
    copy_distributions(RUNTIME_DISTRIBUTIONS, runtime, bytecode=True)
    source = root / "source"
    source.mkdir()
    copy_distributions(layer_distributions(), source, bytecode=False)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("snsflow", "functions"):
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    deployed = root / "deployed"
    shutil.copytree(source, deployed)
    compiled = root / "compiled"
    shutil.copytree(source, compiled)
    compile_all = [sys.executable, "-m", "compileall", "-q"]
    compile_all += ["--invalidation-mode", "unchecked-hash"]
    # As infra/layer_build.py compiles the layers; the function assets carry no byte code.
    subprocess.run([*compile_all, "-x", "/functions/", str(deployed)], check=True)
    subprocess.run([*compile_all, str(compiled)], check=True)
    return {"runtime": runtime, "source": source, "deployed": deployed, "compiled": compiled}


def run_import(module: str, environment: dict[str, str], *, no_bytecode: bool) -> float:
    # -S: no site-packages, so only the Lambda-like tree (PYTHONPATH) and the standard library.
    flags = ["-S", *(["-B"] if no_bytecode else [])]
    done = subprocess.run(
        [sys.executable, *flags, "-c", _TIMER.format(module=module)],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        cwd=environment["LAMBDA_TASK_ROOT"],
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def _import_tree(target: str, environment: dict[str, str]) -> list[tuple[int, int, str]]:
    """``-X importtime`` of ``import target``: (self microseconds, depth, module), in the order
    printed (a module after everything it imported, one level deeper)."""
    done = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c", f"import {target}"],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        cwd=environment["LAMBDA_TASK_ROOT"],
    )
    tree = []
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+\d+ \|( *)(\S+)", line)
        if found:
            tree.append((int(found[1]), len(found[2]) // 2, found[3]))
    return tree


def _package(module: str) -> str:
    parts = module.split(".")
    if parts[0] in ("snsflow", "functions"):
        return ".".join(parts[:2])
    return parts[0].lstrip("_")  # a C accelerator (_asyncio, _decimal) counts with its package


def import_offenders(
    module: str, environment: dict[str, str], top: int = 8
) -> list[dict[str, Any]]:
    """The packages ``module`` imports that ``import boto3`` does not, heaviest first: their
    summed self time (ms) and the module that first pulled each in."""
    baseline = {_package(name) for _, _, name in _import_tree(BASELINE, environment)}
    tree = _import_tree(module, environment)
    totals: dict[str, float] = defaultdict(float)
    outermost: dict[str, int] = {}  # package -> index of its least deep module
    for index, (self_us, depth, name) in enumerate(tree):
        package = _package(name)
        if package in baseline:
            continue
        totals[package] += self_us / 1000
        if package not in outermost or depth < tree[outermost[package]][1]:
            outermost[package] = index

    def imported_by(index: int) -> str:
        depth = tree[index][1]
        return next((name for _, d, name in tree[index + 1 :] if d < depth), "")

    return [
        {
            "package": package,
            "self_ms": round(ms, 1),
            "imported_by": imported_by(outermost[package]),
        }
        for package, ms in sorted(totals.items(), key=lambda item: -item[1])[:top]
    ]


def tree_size(path: Path) -> dict[str, int]:
    """Unzipped bytes of ``path`` without byte code, and the size of its deflated zip."""
    files = [f for f in sorted(path.rglob("*")) if f.is_file() and "__pycache__" not in f.parts]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, file.relative_to(path))
    return {
        "unzipped_bytes": sum(f.stat().st_size for f in files),
        "zipped_bytes": buffer.tell(),
        "files": len(files),
    }


def sizes() -> dict[str, Any]:
    use_project_imports()
    from infra.config import StackConfig
    from infra.layer_build import build_dependencies_layer

    architecture = StackConfig.from_cdk_json().architecture
    built = build_dependencies_layer(architecture) / "python"  # reuses a build, else pip
    by_package = {
        child.name: tree_size(child)["unzipped_bytes"] if child.is_dir() else child.stat().st_size
        for child in built.iterdir()
    }
    largest = sorted(by_package.items(), key=lambda item: -item[1])[:8]
    return {
        "functions": {name: tree_size(ROOT / "functions" / name) for name in FUNCTIONS},
        "code_layer (snsflow/)": tree_size(ROOT / "snsflow"),
        f"dependencies_layer ({built.parent.name})": tree_size(built)
        | {"largest_packages_bytes": dict(largest)},
        "lambda_limit_unzipped_bytes": 250 * 1024 * 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args(argv)
    modules = {BASELINE: BASELINE} | {name: f"functions.{name}.handler" for name in FUNCTIONS}

    with tempfile.TemporaryDirectory(prefix="snsflow-coldstart-") as work:
        tree = lambda_like_tree(Path(work))
        task_root = Path(work) / "task"
        task_root.mkdir()

        def environment(code: Path) -> dict[str, str]:
            # Layers (/opt/python) come before the runtime's packages, as on Lambda.
            return lambda_environment(task_root) | {
                "PYTHONPATH": os.pathsep.join([str(code), str(tree["runtime"])])
            }

        layouts = {
            "compiled": (environment(tree["compiled"]), False),
            "as-deployed": (environment(tree["deployed"]), True),
            "no-bytecode": (environment(tree["source"]), True),
        }

        def one_round(rng: Any) -> dict[str, float]:
            contenders = {
                f"{layout}/{name}": (
                    lambda module=module, env=env, no_bytecode=no_bytecode: run_import(
                        module, env, no_bytecode=no_bytecode
                    )
                )
                for layout, (env, no_bytecode) in layouts.items()
                for name, module in modules.items()
            }
            return in_shuffled_order(contenders, rng)

        timings = measure_rounds(one_round, args.rounds)
        offenders = {
            name: import_offenders(module, layouts["compiled"][0])
            for name, module in modules.items()
            if name != BASELINE
        }

    results: dict[str, Any] = {}
    layouts_measured = ("compiled", "as-deployed", "no-bytecode")
    print(f"\n{'layout/module':<26} {'ms':>8} {'x boto3':>8}")
    for layout in layouts_measured:
        baseline = timings[f"{layout}/{BASELINE}"]
        results[layout] = {}
        for name in modules:
            values = timings[f"{layout}/{name}"]
            figure = {
                "milliseconds": round(statistics.median(values) * 1000, 1),
                "ratio_to_boto3": round(median_ratio(values, baseline), 3),
            }
            results[layout][name] = figure
            print(
                f"{layout + '/' + name:<26} {figure['milliseconds']:>8.1f} "
                f"{figure['ratio_to_boto3']:>8.2f}"
            )
    worst = {
        layout: max(results[layout][name]["ratio_to_boto3"] for name in FUNCTIONS)
        for layout in results
    }
    measured_sizes = sizes()
    write_results(
        "coldstart",
        {
            "benchmark": "cold start: handler module import in a fresh interpreter vs boto3",
            "machine": machine(),
            "method": {
                "rounds": args.rounds,
                "timer": "time.perf_counter around the one import statement, in a fresh "
                "python -c, Lambda-like environment variables",
                "summary": "median over rounds; ratio per round, median",
                "layouts": {
                    "compiled": "Lambda-like tree (python -S; runtime boto3, layers, function "
                    "code), everything with byte code",
                    "as-deployed": "the same, byte code for the layers only (unchecked-hash, as "
                    "infra/layer_build.py ships them), the function module from source, -B",
                    "no-bytecode": "nothing compiled, -B (the stack before its layers shipped "
                    "byte code)",
                },
            },
            "results": results,
            "offenders_beyond_boto3_self_ms": offenders,
            "sizes": measured_sizes,
            "target": {
                "max_ratio_to_boto3": TARGET_RATIO,
                "worst_ratio": worst,
                "met": {layout: ratio <= TARGET_RATIO for layout, ratio in worst.items()},
            },
        },
    )
    for name, heavy in offenders.items():
        print(f"{name}: " + ", ".join(f"{o['package']} {o['self_ms']} ms" for o in heavy[:6]))
    print(f"target: every handler within {TARGET_RATIO}x of import boto3: {worst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
