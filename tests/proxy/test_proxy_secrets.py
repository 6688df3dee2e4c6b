"""No secret the proxy sees comes out of it: record, stderr (violation lines and its log), JUnit, /__proxy/violations,
and the upstream simulator's journal. All are masked by one engine (``mock_server/masking.py``).

Hypothesis plants one secret value, in a syntax drawn per field (an LTX cookie, ``lt_refresh_token = ...``, a bare
JWT, ``Bearer ...``, a signed URL's signature, ``token=...`` in a URL), into every field a caller's request has:
the JSON body (``prompt``, ``replyRef``), the query, a header, the ``Cookie`` header, the path, the API token.
The upstream is the simulator with a leak added: it echoes the planted text back inside answers that break the
contract (a wrong type, an undocumented key, an unmasked ``lt_token``, a failed job's message), so the text reaches
every violation field and the record. The test first checks that the planted value did come back to the caller
(the leak works), so a mask that missed would be seen.
"""

from __future__ import annotations

import io
import json
import logging
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proxy_helpers import API, broken_servers, proxy_in_front, upstream

H = {"Authorization": "Bearer demo-token"}
SYNTAXES = ("cookie", "refresh", "jwt", "bearer", "signed_url", "query_token")


def planted(kind: str, value: str) -> str:
    """``value`` written as one kind of secret."""
    return {
        "cookie": f"lt_id=abc123; lt_token={value}; successfulLogin=true",
        "refresh": f"LT_REFRESH_TOKEN = {value}",
        "jwt": f"eyJhbGciOiJIUzI1NiJ9.eyJ{value}.{value[::-1]}",
        "bearer": f"Authorization: Bearer {value}",
        "signed_url": f"https://storage.googleapis.com/b/o.png?X-Goog-Expires=900&X-Goog-Signature={value}",
        "query_token": f"https://api.example.com/hook?token={value}&x=1",
    }[kind]


def _leaky() -> Any:
    """The simulator, echoing the caller's planted text (header ``X-Note``) inside answers that break the contract."""
    servers = broken_servers()

    def fn(request: Any, response: Any) -> Any:
        note = request.headers.get("X-Note", "")
        if not note or not request.path.startswith(API):
            return None
        if request.method == "GET" and request.path == f"{API}/accounts" and response.status_code == 200:
            def accounts(body: Any) -> Any:
                for view in body.values():
                    view["maxJobs"] = note  # a wrong type, quoted by the validator
                    view["lt_token"] = note  # a session secret unmasked: check_secrets_masked quotes it
                return {**body, note: {"email": note}}  # an undocumented key: the JSON path holds it
            servers.edit_json(response, accounts)
        elif request.method == "GET" and "-job:" in request.path and response.status_code == 200:
            def failed(body: Any) -> None:
                body["status"] = {"type": "failed", "progress": 10, "message": note}
            servers.edit_json(response, failed)
        elif request.method == "GET" and response.status_code >= 400:
            return servers.Response(json.dumps({"status": {"type": note}}), status=200, mimetype="application/json")
        return None

    return servers.rewrite(servers.healthy_app(), fn)


@pytest.fixture(scope="module")
def leaky_origin() -> Iterator[str]:
    with upstream(_leaky()) as origin:
        yield origin


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _outputs(leaky_origin: str, tmp_path: Path, value: str, kinds: list[str]) -> tuple[dict[str, str], str]:
    """Every output of the proxy after one planted round, and what the caller itself got back."""
    texts = [planted(kind, value) for kind in kinds]
    requests.post(f"{leaky_origin}/__admin/reset", timeout=10).raise_for_status()  # free slots, an empty journal
    stream = io.StringIO()
    log = _Lines()
    logger = logging.getLogger("ltxstudio_mock.proxy")
    logger.addHandler(log)
    got = []
    try:
        with proxy_in_front(leaky_origin, record=True) as (proxy, app):
            app.violations.stream = stream
            http = requests.Session()
            http.headers.update({**H, "X-Note": texts[0], "Cookie": texts[1]})
            job = http.post(f"{proxy}{API}/images/create?note={quote(texts[2])}&access_token={value}",
                            json={"prompt": f"A fox {texts[3]} in the snow", "replyRef": texts[4]}, timeout=10)
            assert job.status_code == 200, job.text
            got.append(http.get(f"{proxy}{API}/assets/{quote(job.json()['jobId'], safe='')}", timeout=10).text)
            got.append(http.get(f"{proxy}{API}/accounts?email={quote(texts[5])}&token={value}", timeout=10).text)
            got.append(http.get(f"{proxy}{API}/accounts", timeout=10).text)
            got.append(http.get(f"{proxy}{API}/assets/{quote(texts[1], safe='')}", timeout=10).text)
            got.append(requests.get(f"{proxy}{API}/accounts", headers={"Authorization": f"Bearer {value}"},
                                    timeout=10).text)
            shown = requests.get(f"{proxy}/__proxy/violations", timeout=10).text
            app.finish(junit_xml=str(tmp_path / "proxy.xml"), record=str(tmp_path / "recorded.yaml"))
            journal = requests.get(f"{leaky_origin}/__admin/requests?limit=20", timeout=10).text
    finally:
        logger.removeHandler(log)
    return {"record": (tmp_path / "recorded.yaml").read_text(encoding="utf-8"),
            "stderr": stream.getvalue() + "\n".join(log.lines),
            "junit": (tmp_path / "proxy.xml").read_text(encoding="utf-8"),
            "/__proxy/violations": shown, "journal": journal}, "\n".join(got)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(string.ascii_letters + string.digits, min_size=16, max_size=32),
       kinds=st.lists(st.sampled_from(SYNTAXES), min_size=6, max_size=6))
def test_no_planted_secret_leaves_the_proxy(leaky_origin: str, tmp_path_factory: pytest.TempPathFactory,
                                            value: str, kinds: list[str]) -> None:
    outputs, answers = _outputs(leaky_origin, tmp_path_factory.mktemp("secrets"), value, kinds)
    assert value in answers, "the leak did not echo the planted secret: this test would prove nothing"
    assert "VIOLATION" in outputs["stderr"] and "<failure" in outputs["junit"]
    for name, text in outputs.items():
        assert value not in text and value[::-1] not in text, (name, kinds, text[:3000])


def test_every_syntax_is_planted_somewhere(leaky_origin: str, tmp_path: Path) -> None:
    """One fixed round with every syntax in the most revealing field (the echoed header), as a readable example."""
    for kind in SYNTAXES:
        (tmp_path / kind).mkdir()
        outputs, answers = _outputs(leaky_origin, tmp_path / kind, "Plant3dSecretValue0042",
                                    [kind, "cookie", "jwt", "bearer", "signed_url", "query_token"])
        assert "Plant3dSecretValue0042" in answers
        leaked = [name for name, text in outputs.items() if "Plant3dSecretValue0042" in text]
        assert leaked == [], (kind, leaked)
        assert "secured" in outputs["/__proxy/violations"] and "…secured…" in outputs["record"]
