"""What the benchmarks share: paths, the machine description, CPU timing, medians, results.

Every figure is a ratio to a baseline measured in the same run, interleaved with it: each round
runs every contender once in shuffled order, and the ratio is taken per round, then the median
over rounds. A noisy 2-core machine thus slows both sides of a ratio alike.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
#: Seeds the shuffling of each round, so that a run can be repeated exactly.
SHUFFLE_SEED = 20261128


def use_project_imports() -> None:
    """Make ``snsflow``, ``functions`` and ``tests.support`` importable from a bench script."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def machine() -> dict[str, Any]:
    import cryptography

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cryptography": cryptography.__version__,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def cpu_seconds(run: Callable[[], object]) -> float:
    """CPU time of this thread for one call of ``run`` (other processes on the machine are not
    counted). The garbage collector runs as it would in production, from a clean start."""
    gc.collect()
    start = time.thread_time()
    run()
    return time.thread_time() - start


def in_shuffled_order(
    contenders: Mapping[str, Callable[[], float]], rng: random.Random
) -> dict[str, float]:
    """Run each contender once, in an order drawn from ``rng``; each returns its measurement."""
    order = list(contenders)
    rng.shuffle(order)
    return {name: contenders[name]() for name in order}


def measure_rounds(
    one_round: Callable[[random.Random], Mapping[str, float]], rounds: int, *, warmup: int = 1
) -> dict[str, list[float]]:
    """Collect ``rounds`` rounds of measurements (the first ``warmup`` are run and discarded);
    ``one_round`` gets the run's seeded random generator to shuffle its contenders with."""
    rng = random.Random(SHUFFLE_SEED)
    results: dict[str, list[float]] = {}
    for number in range(warmup + rounds):
        measured = one_round(rng)
        if number >= warmup:
            for name, value in measured.items():
                results.setdefault(name, []).append(value)
        print(f"  round {number + 1}/{warmup + rounds}", end="\r", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return results


def median_ratio(values: Sequence[float], baseline: Sequence[float]) -> float:
    """The median over rounds of ``value / baseline`` of the same round."""
    return statistics.median(v / b for v, b in zip(values, baseline, strict=True))


def write_results(name: str, report: dict[str, Any]) -> Path:
    path = RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), **report}
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"written to {path.relative_to(ROOT)}")
    return path


def previous_results(name: str) -> dict[str, Any]:
    """The results a previous run wrote to ``bench/results/<name>.json`` ({} if none)."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return {}
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def design_commit() -> str:
    """The last commit that changed the code under measurement (``snsflow/``, ``functions/``):
    what a figure measured, whatever bench-only commits came after it."""
    completed = subprocess.run(
        ["git", "log", "-1", "--format=%H", "--", "snsflow", "functions"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "snsflow", "functions"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    commit = completed.stdout.strip() or "unknown"
    return f"{commit} (with uncommitted changes)" if dirty.stdout.strip() else commit
