"""What tests in several folders share: a webhook receiver, a free loopback port, sample image bytes.

Imported as ``helpers`` (tests/ is on ``sys.path``: pytest puts the folder of tests/conftest.py there).
The ``receiver`` fixture in tests/conftest.py hands out a fresh :class:`Receiver`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from PIL import Image


def free_port() -> int:
    """A loopback TCP port nothing listens on (at the moment of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_serving(url: str, proc: subprocess.Popen[Any], log: Path, timeout: float = 60) -> None:
    """Until an ``ltx-mock serve`` subprocess at ``url`` answers GET /__admin/clock with 200.

    Raises RuntimeError (it exited) or TimeoutError, with the tail of its ``log``.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{url}/__admin/clock", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"ltx-mock serve exited: {log.read_text(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"ltx-mock serve not up after {timeout}s: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)


@contextlib.contextmanager
def serve_process(args: list[str], log: Path) -> Iterator[str]:
    """``ltx-mock serve ARGS`` (the default server, granian) as a subprocess on a free port, its output in ``log``:
    its base URL once it answers; stopped by its own pid (SIGTERM, then kill after 20 s)."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mock_server.cli", "serve", "--port", str(port),
                                 *args], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_serving(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def probe_mp4(data: bytes) -> dict[str, Any]:
    """What a player sees in an MP4, read with PyAV from the container and its streams (not our metadata): the
    video's length (its last frame's end), the container's duration, frame size, codecs and audio streams."""
    import av

    with av.open(io.BytesIO(data)) as container:
        assert container.format.name.startswith("mov,mp4"), container.format.name
        video = container.streams.video[0]
        end = max(float((p.pts + p.duration) * p.time_base) for p in container.demux(video) if p.pts is not None)
        return {"seconds": end, "container_seconds": container.duration / av.time_base,
                "size": (video.width, video.height), "video": video.codec_context.name,
                "audio": [a.codec_context.name for a in container.streams.audio]}


def png_bytes(size: tuple[int, int] = (8, 8), color: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    """A real PNG made with Pillow (same arguments, same bytes), so uploads carry believable files."""
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


class Receiver:
    """A webhook endpoint on a free loopback port that records every POST.

    Each call is ``{"path", "body" (parsed JSON, or {"_raw": text}), "raw" (bytes), "headers", "at"
    (time.monotonic()), "time" (time.time()), "status"}``. ``fail_first`` answers 500 to that many
    calls first; ``delay_s`` makes every answer that slow (a hanging receiver).
    """

    def __init__(self, path: str = "/hook") -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_first = 0
        self.delay_s = 0.0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                with receiver._lock:
                    status = 500 if len(receiver.calls) < receiver.fail_first else 200
                    receiver.calls.append({"path": self.path, "body": body, "raw": raw,
                                           "headers": dict(self.headers), "at": time.monotonic(),
                                           "time": time.time(), "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}{path}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def accepted(self) -> list[dict[str, Any]]:
        """The calls answered 200."""
        with self._lock:
            return [c for c in self.calls if c["status"] == 200]

    def wait_for(self, n: int = 1, timeout: float = 3.0) -> list[dict[str, Any]]:
        """Poll (real time, bounded: deliveries run on a worker thread) until ``n`` calls were accepted."""
        deadline = time.monotonic() + timeout
        while len(self.accepted()) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.accepted()

    def by_job(self) -> dict[str, list[float]]:
        """jobId -> the wall-clock times its accepted deliveries arrived."""
        out: dict[str, list[float]] = {}
        for call in self.accepted():
            out.setdefault(call["body"]["jobId"], []).append(call["time"])
        return out

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def in_checkout(code: str) -> str:
    """Documentation shows the installed names (``ltxstudio_mock.client``); the checkout imports each part by its
    own name (hatch_build.py rewrites them for the wheel, and tests/packaging runs the installed names)."""
    return re.sub(r"\bltxstudio_mock\.(client|contracts|mock_server)\b", r"\1", code)
