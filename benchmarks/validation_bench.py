"""What contract validation costs per request: with and without request and response validation.

Response validation is ``SimConfig.strict_responses`` (off in ``ltx-mock serve``, on in
the ``ltx_mock`` fixture). Request validation is always on in the views
(``mock_server/api/inputs.py``); to measure without it, this benchmark builds the
app in a process where ``Operation.param_check``/``body_check`` answer None (the
parameters are still coerced and the body still parsed, only the JSON Schema
check is skipped). Four variants, each measured:

* in-process: the WSGI app called directly in one thread (no server, no network:
  the purest per-request cost, in CPU microseconds and requests per CPU-second);
* over HTTP: the same app on the production server (granian), 16 connections.

    python -m benchmarks.validation_bench [--duration 5] [--no-http]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from benchmarks import API, AUTH, DEMO_EMAIL, PYTHON, ServerProcess, emit, free_port, loadgen, table, write_results

VARIANT_ENV = "LTX_BENCH_VARIANT"
VARIANTS = {  # name: (request validation, response validation)
    "request+response": (True, True),
    "request only (serve default)": (True, False),
    "response only": (False, True),
    "none": (False, False),
}
BODY = {"prompt": "A serene mountain landscape at sunset"}
ROUTES = ("GET /scheduler/available", "GET /assets/{jobId}", "POST /images/create")


def build_app(request_validation: bool, response_validation: bool) -> Any:
    """The simulator app with the chosen checks; jobs finish at once and never run out of capacity."""
    from contracts.spec import Operation
    from mock_server import SimConfig, create_app
    from mock_server.sim import tenant_id

    if not request_validation:
        Operation.param_check = lambda self, location, name: None  # type: ignore[method-assign,assignment]
        Operation.body_check = lambda self, media_type: None  # type: ignore[method-assign,assignment]
    app = create_app(SimConfig(speed=100000, strict_responses=response_validation, job_retention_s=400 * 86400,
                               background=False))
    sim = app.extensions["ltx_sim"]
    sim.accounts.set_max_jobs(tenant_id("demo-token"), DEMO_EMAIL, 100)
    sim.ltx.patch_user(sim.now(), DEMO_EMAIL, credits=10**9)
    return app


def app_from_env() -> Any:
    """Granian factory target: the variant named in the environment."""
    req, resp = json.loads(os.environ[VARIANT_ENV])
    return build_app(req, resp)


def _environ(app: Any, route: str, job_id: str) -> dict[str, Any]:
    from werkzeug.test import EnvironBuilder

    method, path = route.split(" ", 1)
    path = API + path.replace("{jobId}", job_id)
    kwargs: dict[str, Any] = {"method": method, "headers": AUTH}
    if method == "POST":
        kwargs["json"] = BODY
    return EnvironBuilder(path=path, **kwargs).get_environ()


def in_process(req: bool, resp: bool, seconds: float) -> dict[str, Any]:
    """Per-request cost of each route, the app called directly (run in a child: the patch is per process)."""
    app = build_app(req, resp)
    client = app.test_client()
    job_id = client.post(f"{API}/images/create", headers=AUTH, json=BODY).get_json()["jobId"]
    out = {}
    for route in ROUTES:
        env = _environ(app, route, job_id)
        body = env["wsgi.input"].read() if route.startswith("POST") else b""

        def call(env: dict[str, Any] = env, body: bytes = body) -> str:
            import io

            e = dict(env)
            e["wsgi.input"] = io.BytesIO(body)
            status: list[str] = []
            b"".join(app(e, lambda s, h, exc=None: status.append(s)))
            return status[0]

        assert call().startswith("200"), (route, call())
        n = 0
        t0 = time.process_time()  # CPU time: other work on a shared machine does not count
        deadline = t0 + seconds
        while time.process_time() < deadline:
            for _ in range(100):
                call()
            n += 100
        elapsed = time.process_time() - t0
        out[route] = {"us_per_request": round(elapsed / n * 1e6, 1), "rps": round(n / elapsed, 1)}
    return out


def run_in_child(req: bool, resp: bool, seconds: float) -> dict[str, Any]:
    import subprocess

    from benchmarks import ROOT

    out = subprocess.run([PYTHON, "-m", "benchmarks.validation_bench", "--child", json.dumps([req, resp]),
                          "--seconds", str(seconds)], cwd=ROOT, capture_output=True, text=True, check=False,
                         timeout=600)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def serve(port: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    Granian("benchmarks.validation_bench:app_from_env", address="127.0.0.1", port=port, interface=Interfaces.WSGI,
            workers=1, blocking_threads=8, factory=True, log_level="warning", backlog=2048).serve()


def over_http(req: bool, resp: bool, duration: float) -> dict[str, Any]:
    import requests

    port = free_port()
    env = {**os.environ, VARIANT_ENV: json.dumps([req, resp])}
    argv = [PYTHON, "-m", "benchmarks.validation_bench", "--serve", str(port)]
    out = {}
    with ServerProcess(argv, port, env=env, name="validation") as srv:
        job_id = requests.post(f"{srv.url}{API}/images/create", headers=AUTH, json=BODY, timeout=30).json()["jobId"]
        for route in ROUTES:
            method, path = route.split(" ", 1)
            url = srv.url + API + path.replace("{jobId}", job_id)
            hdrs = dict(AUTH)
            body = None
            if method == "POST":
                hdrs["Content-Type"] = "application/json"
                body = json.dumps(BODY)
            loadgen.run(url, method=method, headers=hdrs, body=body, connections=16, duration=1)
            r = loadgen.run(url, method=method, headers=hdrs, body=body, connections=16, duration=duration)
            out[route] = {k: r[k] for k in ("rps", "p50_ms", "p99_ms", "non2xx", "errors")}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per HTTP measurement")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per in-process measurement")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        req, resp = json.loads(args.child)
        print(json.dumps(in_process(req, resp, args.seconds)))
        sys.exit(0)
    if args.serve:
        serve(args.serve)
        sys.exit(0)
    results: dict[str, Any] = {"in_process": {}, "http": {}}
    for name, (req, resp) in VARIANTS.items():
        emit(f"[validation] {name}: in-process")
        results["in_process"][name] = run_in_child(req, resp, args.seconds)
        if not args.no_http:
            emit(f"[validation] {name}: HTTP c16")
            results["http"][name] = over_http(req, resp, args.duration)
    rows = []
    for route in ROUTES:
        base = results["in_process"]["none"][route]["us_per_request"]
        for name in VARIANTS:
            ip = results["in_process"][name][route]
            h = results["http"].get(name, {}).get(route, {})
            rows.append([route, name, ip["us_per_request"], round(ip["us_per_request"] - base, 1), ip["rps"],
                         h.get("rps"), h.get("p99_ms")])
    text = table("Validation cost (in-process: one thread, no server; HTTP: granian, 16 connections)",
                 ["route", "validation", "us/req", "us over none", "req/s in-process", "req/s HTTP",
                  "p99 ms HTTP"], rows)
    path = write_results("validation", results)
    emit(text)
    emit(f"(results: {os.path.relpath(path)})")
    return results


if __name__ == "__main__":
    main()
