"""Scenario files: declare a simulator's state in YAML, load it, write it back.

A scenario lists tokens, LTX users, configured accounts, uploaded assets (from
files or inline), jobs in given states, faults, queued outcomes and the clock
(the format: ``mock_server/scenario-schema.yaml``, with a description of every
field). ``ltx-mock serve --scenario FILE`` loads one at start-up and on every
reset; ``POST /__admin/scenario`` loads one into a running simulator until its
next reset; ``ltx-mock snapshot FILE`` writes the live state back as one, exact
enough that serving the snapshot answers every API read the same way.

=====================  ==========================================================
``scenario/read.py``   YAML with line numbers, checked against the schema: every
                       mistake as ``FILE:LINE: field.path: problem``, nothing applied
``sim/scenario.py``    applying a checked document through the rules (the same
                       constructors as the API's: a declared job is ``Job.admit``)
``scenario/snapshot.py``  the live state written back as a document (and as YAML)
=====================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mock_server.config import SimConfig
from mock_server.scenario.read import check, parse, read_scenario
from mock_server.scenario.snapshot import dump_yaml, snapshot
from mock_server.sim.scenario import ScenarioError, apply

if TYPE_CHECKING:
    from mock_server.sim import Simulator


def configured(config: SimConfig) -> Callable[[], dict[str, Any]] | None:
    """The reader of ``config.scenario`` a Simulator calls at start-up and on every reset (None without one)."""
    path = config.scenario
    if not path:
        return None
    return lambda: read_scenario(path)


def load_scenario(sim: Simulator, path: str | Path) -> None:
    """Apply a scenario file on top of a simulator's current state."""
    apply(sim, read_scenario(path), demo=False)


__all__ = ["ScenarioError", "apply", "check", "configured", "dump_yaml", "load_scenario", "parse", "read_scenario",
           "snapshot"]
