"""Bad input: schemathesis' negative data over every operation, plus hand-made malformed requests.

No 5xx; every rejection a documented ``{error, code}`` 4xx; a rejected request leaves
accounts, scheduler, balance and stored counts exactly as they were. The long run
(1000 examples per operation) is ``benchmarks/long_runs.py``.
"""

from __future__ import annotations

from typing import Any

from benchmarks.reliability import hand_made_bad_inputs, negative_inputs


def test_reliability_negative_data_on_every_operation(ltx_mock: Any) -> None:
    report = negative_inputs(ltx_mock.url, max_examples=6, seed=11)
    assert not report["problems"], "\n".join(report["problems"])
    tested = [label for label, statuses in report["statuses"].items() if statuses]
    assert len(tested) >= 10, report  # every operation with a parameter or a body got negative cases
    assert report["cases"] >= 60, report


def test_reliability_hand_made_bad_inputs_are_documented_4xx(ltx_mock: Any) -> None:
    problems = hand_made_bad_inputs(ltx_mock.url)
    assert not problems, "\n".join(problems)
