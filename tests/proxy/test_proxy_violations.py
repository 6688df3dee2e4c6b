"""In front of deliberately broken upstreams, each break is reported naming the operation and the field."""

from __future__ import annotations

import contextlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from cdn_upstream import CdnUpstream
from proxy_helpers import API, broken_servers, proxy_in_front, upstream, violations

H = {"Authorization": "Bearer demo-token"}


def _only(found: list[dict[str, Any]], check: str) -> dict[str, Any]:
    named = [v for v in found if v["check"] == check]
    assert named, json.dumps(found, indent=1)
    return named[0]


def test_proxy_reports_a_wrong_field_type() -> None:
    with upstream(broken_servers().wrong_field_type()) as origin, proxy_in_front(origin) as (proxy, _app):
        resp = requests.get(f"{proxy}{API}/accounts", headers=H, timeout=10)
        assert resp.status_code == 200 and isinstance(resp.json()["demo@example.com"]["maxJobs"], str)
        found = violations(proxy)
    v = _only(found, "response_schema_conformance")
    assert v["operation"] == "GET /accounts" and v["operation_id"] == "listAccounts"
    assert v["json_path"] == "demo@example.com.maxJobs"
    assert v["method"] == "GET" and v["path"] == f"{API}/accounts" and v["status"] == 200
    assert "integer" in v["problem"]


def test_proxy_reports_executing_above_max_jobs() -> None:
    with upstream(broken_servers().over_capacity()) as origin, proxy_in_front(origin) as (proxy, _app):
        for _ in range(2):
            assert requests.post(f"{proxy}{API}/images/create", json={"prompt": "a fox"}, headers=H,
                                 timeout=10).status_code == 200
        assert violations(proxy) == []  # nothing wrong is visible yet
        requests.get(f"{proxy}{API}/scheduler/available", headers=H, timeout=10)
        found = violations(proxy)
    v = _only(found, "check_scheduler_capacity")
    assert v["operation"] == "GET /scheduler/available"
    assert v["json_path"] == "available[0].executing"
    # executing 2 of maxJobs 1 with no per-request override: the second job was admitted above the limit
    assert "job admitted above maxJobs" in v["problem"] and "while 1 jobs of the account" in v["problem"]


def test_proxy_reports_a_status_going_back() -> None:
    with upstream(broken_servers().status_goes_back()) as origin, proxy_in_front(origin) as (proxy, _app):
        job = requests.post(f"{proxy}{API}/images/create", json={"prompt": "a fox"}, headers=H, timeout=10).json()
        url = f"{proxy}{API}/assets/{quote(job['jobId'], safe='')}"
        first = requests.get(url, headers=H, timeout=10).json()
        assert first["status"]["type"] == "completed"
        assert violations(proxy) == []
        again = requests.get(url, headers=H, timeout=10).json()
        assert again["status"]["type"] == "active"
        found = violations(proxy)
    v = _only(found, "check_job_status")
    assert v["operation"] == "GET /assets/{jobId}" and v["json_path"] == "status.type"
    assert "completed and is now active" in v["problem"]


def _teapot_scheduler() -> Any:
    """GET /scheduler answers 418, a status openapi.yaml does not document for it."""
    from werkzeug.wrappers import Response

    servers = broken_servers()

    def fn(request: Any, response: Any) -> Any:
        if request.path == f"{API}/scheduler":
            return Response(json.dumps({"error": "I'm a teapot", "code": 418}), status=418,
                            mimetype="application/json")
        return None

    return servers.rewrite(servers.healthy_app(), fn)


def test_proxy_reports_an_undocumented_status_and_writes_junit(tmp_path: Path) -> None:
    lines: list[str] = []

    class Stream:
        def write(self, text: str) -> None:
            lines.append(text)

        def flush(self) -> None:
            pass

    with upstream(_teapot_scheduler()) as origin, proxy_in_front(origin) as (proxy, app):
        app.violations.stream = Stream()  # type: ignore[assignment]
        assert requests.get(f"{proxy}{API}/scheduler", headers=H, timeout=10).status_code == 418
        assert requests.get(f"{proxy}{API}/accounts", headers=H, timeout=10).status_code == 200
        found = violations(proxy)
        app.finish(junit_xml=str(tmp_path / "proxy.xml"))
    v = _only(found, "status_code_conformance")
    assert v["operation"] == "GET /scheduler" and v["status"] == 418 and v["json_path"] is None
    assert "418" in v["problem"] and "listRunningJobs" in v["problem"]
    assert len(found) == 1, found
    printed = "".join(lines).strip().splitlines()
    assert len(printed) == 1 and "GET /scheduler -> 418" in printed[0] and "status_code_conformance" in printed[0]
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "proxy.xml").getroot().iter("testcase")}
    assert set(cases) == {"GET /scheduler", "GET /accounts", "run"}
    assert cases["GET /scheduler"].find("failure") is not None
    assert cases["GET /accounts"].find("failure") is None and cases["GET /accounts"].find("skipped") is None


