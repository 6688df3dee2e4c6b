"""POST /images/create, /images/edit, /images/upscale."""

from __future__ import annotations

from typing import Any

from ltxstudio_mock.mock_server.api import Call, route
from ltxstudio_mock.mock_server.api.generation import start


@route("POST", "/images/create", "createImage")
def create_image(call: Call) -> Any:
    return start(call, "images/create")


@route("POST", "/images/edit", "editImage")
def edit_image(call: Call) -> Any:
    return start(call, "images/edit")


@route("POST", "/images/upscale", "upscaleImage")
def upscale_image(call: Call) -> Any:
    return start(call, "images/upscale")
