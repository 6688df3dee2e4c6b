"""Every example in docs/test-control.md runs: the Python ones as tests here, the YAML one through the schema."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import in_checkout

from mock_server.scenario import parse

DOC = Path(__file__).resolve().parents[2] / "docs" / "test-control.md"
BLOCKS = re.findall(r"```(python|yaml)\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]


def _tests(code: str) -> list[str]:
    return re.findall(r"^def (test_\w+)\(", code, flags=re.M)


def test_control_docs_have_an_example_per_capability() -> None:
    names = [name for code in PYTHON for name in _tests(code)]
    for capability in ("http_faults", "job_faults", "account_faults", "webhook_faults", "journal", "scenario"):
        assert f"test_docs_{capability}" in names
    assert "--state" in DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("code", PYTHON, ids=[",".join(_tests(c)) or "snippet" for c in PYTHON])
def test_control_docs_python_example_runs(code: str, request: pytest.FixtureRequest) -> None:
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(in_checkout(code), str(DOC), "exec"), namespace)
    tests = _tests(code)
    assert tests, "every Python example is a complete pytest test"
    for name in tests:
        func = namespace[name]
        func(**{p: request.getfixturevalue(p) for p in inspect.signature(func).parameters})


def test_control_docs_yaml_example_is_a_valid_scenario() -> None:
    [yaml_text] = [code for lang, code in BLOCKS if lang == "yaml"]
    doc = parse(yaml_text, "docs/test-control.md")
    assert doc["accounts"][0]["maxJobs"] == 2
