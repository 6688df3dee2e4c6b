"""The scenario split: the rules apply a parsed document handed to them; they never read YAML themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from mock_server.config import SimConfig
from mock_server.scenario import configured
from mock_server.sim import Simulator


def test_a_configured_scenario_file_needs_its_reader(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("version: 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="pass its reader"):
        Simulator(SimConfig(background=False, scenario=str(path)))


def test_each_reset_reads_the_scenario_file_again(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("version: 1\ntokens: [first-token]\n", encoding="utf-8")
    config = SimConfig(background=False, paused=True, scenario=str(path))
    sim = Simulator(config, scenario=configured(config))
    try:
        assert sim.tenant_for("first-token") and not sim.tenant_for("second-token")
        path.write_text("version: 1\ntokens: [second-token]\n", encoding="utf-8")
        sim.reset()
        assert sim.tenant_for("second-token")
    finally:
        sim.close()
