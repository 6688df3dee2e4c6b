"""ltxstudio-mock's simulator: ``create_app(SimConfig(...))`` builds the Flask app."""

from mock_server.app import create_app
from mock_server.config import SimConfig

__all__ = ["SimConfig", "create_app"]
