"""Where a request's time goes: the WSGI app called in-process, in CPU microseconds per request.

No server and no network, so the figures are the app's own cost (CPU time, so other
work on a shared machine does not count): a bare Flask route answering fixed JSON,
the simulator as ``ltx-mock serve`` runs it, the simulator without its request
journal, with strict response validation, and the pieces of the hot path timed one
by one. ``http_bench`` measures the same routes through the production server.

    python -m benchmarks.hotpath_bench
"""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Callable
from typing import Any

from benchmarks import API, AUTH, DEMO_EMAIL, cpu_us, emit, table, write_results

ROUTES = ("GET /scheduler/available", "GET /assets/{jobId}", "POST /images/create")


def _caller(app: Any, route: str, job_id: str) -> Callable[[], str]:
    from werkzeug.test import EnvironBuilder

    method, path = route.split(" ", 1)
    kwargs: dict[str, Any] = {"method": method, "headers": AUTH}
    if method == "POST":
        kwargs["json"] = {"prompt": "A serene mountain landscape at sunset"}
    env = EnvironBuilder(path=API + path.replace("{jobId}", job_id), **kwargs).get_environ()
    raw = env["wsgi.input"].read()

    def call() -> str:
        e = dict(env)
        e["wsgi.input"] = io.BytesIO(raw)
        status: list[str] = []
        b"".join(app(e, lambda s, h, exc=None: status.append(s)))
        return status[0]

    first = call()
    assert first.startswith("200"), (route, first)
    return call


def simulator_app(**config: Any) -> tuple[Any, str]:
    from mock_server import SimConfig, create_app
    from mock_server.sim import tenant_id

    app = create_app(SimConfig(speed=10000, job_retention_s=400 * 86400, background=False, **config))
    sim = app.extensions["ltx_sim"]
    sim.accounts.set_max_jobs(tenant_id("demo-token"), DEMO_EMAIL, 100)
    sim.ltx.patch_user(sim.now(), DEMO_EMAIL, credits=10**9)
    job = app.test_client().post(f"{API}/images/create", headers=AUTH, json={"prompt": "x"}).get_json()["jobId"]
    return app, job


def pieces(n: int) -> list[list[Any]]:
    """The hot path's parts, one by one."""
    from contracts.spec import get_contract
    from mock_server.journal import Entry
    from mock_server.pipeline import dump_json
    from mock_server.sim import tenant_id

    app, _ = simulator_app()
    sim = app.extensions["ltx_sim"]
    journal = app.extensions["ltx_journal"]
    faults = app.extensions["ltx_sim"].faults
    tenant = tenant_id("demo-token")
    now = sim.now()
    body = sim.scheduler.available(tenant, now)
    raw = dump_json(body)

    def exchange() -> Entry:
        return Entry(sim_ms=now, method="GET", path=f"{API}/scheduler/available", query_string="",
                     headers={"HTTP_HOST": "127.0.0.1:8787", "HTTP_AUTHORIZATION": "Bearer demo-token"},
                     body=None, body_type="", status=200, response=raw, response_type="application/json",
                     duration_ms=0.1, operation="getSchedulerAvailable", tenant=tenant, fault=None)

    ring_entry = exchange()
    check = get_contract()["createImage"].body_check("application/json")
    assert check is not None
    rows = [
        ["clock: sim.now() (state read from the store)", cpu_us(sim.now, n)],
        ["sim.settle(now) with nothing due", cpu_us(lambda: sim.settle(now), n)],
        ["auth: sim.tenant_for(token)", cpu_us(lambda: sim.tenant_for("demo-token"), n)],
        ["faults.match (no rules)", cpu_us(lambda: faults.match("GET", f"{API}/scheduler/available"), n)],
        ["scheduler.available(tenant, now)", cpu_us(lambda: sim.scheduler.available(tenant, now), n)],
        ["dump_json(body) (the answer's bytes)", cpu_us(lambda: dump_json(body), n)],
        ["journal: Entry(...) + append (the hot path's share)", cpu_us(lambda: journal.append(exchange()), n)],
        ["journal: masked() of one entry (paid when read)", cpu_us(lambda: (setattr(ring_entry, "_masked", None),
                                                                           ring_entry.masked()), n)],
        ["createImage body schema check", cpu_us(lambda: check.errors({"prompt": "x"}), n)],
    ]
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=3000, help="requests per measurement")
    args = parser.parse_args(argv)
    from benchmarks.http_bench import EXAMPLE_JOB, bare_app

    variants = {"bare Flask (fixed JSON)": (bare_app(), EXAMPLE_JOB)}
    variants["simulator (serve default)"] = simulator_app()
    variants["simulator, journal off"] = simulator_app(journal=False)
    variants["simulator, strict responses"] = simulator_app(strict_responses=True)
    results: dict[str, Any] = {"requests": {}, "pieces": []}
    for name, (app, job) in variants.items():
        emit(f"[hotpath] {name}")
        results["requests"][name] = {r: cpu_us(_caller(app, r, job), args.n if "GET" in r else args.n // 2)
                                     for r in ROUTES}
    results["pieces"] = pieces(args.n * 5)
    base = results["requests"]["bare Flask (fixed JSON)"]
    rows = [[name, *(v[r] for r in ROUTES), *(round(base[r] / v[r], 2) for r in ROUTES)]
            for name, v in results["requests"].items()]
    text = table("In-process cost per request (CPU us) and bare/variant ratio (the in-process ceiling ratio)",
                 ["variant", "available", "getJob", "create", "ratio avail", "ratio getJob", "ratio create"], rows)
    text += "\n\n" + table("Pieces of the hot path (CPU us per call)", ["piece", "us"], results["pieces"])
    path = write_results("hotpath", results)
    emit(text)
    emit(f"(results: {os.path.relpath(path)})")
    return results


if __name__ == "__main__":
    main()