def _lenient_asset_list() -> Any:
    """GET /assets/ ignores its query: a limit the contract forbids is served instead of refused."""
    app = broken_servers().healthy_app()
    inner = app.wsgi_app

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == f"{API}/assets/":
            environ["QUERY_STRING"] = ""
        return inner(environ, start_response)

    app.wsgi_app = wsgi  # type: ignore[method-assign]
    return app


def test_proxy_reports_a_request_the_upstream_should_have_refused() -> None:
    """A request outside the contract that the upstream accepts anyway is drift; one it refuses is not."""
    with upstream(_lenient_asset_list()) as origin, proxy_in_front(origin) as (proxy, _app):
        refused = requests.post(f"{proxy}{API}/images/create", json={"prompt": 5}, headers=H, timeout=10)
        assert refused.status_code == 400
        assert violations(proxy) == []
        assert requests.get(f"{proxy}{API}/assets/?limit=0", headers=H, timeout=10).status_code == 200
        found = violations(proxy)
    v = _only(found, "request_conformance")
    assert v["operation"] == "GET /assets/" and "query.limit" in v["problem"]


def test_request_problems_read_json_and_form_bodies_like_the_service() -> None:
    from werkzeug.test import EnvironBuilder

    from contracts.spec import get_contract
    from mock_server.proxy.forward import Exchange
    from mock_server.proxy.violations import request_problems

    def exchange(ctype: str, body: bytes, query: str = "") -> Exchange:
        return Exchange(method="POST", path=f"{API}/images/create", query=query,
                        request_headers={"content-type": ctype}, request_body=body, status_code=200, headers={},
                        content=None)

    op = get_contract()["createImage"]
    builder = EnvironBuilder(method="POST", data={"prompt": "a fox", "aspectRatio": "16:9"})
    good_form = builder.get_request().get_data()
    assert request_problems(op, exchange(builder.content_type, good_form)) == []
    builder = EnvironBuilder(method="POST", data={"prompt": "a fox", "aspectRatio": "7:3"})
    bad_form = request_problems(op, exchange(builder.content_type, builder.get_request().get_data()))
    assert [where for where, _ in bad_form] == ["body.aspectRatio"]
    assert request_problems(op, exchange("application/json", b'{"prompt": "a fox"}')) == []
    assert [w for w, _ in request_problems(op, exchange("application/json", b'{"prompt": 5}'))] == ["body.prompt"]
    not_json = request_problems(op, exchange("application/json", b"{not json"))
    assert [w for w, _ in not_json] == ["body"]  # in the simulator's words: the one validator (api/inputs.py)
    assert not_json[0][1].startswith("Request body is not valid JSON")


def _job_status_edit(edit: Any) -> Any:
    """GET /assets/{jobId} answers with ``edit(status)`` applied to the job's ``status`` object."""
    servers = broken_servers()

    def fn(request: Any, response: Any) -> None:
        if request.method == "GET" and "-job:" in request.path and response.status_code == 200:
            def apply(body: Any) -> None:
                edit(body["status"])

            servers.edit_json(response, apply)

    return servers.rewrite(servers.healthy_app(), fn)


def _missing_field() -> Any:
    """A job's ``status`` without its required ``type``."""
    return _job_status_edit(lambda status: status.pop("type"))


def _wrong_job_status() -> Any:
    """An active job's ``status.type`` answered as ``running``, a value the contract does not have."""
    return _job_status_edit(lambda status: status.update(type="running"))


BROKEN = {  # name: (server, what to call, the JSON path the violation must name, a word of its problem)
    "wrong type": (lambda: broken_servers().wrong_field_type(), "accounts", "demo@example.com.maxJobs", "integer"),
    "missing field": (_missing_field, "job", "status", "required property"),
    "wrong status": (_wrong_job_status, "job", "status.type", "running"),
}


@pytest.mark.parametrize("front", ["werkzeug", "cdn"])
@pytest.mark.parametrize("defect", sorted(BROKEN))
def test_proxy_names_each_broken_field_by_its_json_path(defect: str, front: str) -> None:
    """Each of three broken upstreams, answering as werkzeug does or as a CDN does (lower-case headers, gzip or
    br, chunked): exactly its one violation, named with its JSON path; the healthy answers around it are clean."""
    make, call, where, word = BROKEN[defect]
    app = make()
    with contextlib.ExitStack() as stack:
        origin = stack.enter_context(CdnUpstream(app)).url if front == "cdn" else stack.enter_context(upstream(app))
        proxy, _app = stack.enter_context(proxy_in_front(origin))
        session = requests.Session()
        session.headers.update({**H, "Accept-Encoding": "br, gzip"})
        if call == "accounts":
            assert session.get(f"{proxy}{API}/accounts", timeout=10).status_code == 200
        else:
            job = session.post(f"{proxy}{API}/images/create", json={"prompt": "a fox"}, timeout=10).json()
            assert session.get(f"{proxy}{API}/assets/{quote(job['jobId'], safe='')}", timeout=10).status_code == 200
        assert session.get(f"{proxy}{API}/scheduler/available", timeout=10).status_code == 200
        found = violations(proxy)
    assert [(v["check"], v["json_path"]) for v in found] == [("response_schema_conformance", where)], found
    assert word in found[0]["problem"]
