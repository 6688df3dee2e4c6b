"""Recorded run times: measured from a generation's request, used exactly by the simulator, kept by snapshots."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import yaml
from proxy_helpers import API, proxy_in_front

from ltxstudio_mock.admin_client import AdminClient
from ltxstudio_mock.pytest_plugin import start_simulator
from mock_server import SimConfig
from mock_server.scenario import configured, dump_yaml, snapshot
from mock_server.sim import Simulator, tenant_id

H = {"Authorization": "Bearer demo-token"}


def test_a_pollforresult_wait_goes_through_and_times_the_job() -> None:
    """The clock runs at speed 1 and the test advances it: the wait ends at once, with no race on real time."""
    server, app = start_simulator(paused=False, speed=1)
    admin = AdminClient(server.url)
    try:
        with proxy_in_front(server.url, record=True) as (proxy, proxy_app), ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(requests.post, f"{proxy}{API}/images/create",
                                  json={"prompt": "a fox", "pollForResult": 10}, headers=H, timeout=60)
            running: list[dict[str, object]] = []
            deadline = time.monotonic() + 10
            while not running and time.monotonic() < deadline:  # until the job exists (a real-time handshake)
                running = requests.get(f"{server.url}{API}/scheduler/", headers=H, timeout=5).json()
                time.sleep(0.02)
            assert running, "the job never started"
            planned = app.extensions["ltx_sim"].jobs.find(str(running[0]["jobId"])).total_ms / 1000
            admin.advance(math.ceil(planned) + 1)  # a clock advance ends the wait at once
            resp = waiting.result(timeout=30)
            assert resp.status_code == 200 and resp.json()["status"]["type"] == "completed", resp.text
            assert proxy_app.violations.snapshot() == []
            doc = proxy_app.recorder.scenario()
    finally:
        server.stop()
    (timing,) = doc["timing"]
    assert (timing["operation"], timing["model"]) == ("images/create", "flux")
    # from the request (the job is active from then on) to the answer that shows it completed, in simulated time
    assert planned <= timing["seconds"] <= math.ceil(planned) + 1 + 5  # + the real seconds the exchange took
    (job,) = doc["jobs"]
    assert job["state"] == "completed" and "pollForResult" not in job["params"]


def _sim(scenario: str, tmp_path: Path) -> Simulator:
    path = tmp_path / "timing.yaml"
    path.write_text(scenario, encoding="utf-8")
    config = SimConfig(paused=True, background=False, seed=3, scenario=str(path))
    return Simulator(config, scenario=configured(config))


def _run_ms(sim: Simulator, operation: str, body: dict[str, str]) -> int:
    job = sim.jobs.create(tenant_id("demo-token"), operation, body, sim.now())
    return job.total_ms


def test_scenario_timing_replaces_the_typical_run_time(tmp_path: Path) -> None:
    sim = _sim("version: 1\ntiming:\n  - {operation: images/create, model: flux, seconds: 42.5}\n"
               "  - {model: flux-premium, seconds: 7}\n", tmp_path)
    assert _run_ms(sim, "images/create", {"prompt": "a"}) == 42_500
    assert _run_ms(sim, "images/create", {"prompt": "a", "model": "flux-premium"}) == 7_000
    # a model with no recorded time keeps the catalog's (10 s +-20%)
    assert 8_000 <= _run_ms(sim, "images/create", {"prompt": "a", "model": "nano-banana"}) <= 12_000
    # a snapshot keeps the recorded times, so serving it again keeps them too
    doc = yaml.safe_load(dump_yaml(snapshot(sim)))
    assert sorted(doc["timing"], key=lambda t: t["model"]) == [
        {"operation": "images/create", "model": "flux", "seconds": 42.5}, {"model": "flux-premium", "seconds": 7.0}]


def test_without_timing_the_catalog_time_stands(tmp_path: Path) -> None:
    sim = _sim("version: 1\n", tmp_path)
    ms = _run_ms(sim, "images/create", {"prompt": "a"})
    assert 12_000 * 0.8 <= ms <= 12_000 * 1.2
