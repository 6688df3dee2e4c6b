"""The simulated clock has a maximum, 9000-01-01T00:00:00Z: an advance past it is refused with a 400 naming the
limit and changes nothing (~8,000 maximal advances used to pass year 9999, after which the clock API answered
400 until a reset); a fast clock stops at it."""

from __future__ import annotations

from typing import Any

import requests

from mock_server.clock import MAX_SIM_ISO, MAX_SIM_MS, ClockState

YEAR_S = 31_536_000  # the largest advance the control API accepts


def test_security_clock_refuses_to_pass_its_maximum_and_keeps_working(serve: Any) -> None:
    live = serve()
    near = MAX_SIM_MS - 2 * YEAR_S * 1000 + 500
    loaded = requests.post(f"{live.admin}/scenario", json={"clock": {"now": near, "paused": True}}, timeout=10)
    assert loaded.status_code == 200, loaded.text
    assert requests.post(f"{live.admin}/clock", json={"advance": YEAR_S}, timeout=10).status_code == 200
    before = requests.get(f"{live.admin}/clock", timeout=10).json()
    refused = requests.post(f"{live.admin}/clock", json={"advance": YEAR_S, "speed": 5}, timeout=10)
    assert refused.status_code == 400
    assert refused.json() == {"error": f"advance of {YEAR_S} s would pass the clock's maximum, {MAX_SIM_ISO}: "
                                       f"at most {YEAR_S - 1} s are left (POST /__admin/reset starts the clock again)",
                              "code": 400}
    assert requests.get(f"{live.admin}/clock", timeout=10).json() == before  # speed unchanged too
    # Exactly to the maximum is allowed; from there, only an advance of 0.
    to_max = requests.post(f"{live.admin}/clock", json={"advance": (MAX_SIM_MS - before["now"]) / 1000}, timeout=10)
    assert to_max.status_code == 200 and to_max.json()["nowUTC"] == MAX_SIM_ISO, to_max.text
    assert requests.post(f"{live.admin}/clock", json={"advance": 0.001}, timeout=10).status_code == 400
    assert requests.post(f"{live.admin}/clock", json={"advance": 0, "paused": False}, timeout=10).status_code == 200
    # Everything still answers at the end of time, and a reset starts over.
    assert requests.get(f"{live.admin}/clock", timeout=10).json()["nowUTC"] == MAX_SIM_ISO
    assert requests.get(f"{live.api}/accounts", headers=live.headers, timeout=10).status_code == 200
    user = requests.post(f"{live.admin}/ltx-users", json={"email": "late@example.com"}, timeout=10).json()
    account = requests.post(f"{live.api}/accounts", json={"cookie": user["cookie"]}, headers=live.headers, timeout=10)
    assert account.status_code == 200, account.text  # the demo session expired long ago: a fresh one
    job = requests.post(f"{live.api}/images/create", json={"prompt": "the last day", "email": "late@example.com"},
                        headers=live.headers, timeout=10)
    assert job.status_code == 200, job.text
    status = requests.get(f"{live.api}/assets/{job.json()['jobId']}", headers=live.headers, timeout=10)
    assert status.status_code == 200, status.text
    assert requests.get(f"{live.admin}/dashboard/data", timeout=10).status_code == 200
    assert requests.post(f"{live.admin}/reset", timeout=10).status_code == 200
    assert requests.get(f"{live.admin}/clock", timeout=10).json()["now"] < near


def test_security_scenario_clock_beyond_the_maximum_is_400(serve: Any) -> None:
    live = serve()
    r = requests.post(f"{live.admin}/scenario", json={"clock": {"now": MAX_SIM_MS + 1}}, timeout=10)
    assert r.status_code == 400 and "clock.now" in r.json()["error"]


def test_security_a_running_clock_stops_at_the_maximum() -> None:
    st = ClockState(anchor_real=0.0, anchor_sim_ms=MAX_SIM_MS - 1000, speed=1_000_000)
    assert st.at(3600.0) == MAX_SIM_MS
    assert ClockState(0.0, MAX_SIM_MS + 10**9, paused=True).at(0.0) == MAX_SIM_MS
