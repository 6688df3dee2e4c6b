"""The jobs benchmark's peak RSS is its child's own, whatever the size of the process that started it.

``make bench`` runs the benchmarks in one process that grows to ~150 MB, and starts the 100k-jobs run in a child;
``ru_maxrss`` survives ``execve`` on Linux, so the child reported its parent's size (issue 17's "peak RSS with 100k
completed jobs" read 156 MB in ``make bench``, 137 MB run alone).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks import ROOT


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's (/proc)")
def test_a_child_reports_its_own_peak_not_its_big_parents() -> None:
    ballast = bytearray(256 * 1024 * 1024)
    for i in range(0, len(ballast), 4096):  # resident, not just reserved
        ballast[i] = 1
    out = subprocess.run([sys.executable, "-c", "from benchmarks.jobs_bench import own_peak_rss_mb as f; print(f())"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    del ballast
    assert float(out.stdout) < 128  # a bare interpreter and the benchmark's imports: tens of MB, not 256+
