"""POST /videos/ltx-create and /videos/veo-create."""

from __future__ import annotations

from typing import Any

from mock_server.api import route
from mock_server.api.generation import start
from mock_server.views import InFlight


@route("POST", "/videos/ltx-create", "createLtxVideo")
def create_ltx_video(call: InFlight) -> Any:
    return start(call, "videos/ltx-create")


@route("POST", "/videos/veo-create", "createVeoVideo")
def create_veo_video(call: InFlight) -> Any:
    return start(call, "videos/veo-create")
