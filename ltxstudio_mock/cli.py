"""The ``ltx-mock`` console script (pyproject.toml): the simulator's command line, ``mock_server/cli.py``.

The script is named under the one installed import name; this file is what lets the same entry point load in
the wheel (``ltxstudio_mock.mock_server.cli``) and in an editable checkout (``mock_server.cli``).
"""

from mock_server.cli import main

__all__ = ["main"]
