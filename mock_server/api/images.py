"""POST /images/create, /images/edit, /images/upscale."""

from __future__ import annotations

from typing import Any

from flask import Response
from ltxstudio_mock.mock_server.api import api_blueprint
from ltxstudio_mock.mock_server.api.generation import start
from ltxstudio_mock.mock_server.api.inputs import operation

bp = api_blueprint("images")


@bp.post("/images/create")
@operation("createImage")
def create_image(query: dict[str, Any], data: dict[str, Any]) -> Response:
    return start("images/create", data)


@bp.post("/images/edit")
@operation("editImage")
def edit_image(query: dict[str, Any], data: dict[str, Any]) -> Response:
    return start("images/edit", data)


@bp.post("/images/upscale")
@operation("upscaleImage")
def upscale_image(query: dict[str, Any], data: dict[str, Any]) -> Response:
    return start("images/upscale", data)
