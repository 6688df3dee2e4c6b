"""What the dashboard tests share: jobs through the real API, a local webhook receiver."""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from PIL import Image

DEMO_EMAIL = "demo@example.com"


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 18), (40, 120, 200)).save(buf, format="PNG")
    return buf.getvalue()


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
        resp = self.session.post(f"{self.base}/assets/", data=png_bytes(), headers={"Content-Type": "image/png"},
                                 timeout=10)
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


class Receiver:
    """A webhook receiver on a free loopback port that answers 200 and keeps what it got."""

    def __init__(self) -> None:
        received: list[bytes] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
