"""Helpers of the simulator's behaviour tests (tests/sim): plain ``requests`` against a live simulator.

Everything goes through HTTP (the API and the ``/__admin`` control API); the simulated
clock is paused and advanced explicitly, so no test waits for a job in real time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests
from helpers import png_bytes

from mock_server.config import DEMO_EMAIL


@dataclass
class Api:
    """A thin ``requests`` wrapper bound to one simulator and one API token."""

    url: str  # http://127.0.0.1:PORT
    token: str | None
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def base(self) -> str:
        return f"{self.url}/v1/ltxstudio"

    def as_token(self, token: str | None) -> Api:
        """The same simulator seen with another bearer token (None: no Authorization header)."""
        return Api(self.url, token, self.session)

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = dict(kw.pop("headers", None) or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        kw.setdefault("timeout", 30)
        return self.session.request(method, self.base + path, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    # -- common steps --------------------------------------------------------
    def ok(self, resp: requests.Response, status: int = 200) -> Any:
        assert resp.status_code == status, f"{resp.request.method} {resp.url}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None

    def upload(self, data: bytes | None = None, mime: str = "image/png", **params: Any) -> dict[str, Any]:
        """Upload bytes (a PNG by default); returns the 200 body."""
        resp = self.post("/assets/", data=png_bytes() if data is None else data, params=params,
                         headers={"Content-Type": mime})
        return self.ok(resp)

    def upload_id(self, **params: Any) -> str:
        return self.upload(**params)["asset"]["fileId"]

    def create(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """A generation request that must be admitted; returns ``{jobId, generationId}``."""
        return self.ok(self.post(f"/{operation}", json=body))

    def job(self, job_id: str) -> requests.Response:
        return self.get(f"/assets/{job_id}")

    def balance(self, email: str = DEMO_EMAIL) -> int:
        return self.ok(self.get(f"/accounts/{email}"))["balance"]["LTXStudio_token"]

    def job_count(self) -> int:
        return len(self.ok(self.get("/scheduler")))


