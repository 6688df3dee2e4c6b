"""The control API's own contract (mock_server/admin/admin-openapi.yaml) is valid and matches the served routes."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from openapi_spec_validator import validate

from mock_server import SimConfig, create_app

SPEC_PATH = Path(__file__).resolve().parents[2] / "mock_server" / "admin" / "admin-openapi.yaml"
SPEC = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def test_control_admin_spec_is_valid_openapi() -> None:
    validate(SPEC)


def test_control_admin_spec_documents_every_admin_route_and_no_more() -> None:
    app = create_app(SimConfig(background=False))
    served = set()
    pipeline = app.extensions["ltx_pipeline"]  # the control API's views; Flask's: the dashboard's
    for rule in [*pipeline.urls.map.iter_rules(), *app.url_map.iter_rules()]:
        if not rule.rule.startswith("/__admin") or "/storage/" in rule.rule or "/static/" in rule.rule:
            continue  # artifact previews (signed storage URLs) and the dashboard's script and stylesheet
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "{" + m[1] + "}", rule.rule.removeprefix("/__admin"))
        path = path.replace("{job_id}", "{jobId}").replace("{fault_id}", "{faultId}").replace(
            "{entry_id}", "{entryId}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((method, path.rstrip("/") or "/"))
    documented = {(m.upper(), p) for p, item in SPEC["paths"].items() for m in item if m != "parameters"}
    assert served == documented


def test_control_admin_requests_are_validated_against_it() -> None:
    client = create_app(SimConfig(background=False)).test_client()
    answer = client.post("/__admin/clock", json={"advance": -5})
    assert answer.status_code == 400 and "advance" in answer.get_json()["error"]
    answer = client.post("/__admin/next-outcome", json={"outcome": "exploded"})
    assert answer.status_code == 400 and answer.get_json()["code"] == 400
