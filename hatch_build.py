"""Build hook: maps the repository's top-level parts under the one import name, ``ltxstudio_mock``.

The wheel gets ``mock_server/``, ``client/``, ``contracts/`` (and ``openapi.yaml``) as
``ltxstudio_mock/<part>/``. An editable install gets none of them copied: it exposes only
``ltxstudio_mock/`` (dev-mode-exact), whose ``__init__`` finds the parts beside it in the checkout, so
edits show at once and no generic top-level name (``client``, ``contracts``) is ever installed.
(A ``[tool.hatch...force-include]`` table would copy them into editable installs too.)
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PARTS = {
    "mock_server": "ltxstudio_mock/mock_server",
    "client": "ltxstudio_mock/client",
    "contracts": "ltxstudio_mock/contracts",
    "openapi.yaml": "ltxstudio_mock/contracts/openapi.yaml",
}


class NamespaceHook(BuildHookInterface):
    """Adds the parts to a standard wheel only."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """``version`` is ``standard`` or ``editable``."""
        if version == "standard":
            build_data["force_include"].update(PARTS)
