"""The timeline's JSON (``GET /__admin/dashboard/data?timeline_limit=N``): only when asked, bounded, and its figures
the rules' own: a bar per job from admission to end, a mark per 429/402, the credits a job's charge took."""

from __future__ import annotations

from typing import Any

from dashboard_helpers import DEMO_EMAIL, Api


def test_dashboard_timeline_only_when_asked_and_as_the_rules_say(ltx_mock: Any, api: Api) -> None:
    assert "timeline" not in api.dashboard()
    before = ltx_mock.admin.get_ltx_user(DEMO_EMAIL)["credits"]
    first = api.image("one", maxJobs=1)
    refused = api.session.post(f"{api.base}/images/create", json={"prompt": "two", "maxJobs": 1}, timeout=10)
    assert refused.status_code == 429
    ltx_mock.admin.advance(60)
    t = api.dashboard(timeline_limit=50)["timeline"]
    [bar] = t["bars"]
    assert bar["jobId"] == first and bar["status"] == "completed" and bar["start"] < bar["end"] <= t["now"]
    [mark] = t["marks"]
    assert mark["status"] == 429 and mark["lane"] == bar["lane"] and "maxJobs" in mark["error"]
    [lane] = [lane for lane in t["lanes"] if lane["key"] == bar["lane"]]
    assert lane["maxJobs"] == 20 and lane["credits"][0][1] == before
    assert lane["credits"][-1][1] == ltx_mock.admin.get_ltx_user(DEMO_EMAIL)["credits"] < before
    assert len(api.dashboard(timeline_limit=10**6)["timeline"]["bars"]) == 1  # clamped, not refused
