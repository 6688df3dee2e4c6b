"""A scripted client session whose every figure the metrics and the journal must agree on (tests/control).

Not a test module: ``test_control_metrics.py`` runs it against the in-thread simulator and against
``ltx-mock serve --workers 2`` on Redis, and ``test_control_har.py`` exports its journal.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from ltxstudio_mock.admin_client import AdminClient

TOKEN = "demo-token"
EMAIL = "demo@example.com"
API = "/v1/ltxstudio"


def call(url: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    """One request on a fresh connection (several --workers then each get some), bearer token unless told."""
    headers = kwargs.pop("headers", {"Authorization": f"Bearer {TOKEN}"})
    with requests.Session() as http:
        return http.request(method, url + API + path, headers=headers, timeout=30, **kwargs)


def scripted_run(url: str, hook_url: str) -> dict[str, Any]:
    """Creates (one fails and is refunded, one calls a webhook whose first attempt fails), two 429s at maxJobs,
    reads, a 401, a clock step that ends the jobs, one more job left running; returns what was sent."""
    admin = AdminClient(url)
    admin.set_max_jobs(TOKEN, EMAIL, 2)
    admin.next_outcome("failed", count=1, progress=50)  # active until half-way: it holds its maxJobs slot
    admin.next_outcome("completed", count=1, webhook={"fail_first": 1})
    statuses = []
    statuses.append(call(url, "POST", "/images/create", json={"prompt": "a failing one"}).status_code)
    statuses.append(call(url, "POST", "/images/create",
                         json={"prompt": "a webhook one", "replyUrl": hook_url}).status_code)
    statuses += [call(url, "POST", "/images/create", json={"prompt": "over maxJobs"}).status_code for _ in range(2)]
    statuses.append(call(url, "GET", "/accounts").status_code)
    statuses.append(call(url, "GET", "/scheduler/available").status_code)
    statuses.append(call(url, "POST", "/images/create", json={"prompt": "no token"}, headers={}).status_code)
    admin.advance(3600)  # every job ends: the failed one is refunded, the webhook one delivers
    statuses.append(call(url, "POST", "/images/create", json={"prompt": "left running"}).status_code)
    statuses.append(call(url, "GET", "/assets/").status_code)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        hooks = admin.webhooks()
        if hooks and all(h["state"] in ("delivered", "failed") for h in hooks):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"webhook not settled: {admin.webhooks()}")
    assert statuses == [200, 200, 429, 429, 200, 200, 401, 200, 200], statuses
    return {"statuses": statuses}


def scrape(url: str, headers: dict[str, str] | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``GET /__admin/metrics`` read by prometheus_client's own parser: {(sample name, labels): value}."""
    resp = requests.get(url + "/__admin/metrics", headers=headers or {}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items())


def agreement(url: str) -> dict[str, Any]:
    """Scrape the metrics and compare every figure with the journal and the control API; returns the scrape."""
    admin = AdminClient(url)
    samples = scrape(url)
    journal = admin.requests(limit=10000, path=API + "/*")
    api_ops = {e["operation"] for e in journal if e["operation"]}
    assert {"createImage", "listAccounts", "getSchedulerAvailable", "listAssets"} <= api_ops
    for op in api_ops:  # the journal names the operation of authenticated requests; metrics name it for a 401 too
        counted = total(samples, "ltx_mock_http_requests_total", operation=op)
        unauthorised = total(samples, "ltx_mock_http_requests_total", operation=op, status="401")
        assert counted - unauthorised == len([e for e in journal if e["operation"] == op]), op
    assert sum(total(samples, "ltx_mock_http_requests_total", operation=op) for op in api_ops) == len(journal)
    assert total(samples, "ltx_mock_http_requests_total", status="401") == len(
        [e for e in journal if e["status"] == 401]) == 1
    assert total(samples, "ltx_mock_rate_limited_total") == len([e for e in journal if e["status"] == 429]) == 2
    for op in api_ops:  # one latency observation per counted request
        assert total(samples, "ltx_mock_http_request_duration_seconds_count", operation=op) == total(
            samples, "ltx_mock_http_requests_total", operation=op)
    user = admin.get_ltx_user(EMAIL)
    spent = total(samples, "ltx_mock_credits_charged_total") - total(samples, "ltx_mock_credits_refunded_total")
    assert total(samples, "ltx_mock_credits_refunded_total") > 0
    assert spent == 28000 - user["credits"] > 0
    jobs = admin.jobs(limit=200)["items"]
    by_state: dict[str, int] = {}
    for job in jobs:
        state = "cancelled" if job["cancelled"] else job["status"]["type"]
        by_state[state] = by_state.get(state, 0) + 1
    for state in ("active", "completed", "failed", "cancelled"):
        assert total(samples, "ltx_mock_jobs", state=state) == by_state.get(state, 0), state
    assert by_state == {"failed": 1, "completed": 1, "active": 1}
    attempts = [a for hook in admin.webhooks() for a in hook["attempts"]]
    assert total(samples, "ltx_mock_webhook_attempts_total", outcome="ok") == len([a for a in attempts if a["ok"]]) == 1
    assert total(samples, "ltx_mock_webhook_attempts_total", outcome="error") == len(
        [a for a in attempts if not a["ok"]]) == 1
    assert total(samples, "ltx_mock_webhook_deliveries_total", result="delivered") == 1
    assert total(samples, "ltx_mock_store_errors_total") == 0
    return samples
