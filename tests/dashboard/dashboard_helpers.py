"""What the dashboard tests share: jobs through the real API (the webhook receiver: tests/helpers.py)."""

from __future__ import annotations

from typing import Any

import requests
from helpers import png_bytes

from mock_server.config import DEMO_EMAIL as DEMO_EMAIL  # re-exported: the dashboard tests import it from here


class Api:
    """The public API of one live simulator, as a test's code would call it."""

    def __init__(self, mock: Any) -> None:
        self.mock = mock
        self.base = mock.base_url
        self.session = requests.Session()
        self.session.headers.update(mock.headers)

    def image(self, prompt: str = "A serene mountain landscape at sunset", **extra: Any) -> str:
        resp = self.session.post(f"{self.base}/images/create", json={"prompt": prompt, **extra}, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()["jobId"]

    def upload(self) -> str:
        resp = self.session.post(f"{self.base}/assets/", data=png_bytes((32, 18)),
                                 headers={"Content-Type": "image/png"}, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()["asset"]["fileId"]

    def video(self, prompt: str = "Waves rolling onto a beach", **extra: Any) -> str:
        body = {"prompt": prompt, "startAssetId": self.upload(), **extra}
        resp = self.session.post(f"{self.base}/videos/ltx-create", json=body, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()["jobId"]

    def job(self, job_id: str) -> dict[str, Any]:
        resp = self.session.get(f"{self.base}/assets/{job_id}", timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def dashboard(self, **params: Any) -> dict[str, Any]:
        resp = requests.get(f"{self.mock.url}/__admin/dashboard/data", params=params, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()
