"""A small client of the simulator's control API (``/__admin``), for tests and scripts."""

from __future__ import annotations

import base64
import mimetypes
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
import yaml


class AdminError(RuntimeError):
    """The control API refused a call."""


class AdminClient:
    """Drive a running simulator: reset, fake users, clock, outcomes, faults, journal, webhooks."""

    def __init__(self, url: str, *, session: requests.Session | None = None, timeout: float = 30,
                 token: str | None = None) -> None:
        """``token``: the server's ``--admin-token`` (default: the ``LTX_MOCK_ADMIN_TOKEN`` environment variable)."""
        self.url = url.rstrip("/") + "/__admin"
        self.session = session or requests.Session()
        self.timeout = timeout
        token = token if token is not None else os.environ.get("LTX_MOCK_ADMIN_TOKEN")
        if token:
            self.session.headers["X-Admin-Token"] = token

    def _call(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        resp = self.session.request(method, self.url + path, json=json, params=params, timeout=self.timeout)
        if resp.status_code >= 400:
            raise AdminError(f"{method} /__admin{path}: {resp.status_code} {resp.text}")
        return resp.json() if resp.content else None

    # state
    def reset(self) -> dict[str, Any]:
        return self._call("POST", "/reset")

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/state")

    def add_token(self, token: str, *, demo_account: bool = False) -> dict[str, Any]:
        return self._call("POST", "/tokens", {"token": token, "demoAccount": demo_account})

    def snapshot(self) -> dict[str, Any]:
        return self._call("GET", "/snapshot")

    def load_scenario(self, scenario: str | os.PathLike[str] | dict[str, Any]) -> dict[str, Any]:
        """Reset and load a scenario (a YAML file path or a document) until the next reset.

        Files a YAML file names are read here and sent inline, so the server needs no access to them.
        """
        if isinstance(scenario, dict):
            doc = scenario
        else:
            path = Path(scenario)
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for asset in doc.get("assets") or []:
                if "file" in asset:
                    name = asset.pop("file")
                    asset["base64"] = base64.b64encode((path.parent / name).read_bytes()).decode()
                    asset.setdefault("mimeType", mimetypes.guess_type(name)[0] or "application/octet-stream")
            if isinstance((doc.get("clock") or {}).get("now"), datetime):
                doc["clock"]["now"] = doc["clock"]["now"].isoformat().replace("+00:00", "Z")
        return self._call("POST", "/scenario", doc)

    # LTX Studio side
    def create_ltx_user(self, **fields: Any) -> dict[str, Any]:
        """Fields: email, credits, subscription. The answer's ``cookie`` is ready for POST /accounts."""
        return self._call("POST", "/ltx-users", fields)

    def get_ltx_user(self, email: str) -> dict[str, Any]:
        """The user; its ``cookie`` has lt_token and lt_refresh_token masked (use ``new_session`` for a usable one)."""
        return self._call("GET", f"/ltx-users/{email}")

    def new_session(self, email: str) -> str:
        """Log the user in afresh and return the new session cookie, ready for POST /accounts.

        Session secrets are shown only by the call that issues them (this, and ``create_ltx_user``).
        """
        return self._call("PATCH", f"/ltx-users/{email}", {"newSession": True})["cookie"]

    def patch_ltx_user(self, email: str, **fields: Any) -> dict[str, Any]:
        """Fields: credits, subscription, tokenExpired, newSession."""
        return self._call("PATCH", f"/ltx-users/{email}", fields)

    def expire_token(self, email: str) -> dict[str, Any]:
        return self.patch_ltx_user(email, tokenExpired=True)

    def drain_credits(self, email: str) -> dict[str, Any]:
        return self.patch_ltx_user(email, credits=0)

    def set_max_jobs(self, token: str, email: str, max_jobs: int) -> dict[str, Any]:
        return self._call("PATCH", f"/accounts/{email}", {"token": token, "maxJobs": max_jobs})

    # time
    def clock(self, *, paused: bool | None = None, advance: float | None = None,
              speed: float | None = None) -> dict[str, Any]:
        body = {k: v for k, v in {"paused": paused, "advance": advance, "speed": speed}.items() if v is not None}
        return self._call("POST", "/clock", body) if body else self._call("GET", "/clock")

    def advance(self, seconds: float) -> dict[str, Any]:
        return self.clock(advance=seconds)

    # jobs
    def next_outcome(self, outcome: str = "failed", message: str | None = None, count: int = 1,
                     **extra: Any) -> list[dict[str, Any]]:
        """Queue how the next jobs end: failed (at ``progress``), stalled, or completed (``artifact_delay_s``)."""
        body = {"outcome": outcome, "count": count, **extra}
        if message is not None:
            body["message"] = message
        return self._call("POST", "/next-outcome", body)

    def fail_next(self, message: str = "Generation failed", *, progress: int = 0, count: int = 1) -> Any:
        return self.next_outcome("failed", message, count, progress=progress)

    def stall_next(self, *, progress: int = 50, count: int = 1) -> Any:
        return self.next_outcome("stalled", None, count, progress=progress)

    def release_job(self, job_id: str) -> dict[str, Any]:
        return self._call("POST", f"/jobs/{job_id}/release")

    def jobs(self, offset: int = 0, limit: int = 50) -> dict[str, Any]:
        return self._call("GET", "/jobs", params={"offset": offset, "limit": limit})

    # HTTP faults
    def fault(self, **rule: Any) -> dict[str, Any]:
        """Rule: method, path (glob), count | fraction, status | latency_ms | latency_range_ms | drop, message."""
        return self._call("POST", "/faults", rule)

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    # per-test answers (stubs)
    def stub(self, operation_id: str | None = None, *, method: str | None = None, path: str | None = None,
             token: str | None = None, body_matches: dict[str, Any] | None = None, times: int | None = None,
             status: int | None = None, headers: dict[str, Any] | None = None, body: Any = None,
             text: str | None = None, patch: dict[str, Any] | None = None) -> dict[str, Any]:
        """Answer the next matching API requests this way (every one, or the next ``times``); returns the stub.

        Match by ``operation_id`` (e.g. ``"getAsset"``) or ``path`` (a glob) and ``method``; only ``token``'s
        requests; ``body_matches``: JSONPath -> value the request body must hold. Answer with ``status``,
        ``headers`` and a JSON ``body`` or a raw ``text``, or ``patch`` (JSONPath -> value) the simulator's own
        answer. ``ltx.admin.stub("getAsset", body={...})``.
        """
        match = {k: v for k, v in {"operationId": operation_id, "method": method, "path": path, "token": token,
                                    "body": body_matches}.items() if v is not None}
        answer = {k: v for k, v in {"status": status, "headers": headers, "text": text, "patch": patch}.items()
                  if v is not None}
        if body is not None:
            answer["body"] = body
        spec: dict[str, Any] = {"match": match, "answer": answer}
        if times is not None:
            spec["times"] = times
        return self._call("POST", "/stubs", spec)

    def stubs(self) -> list[dict[str, Any]]:
        """The stubs in force, oldest first, each with ``hits`` (requests it answered) and ``remaining``."""
        return self._call("GET", "/stubs")

    def remove_stub(self, stub_id: str) -> None:
        self._call("DELETE", f"/stubs/{stub_id}")

    def clear_stubs(self) -> None:
        self._call("DELETE", "/stubs")

    # journal and webhooks
    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """Journal entries, newest first. Filters: method, path (glob), status, since, operation, contains, limit."""
        return self._call("GET", "/requests", params=filters)["items"]

    def count_requests(self, **filters: Any) -> int:
        return self._call("GET", "/requests/count", params=filters)["count"]

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def webhooks(self) -> list[dict[str, Any]]:
        return self._call("GET", "/webhooks")
