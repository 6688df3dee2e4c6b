"""ltxstudio-mock's simulator: ``create_app(SimConfig(...))`` builds the Flask app.

Both names load on first use: ``ltx-mock serve``'s master process (which only binds, builds the start-up
simulator and hands the socket to granian's workers) imports ``mock_server.cli`` without Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from mock_server.app import create_app
    from mock_server.config import SimConfig

__all__ = ["SimConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from mock_server.app import create_app

        return create_app
    if name == "SimConfig":
        from mock_server.config import SimConfig

        return SimConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
