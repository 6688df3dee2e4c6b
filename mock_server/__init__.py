"""ltxstudio-mock's simulator: ``create_app(SimConfig(...))`` builds the Flask app."""

from ltxstudio_mock.mock_server.app import create_app
from ltxstudio_mock.mock_server.config import SimConfig

__all__ = ["SimConfig", "create_app"]
