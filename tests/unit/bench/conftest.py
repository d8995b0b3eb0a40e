"""The benchmarks' helpers are scripts beside each other in ``bench/`` (they import each other
by module name, as ``bench/*.py`` runs them): make that folder importable for their tests, last
on the path, so that it never shadows an installed module of the same name."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench"
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))
