"""A release is what CHANGELOG.md says: the MIT LICENSE, the one version, a section per release plus Unreleased."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from ltxstudio_mock import __version__

ROOT = Path(__file__).resolve().parents[2]


def test_release_license_changelog_and_version_agree() -> None:
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == {"text": "MIT"}
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"]["path"] == "ltxstudio_mock/__init__.py"
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    releases = re.findall(r"^## (\d+\.\d+\.\d+) - (\d{4}-\d{2}-\d{2})$", changelog, re.M)
    assert changelog.index("## Unreleased") < changelog.index(f"## {releases[0][0]} ")
    assert __version__ in [v for v, _ in releases]  # the version installed is a release the changelog describes
    assert [v for v, _ in releases] == sorted((v for v, _ in releases),
                                              key=lambda v: tuple(map(int, v.split("."))), reverse=True)
