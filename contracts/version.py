"""The product's version as installed, for every part below the test tooling (client User-Agent, health, metrics).

The one source is ``ltxstudio_mock/__init__.py`` (``__version__``), which hatch writes into the distribution's
metadata at install; reading it back here keeps the arrows pointing down (``contracts`` is the bottom layer,
so ``client`` and ``mock_server`` never import the tooling package above them just for a string).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ltxstudio-mock")
except PackageNotFoundError:  # pragma: no cover - a bare checkout on PYTHONPATH, never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
