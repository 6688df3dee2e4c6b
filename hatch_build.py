"""Build hook: the wheel installs one import name, ``ltxstudio_mock``, the way vendoring tools do it.

In the repository the parts sit at the top level, as the design names them, and import each other by those
names (``from contracts.spec import ...``), so every tool that maps imports to files (mypy, pyright, editors,
structure drawings) reads the checkout as Python imports it: no ``__path__`` trick, no link tree, one module
per file. The standard wheel copies ``ltxstudio_mock/`` (the test tooling), ``mock_server/``, ``client/`` and
``contracts/`` under ``ltxstudio_mock/`` and rewrites each absolute import of a part (``from client import x``
-> ``from ltxstudio_mock.client import x``), so a user's own top-level ``client`` or ``contracts`` never meets
ours. Only import statements are rewritten (found with ``ast``, not by text search); code that needs a module
name at run time derives it from ``__name__``. An editable install puts the checkout root on ``sys.path``
(``dev-mode-dirs``): the parts import by their own names there, as they do in the source.

``rewrite`` is a plain function so ``tests/packaging`` can check it on every file without building.
"""

from __future__ import annotations

import ast
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGE = "ltxstudio_mock"
PARTS = ("mock_server", "client", "contracts")  # top-level folders that go under PACKAGE in the wheel
TOOLING = PACKAGE  # the folder already named PACKAGE: the pytest plugin, the in-process mode, the admin client
SKIP = {"__pycache__"}


class RewriteError(ValueError):
    """An import the rewrite cannot express under one package name (``import client.x`` binds ``client``)."""


def _is_part(module: str | None) -> bool:
    return bool(module) and str(module).split(".")[0] in PARTS


def rewrite(source: str, filename: str = "<source>") -> str:
    """``source`` with every absolute import of a part moved under ``ltxstudio_mock``."""
    tree = ast.parse(source, filename)
    lines = source.splitlines(keepends=True)
    for node in sorted((n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)),
                       key=lambda n: (n.lineno, n.col_offset), reverse=True):
        i, col = node.lineno - 1, node.col_offset
        line = lines[i]
        if isinstance(node, ast.ImportFrom):
            if node.level or not _is_part(node.module):
                continue
            m = re.compile(r"from\s+").match(line, col)
            if not m or not line.startswith(str(node.module), m.end()):
                raise RewriteError(f"{filename}:{node.lineno}: cannot find the module name of this import")
            lines[i] = f"{line[:m.end()]}{PACKAGE}.{line[m.end():]}"
            continue
        ours = [a for a in node.names if _is_part(a.name)]
        if not ours:
            continue
        if len(node.names) != 1:
            raise RewriteError(f"{filename}:{node.lineno}: import one part per statement")
        (alias,) = ours
        if alias.asname is None and "." in alias.name:
            raise RewriteError(f"{filename}:{node.lineno}: `import {alias.name}` binds `{alias.name.split('.')[0]}`; "
                               f"write `from {alias.name.rpartition('.')[0]} import {alias.name.rpartition('.')[2]}`")
        m = re.compile(r"import\s+").match(line, col)
        if not m or not line.startswith(alias.name, m.end()):
            raise RewriteError(f"{filename}:{node.lineno}: cannot find the module name of this import")
        if alias.asname is None:  # `import client` -> `from ltxstudio_mock import client`: binds the same name
            lines[i] = f"{line[:col]}from {PACKAGE} import {line[m.end():]}"
        else:  # `import client.x as y` -> `import ltxstudio_mock.client.x as y`
            lines[i] = f"{line[:m.end()]}{PACKAGE}.{line[m.end():]}"
    return "".join(lines)


def lay_out(root: Path, target: Path) -> Path:
    """Write the wheel's ``ltxstudio_mock/`` under ``target``: the tooling and the parts, imports rewritten."""
    out = target / PACKAGE
    sources = [(root / TOOLING, out)] + [(root / part, out / part) for part in PARTS]
    for src, dst in sources:
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src)
            if path.is_dir() or SKIP & set(rel.parts) or (src == root / TOOLING and rel.parts[0] in PARTS):
                continue
            dest = dst / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".py":
                dest.write_text(rewrite(path.read_text(encoding="utf-8"), str(path)), encoding="utf-8")
            else:
                shutil.copyfile(path, dest)
    shutil.copyfile(root / "openapi.yaml", out / "contracts" / "openapi.yaml")  # contracts.spec finds it there
    return out


class NamespaceHook(BuildHookInterface):  # type: ignore[type-arg]
    """Lays the standard wheel out as above; editable installs use ``dev-mode-dirs`` (pyproject.toml)."""

    PLUGIN_NAME = "custom"
    _tmp: str | None = None

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """``version`` is ``standard`` or ``editable``."""
        if version != "standard":
            return
        self._tmp = tempfile.mkdtemp(prefix="ltxstudio-mock-wheel-")
        build_data["force_include"][str(lay_out(Path(self.root), Path(self._tmp)))] = PACKAGE

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """The laid-out copy is only needed while the wheel is written."""
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
