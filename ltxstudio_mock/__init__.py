"""ltxstudio-mock: the one import name the product installs.

Installed from the wheel, this package holds the product's three parts side by side:

- ``ltxstudio_mock.contracts``: the contract (``openapi.yaml``) engine, checks, strategies, ``ltx-mock check``;
- ``ltxstudio_mock.client``: the reference client;
- ``ltxstudio_mock.mock_server``: the simulator;

and, in this folder, the test tooling that sits above them: the pytest plugin (``ltx_mock`` fixture), the
admin client and the in-process mode (``mock_ltxstudio``).

The repository keeps ``contracts/``, ``client/`` and ``mock_server/`` at its top level, as the design names
them, and they import each other by those names; the wheel build (``hatch_build.py``) copies them in here and
rewrites those imports, so a user's own top-level ``client`` or ``contracts`` package never collides with ours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The one version source: pyproject.toml reads it (hatch), and so do `ltx-mock --version`, the client's User-Agent,
# GET /__admin/health and the metrics; each release in CHANGELOG.md has a tag v<version>.
__version__ = "0.2.0"

if TYPE_CHECKING:  # pragma: no cover
    from ltxstudio_mock.inprocess import MockLTXStudio, mock_ltxstudio
    from ltxstudio_mock.netguard import NetworkGuardError

__all__ = ["MockLTXStudio", "NetworkGuardError", "__version__", "mock_ltxstudio"]


def __getattr__(name: str) -> Any:
    """``mock_ltxstudio`` is imported on first use: importing the package stays free."""
    if name in ("mock_ltxstudio", "MockLTXStudio", "NetworkGuardError"):
        from ltxstudio_mock import inprocess

        return getattr(inprocess, name)
    raise AttributeError(f"module 'ltxstudio_mock' has no attribute {name!r}")
