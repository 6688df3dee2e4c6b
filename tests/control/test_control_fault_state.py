"""Fault state belongs to the Simulator (``sim.faults``, built once); the app only shapes the HTTP answer.

In-process (Flask test client), milliseconds: a rule added through the simulator is the one the API applies, the
control API lists and a snapshot writes out; a rule the control API adds is in ``sim.faults``.
"""

from __future__ import annotations

from mock_server.app import create_app
from mock_server.config import DEMO_TOKEN, SimConfig
from mock_server.scenario import snapshot

AVAILABLE = "/v1/ltxstudio/scheduler/available"
AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}


def test_one_fault_state_serves_the_api_the_control_api_and_snapshots() -> None:
    app = create_app(SimConfig(background=False, paused=True))
    sim = app.extensions["ltx_sim"]
    client = app.test_client()
    rule = sim.faults.add({"method": "GET", "path": AVAILABLE, "status": 503, "count": 2})

    assert client.get("/__admin/faults").get_json() == [rule]
    assert [f["path"] for f in snapshot(sim)["faults"]] == [AVAILABLE]
    first = client.get(AVAILABLE, headers=AUTH)
    assert first.status_code == 503
    assert first.get_json() == {"error": "Service unavailable (injected fault)", "code": 503}
    assert sim.faults.list()[0]["count"] == 1 and sim.faults.list()[0]["hits"] == 1  # the app consumed it there
    assert client.get(AVAILABLE, headers=AUTH).status_code == 503
    assert client.get(AVAILABLE, headers=AUTH).status_code == 200  # used up
    assert sim.faults.list() == []

    added = client.post("/__admin/faults", json={"path": AVAILABLE, "drop": True}).get_json()
    assert sim.faults.list() == [added]
    dropped = client.get(AVAILABLE, headers=AUTH)
    assert dropped.headers["Connection"] == "close" and dropped.headers["Content-Length"] == "1024"
    assert sim.faults.list() == []


def test_latency_is_drawn_by_the_simulator_seeded() -> None:
    """A latency range is drawn from the simulator's seeded random, so a seed repeats the same delays."""
    delays = []
    for _ in range(2):
        app = create_app(SimConfig(background=False, paused=True, seed=11))
        faults = app.extensions["ltx_sim"].faults
        rule = faults.add({"path": "/x", "latency_range_ms": [10, 20], "fraction": 1})
        delays.append([faults.delay_ms(rule) for _ in range(3)])
    assert delays[0] == delays[1]
    assert all(10 <= d <= 20 for d in delays[0]) and len(set(delays[0])) == 3
