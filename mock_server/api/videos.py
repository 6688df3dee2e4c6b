"""POST /videos/ltx-create and /videos/veo-create."""

from __future__ import annotations

from typing import Any

from flask import Response
from ltxstudio_mock.mock_server.api import api_blueprint
from ltxstudio_mock.mock_server.api.generation import start
from ltxstudio_mock.mock_server.api.inputs import operation

bp = api_blueprint("videos")


@bp.post("/videos/ltx-create")
@operation("createLtxVideo")
def create_ltx_video(query: dict[str, Any], data: dict[str, Any]) -> Response:
    return start("videos/ltx-create", data)


@bp.post("/videos/veo-create")
@operation("createVeoVideo")
def create_veo_video(query: dict[str, Any], data: dict[str, Any]) -> Response:
    return start("videos/veo-create", data)
