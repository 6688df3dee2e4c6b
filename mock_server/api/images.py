"""POST /images/create, /images/edit, /images/upscale, and the older paths /images/flux-create and /images/flux-edit
(the names the docs' links and page slugs use: the same operations, docs/fidelity.md)."""

from __future__ import annotations

from typing import Any

from mock_server.api import route
from mock_server.api.generation import start
from mock_server.views import InFlight


@route("POST", "/images/create", "createImage")
@route("POST", "/images/flux-create", "createImageFlux")
def create_image(call: InFlight) -> Any:
    return start(call, "images/create")


@route("POST", "/images/edit", "editImage")
@route("POST", "/images/flux-edit", "editImageFlux")
def edit_image(call: InFlight) -> Any:
    return start(call, "images/edit")


@route("POST", "/images/upscale", "upscaleImage")
def upscale_image(call: InFlight) -> Any:
    return start(call, "images/upscale")
