"""Helpers of the contract toolkit's tests: fabricated ``requests.Response`` objects."""

from __future__ import annotations

import json
from typing import Any

import requests

BASE = "http://127.0.0.1:9/v1/ltxstudio"
JOB = "email:demo@example.com-job:7a34b821-9fd0-405e-a21b-4abc6f7839e7-type:image"
VIDEO_JOB = "email:demo@example.com-job:8b45c932-0ae1-416f-a32c-5bcd7e8940f8-type:video"
FILE_ID = "asset:3b18c0de-5a7f-4e21-9b3c-8d4e6f708192-type:image/png"


def fake_response(method: str, path: str, status: int, body: Any = None, *, request_json: Any = None,
                  headers: dict[str, str] | None = None, data: Any = None,
                  token: str | None = "demo-token") -> requests.Response:
    """A response as ``requests`` would return it for ``method BASE+path``, without a server."""
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    request = requests.Request(method, BASE + path, json=request_json, data=data,
                               headers={**auth, **(headers or {})}).prepare()
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode() if body is not None else b""
    response.headers["Content-Type"] = "application/json"
    response.request = request
    response.url = request.url or ""
    return response


def job_body(status: str, progress: float | None = None, *, artifact: bool = False, job_id: str = JOB) -> Any:
    """A GET /assets/{jobId} answer."""
    body: dict[str, Any] = {"jobId": job_id, "generationId": "gen_1", "status": {"type": status}}
    if progress is not None:
        body["status"]["progress"] = progress
    if artifact:
        mime = "image/png" if job_id.endswith("image") else "video/mp4"
        body["status"]["artifact"] = {
            "assetUrl": "http://127.0.0.1:9/storage/a.png?Expires=1&Signature=x", "expirationDateString": "1",
            "asset": {"type": "artifact", "fileId": f"asset:3b18c0de-5a7f-4e21-9b3c-8d4e6f708193-type:{mime}",
                      "mimeType": mime}}
    return body


def get_job(status: str, progress: float | None = None, *, artifact: bool = False,
            job_id: str = JOB) -> requests.Response:
    from urllib.parse import quote

    return fake_response("GET", "/assets/" + quote(job_id, safe=""), 200,
                         job_body(status, progress, artifact=artifact, job_id=job_id))
