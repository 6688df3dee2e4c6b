"""The README's Python examples run as written (only the host is swapped for the test simulator)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import in_checkout

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
TESTS = [b for b in BLOCKS if "def test_" in b]



def test_readme_has_the_examples_the_issues_ask_for() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.index("make serve") < text.index("make test") < 1500, "the two commands come first"
    assert any("LTXStudioClient" in b and len(b.strip().splitlines()) <= 5 for b in BLOCKS), "client in 5 lines"
    for heading in ("## Contract checks, and a CI recipe", "## Test control", "## Many processes", "## The dashboard"):
        assert heading in text
    assert len(TESTS) >= 3


@pytest.mark.parametrize("block", TESTS, ids=lambda b: re.search(r"def (test_\w+)", b)[1])
def test_readme_example(block: str, request: pytest.FixtureRequest) -> None:
    """Each test function of the block runs with the fixtures its parameters name, as pytest would."""
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(in_checkout(block), str(README), "exec"), namespace)
    ran = 0
    for name, fn in list(namespace.items()):
        if name.startswith("test_") and callable(fn):
            fn(**{p: request.getfixturevalue(p) for p in inspect.signature(fn).parameters})
            ran += 1
    assert ran


def test_readme_client_in_five_lines(ltx_mock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    block = next(b for b in BLOCKS if "LTXStudioClient" in b and "api.download" in b)
    block = block.replace("http://127.0.0.1:8787/v1/ltxstudio", ltx_mock.base_url)
    ltx_mock.admin.clock(paused=False, speed=100000)  # the 12 s image takes a fraction of a millisecond
    monkeypatch.chdir(tmp_path)
    exec(compile(in_checkout(block), str(README), "exec"), {})
    assert (tmp_path / "mountain.png").read_bytes().startswith(b"\x89PNG")
