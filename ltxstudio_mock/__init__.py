"""ltxstudio-mock: the one import name the product installs.

Installed from the wheel, this package holds the product's three parts side by side:

- ``ltxstudio_mock.contracts``: the contract (``openapi.yaml``) engine, checks, strategies, ``ltx-mock check``;
- ``ltxstudio_mock.client``: the reference client;
- ``ltxstudio_mock.mock_server``: the simulator;

and, in this folder, the test tooling that sits above them: the pytest plugin (``ltx_mock`` fixture), the
admin client and the in-process mode (``mock_ltxstudio``).

The repository keeps ``contracts/``, ``client/`` and ``mock_server/`` at its top level, as the design names
them. The wheel maps them in here at build time (``pyproject.toml``, force-include); in a source checkout or an
editable install (which exposes only this package) they are found through ``__path__`` below, so a user's own
top-level ``client`` or ``contracts`` package never collides with ours.
"""

from __future__ import annotations

import os as _os
from typing import TYPE_CHECKING, Any

# The one version source: pyproject.toml reads it (hatch), and so do `ltx-mock --version`, the client's User-Agent,
# GET /__admin/health and the metrics; each release in CHANGELOG.md has a tag v<version>.
__version__ = "0.2.0"

_here = _os.path.dirname(_os.path.abspath(__file__))
_checkout = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "mock_server")) and _os.path.isfile(
        _os.path.join(_checkout, "mock_server", "__init__.py")):
    # Source checkout / editable install: the three parts live beside this folder.
    __path__.append(_checkout)

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
