"""A record replayed with ``ltx-mock serve --scenario`` (granian, as a user runs it) reproduces what was seen:

- ownership from the upstream's answers, never from the order accounts were configured: an upload made without
  ``email`` while only account A existed stays A's after account B (whose email sorts first) is added, so A's
  recorded job that uses it, and a new one, are accepted;
- run times per requested duration: ltxv-turbo videos of 3 s and 9 s keep their own figures (not one mean), each
  within 5%, with the sample count and spread recorded; a duration never recorded takes the closest key's,
  which ``/__admin/state`` names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from helpers import serve_process
from proxy_helpers import API, proxy_in_front

from ltxstudio_mock.admin_client import AdminClient
from ltxstudio_mock.pytest_plugin import start_simulator
from mock_server.artifacts import render_image
from mock_server.config import DEMO_EMAIL
from mock_server.scenario import read_scenario

UPSTREAM = {"Authorization": "Bearer upstream-token-77aa01"}
LOCAL = {"Authorization": "Bearer recorded-token"}
LATER = "alpha@example.com"  # configured after the upload; sorts before demo@example.com
DURATIONS = ("3", "3", "9", "9")


def _job(base: str, job_id: str) -> str:
    return f"{base}{API}/assets/{quote(job_id, safe='')}"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    server, app = start_simulator(tokens=["upstream-token-77aa01"], seed=11)
    sim = app.extensions["ltx_sim"]
    admin = AdminClient(server.url)
    path = tmp_path_factory.mktemp("replay") / "recorded.yaml"
    try:
        with proxy_in_front(server.url, record=True) as (proxy, proxy_app):
            http = requests.Session()
            http.headers.update(UPSTREAM)
            # only the demo account exists, and the proxy has seen no answer naming it yet
            upload = http.post(f"{proxy}{API}/assets/?type=image", data=render_image("A's upload", "1:1"),
                               headers={"Content-Type": "image/png"}, timeout=10)
            assert upload.status_code == 200, upload.text
            file_id = upload.json()["asset"]["fileId"]
            cookie = admin.create_ltx_user(email=LATER)["cookie"]
            assert http.post(f"{proxy}{API}/accounts", json={"cookie": cookie}, timeout=10).status_code == 200
            uses = http.post(f"{proxy}{API}/videos/ltx-create", timeout=10,
                             json={"prompt": "A's video", "startAssetId": file_id, "email": DEMO_EMAIL})
            assert uses.status_code == 200, uses.text
            http.delete(f"{proxy}{API}/scheduler/{quote(uses.json()['jobId'], safe='')}", timeout=10)
            jobs = []
            for duration in DURATIONS:
                created = http.post(f"{proxy}{API}/videos/ltx-create", timeout=10,
                                    json={"prompt": "Waves", "duration": duration, "startAssetId": file_id})
                assert created.status_code == 200, created.text
                jobs.append(created.json()["jobId"])
            # each job observed at the very moment it ends (the upstream's simulated clock): exact run times
            ends = sorted((sim.jobs.find(j).total_ms, j) for j in jobs)
            elapsed = 0
            for total_ms, job_id in ends:
                admin.advance((total_ms - elapsed) / 1000)
                elapsed = total_ms
                assert http.get(_job(proxy, job_id), timeout=10).json()["status"]["type"] == "completed"
            assert proxy_app.violations.snapshot() == []
            proxy_app.finish(record=str(path))
        seen = {d: [sim.jobs.find(j).total_ms / 1000 for j, dd in zip(jobs, DURATIONS, strict=True) if dd == d]
                for d in set(DURATIONS)}
    finally:
        server.stop()
    return {"path": path, "file_id": file_id, "seen": seen, "uses": uses.json()["jobId"]}


@pytest.fixture(scope="module")
def replay(recording: dict[str, Any]) -> Iterator[str]:
    """``ltx-mock serve --scenario recorded.yaml --paused`` (granian), stopped by its own pid."""
    with serve_process(["--scenario", str(recording["path"]), "--paused", "--seed", "3"],
                       recording["path"].parent / "serve.log") as url:
        yield url


def test_record_keys_timing_by_duration_with_samples_and_spread(recording: dict[str, Any]) -> None:
    doc = read_scenario(str(recording["path"]))
    timing = {t["duration"]: t for t in doc["timing"]}
    assert set(timing) == {3, 9}, doc["timing"]
    for duration, entry in timing.items():
        runs = recording["seen"][str(duration)]
        assert (entry["operation"], entry["model"], entry["samples"]) == ("videos/ltx-create", "ltxv-turbo", 2)
        assert entry["seconds"] == pytest.approx(sum(runs) / 2, abs=0.002)
        assert entry["spread"] == pytest.approx(abs(runs[0] - runs[1]) / 2, abs=0.002)
    assert timing[9]["seconds"] > timing[3]["seconds"] * 1.2  # two figures, not one mean of both


def test_record_keeps_the_owner_the_upstream_showed(recording: dict[str, Any]) -> None:
    doc = read_scenario(str(recording["path"]))
    uuid = recording["file_id"].split(":", 1)[1].split("-type:")[0]
    (asset,) = [a for a in doc["assets"] if a["uuid"] == uuid]
    assert asset["email"] == DEMO_EMAIL
    assert sorted(a["email"] for a in doc["accounts"]) == [LATER, DEMO_EMAIL]


def test_replay_reproduces_ownership_and_run_times(recording: dict[str, Any], replay: str) -> None:
    http = requests.Session()
    http.headers.update(LOCAL)
    admin = AdminClient(replay)
    # every recorded job's assets are usable by its account: the same request again is accepted
    again = http.post(f"{replay}{API}/videos/ltx-create", timeout=10,
                      json={"prompt": "A's video", "startAssetId": recording["file_id"], "email": DEMO_EMAIL})
    assert again.status_code == 200, again.text
    http.delete(f"{replay}{API}/scheduler/{quote(again.json()['jobId'], safe='')}", timeout=10)
    recorded_job = http.get(_job(replay, recording["uses"]), timeout=10)
    assert recorded_job.status_code == 200
    # per-duration run times, black box: active just before 95% of the recorded figure, completed at 105%
    for duration in ("3", "9"):
        runs = recording["seen"][duration]
        figure = sum(runs) / len(runs)
        job = http.post(f"{replay}{API}/videos/ltx-create", timeout=10,
                        json={"prompt": "Waves", "duration": duration, "startAssetId": recording["file_id"]}).json()[
            "jobId"]
        admin.advance(figure * 0.95)
        assert http.get(_job(replay, job), timeout=10).json()["status"]["type"] == "active"
        admin.advance(figure * 0.10)
        assert http.get(_job(replay, job), timeout=10).json()["status"]["type"] == "completed"
    # a duration never recorded: the closest key's figure, scaled, and /__admin/state names the key
    http.post(f"{replay}{API}/videos/ltx-create", timeout=10,
              json={"prompt": "Waves", "duration": "15", "startAssetId": recording["file_id"]}).raise_for_status()
    state = requests.get(f"{replay}/__admin/state", timeout=10).json()
    applied = {a["requested"]: a for a in state["timing"]["applied"]}
    assert applied["videos/ltx-create ltxv-turbo 3s *"]["used"] == "videos/ltx-create ltxv-turbo 3s *"
    assert applied["videos/ltx-create ltxv-turbo 9s *"]["used"] == "videos/ltx-create ltxv-turbo 9s *"
    assert applied["videos/ltx-create ltxv-turbo 15s *"]["used"] == "videos/ltx-create ltxv-turbo 9s *"
    nine = sum(recording["seen"]["9"]) / 2
    assert applied["videos/ltx-create ltxv-turbo 15s *"]["seconds"] == pytest.approx(nine * (10 + 30) / (10 + 18),
                                                                                      rel=0.01)
