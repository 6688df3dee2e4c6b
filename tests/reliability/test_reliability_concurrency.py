"""Concurrency: 32 threads create, poll and cancel jobs and re-post an account's maxJobs while the clock moves.

The invariants (``benchmarks/reliability.py``): ``executing`` never exceeds an account's
maxJobs at any observation, every acknowledged job answers 200 and ends, credits balance
exactly (start - charges + refunds of failed jobs = end), no 5xx. The long version runs in
``benchmarks/long_runs.py``.
"""

from __future__ import annotations

from typing import Any

from benchmarks.reliability import concurrency


def test_reliability_concurrency_invariants_hold(ltx_mock: Any) -> None:
    report = concurrency(ltx_mock.url, threads=32, rounds=3, ops_per_round=10, seed=7)
    assert not report["problems"], report
    # The run must have exercised what it checks: jobs admitted, capacity refused, failures refunded.
    assert report["acknowledged_jobs"] >= 10, report
    assert report["statuses"].get("create 429", 0) > 0, report
    assert report["ended"].get("failed", 0) > 0, report
    assert report["observations"] > 20, report
    a = next(iter(report["bounds"]))
    assert report["max_executing_seen"][a] == report["bounds"][a], report  # account A was driven to its limit
