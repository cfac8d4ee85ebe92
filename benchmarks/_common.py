"""Helpers shared by the benchmark scripts: best-of-n timing and the machine line.

Not a benchmark itself (``make bench`` skips files starting with ``_``); the scripts import it
from their own directory.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The fastest of ``repeats`` calls of ``fn`` (seconds) and the last call's result."""
    fastest, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        fastest = min(fastest, time.perf_counter() - t0)
    return fastest, out


def machine() -> str:
    """Processor, usable cores, Python and NumPy versions, and the load average now."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{platform.processor() or platform.machine()}, {cores} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"load average {load:.1f} at start"
    )
