"""The committed TypeScript declarations (``types/ltxstudio.d.ts``) are what the pinned openapi-typescript writes
from ``openapi.yaml`` now, and a consumer plus the README's Node test type-check with ``tsc --strict``; the Node
test also passes against a live simulator.

``npm ci`` runs once per lock file into ``.cache/types/<hash of package-lock.json>/`` (git-ignored), a copy of
``types/`` that the test works in (the source tree is never written); later runs reuse it (~2-4 s in all). Skipped
only where ``npm`` or ``node`` is missing: CI and every developer machine here have both and reach the registry.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ltxstudio_mock.pytest_plugin import start_simulator

ROOT = Path(__file__).resolve().parents[2]
TYPES = ROOT / "types"
SOURCES = ("package.json", "package-lock.json", "tsconfig.json", "consumer.ts", "example.test.mjs")
GENERATED = "ltxstudio.d.ts"

pytestmark = pytest.mark.skipif(not (shutil.which("npm") and shutil.which("node")), reason="needs node and npm")


def _workdir() -> Path:
    """``.cache/types/<lock hash>`` with node_modules installed (``npm ci`` once; a lock serialises xdist workers)."""
    lock = (TYPES / "package-lock.json").read_bytes()
    work = ROOT / ".cache" / "types" / hashlib.sha256(lock).hexdigest()[:16]
    work.mkdir(parents=True, exist_ok=True)
    with (work.parent / ".lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not (work / "node_modules" / ".bin" / "tsc").exists():
            for name in ("package.json", "package-lock.json"):
                shutil.copy(TYPES / name, work / name)
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=work, check=True,
                           capture_output=True, timeout=300)
    for name in SOURCES:
        shutil.copy(TYPES / name, work / name)
    return work


def test_types_are_generated_from_the_contract_and_type_check_strict() -> None:
    work = _workdir()
    (work / "openapi.yaml").write_bytes((ROOT / "openapi.yaml").read_bytes())
    generate = subprocess.run([str(work / "node_modules" / ".bin" / "openapi-typescript"), "openapi.yaml",
                               "--default-non-nullable", "false", "--output", GENERATED], cwd=work,
                              capture_output=True, text=True, timeout=120)
    assert generate.returncode == 0, generate.stderr
    fresh = (work / GENERATED).read_text(encoding="utf-8")
    assert fresh == (TYPES / GENERATED).read_text(encoding="utf-8"), (
        "types/ltxstudio.d.ts is stale: cd types && npm ci && npm run generate")
    assert "createImage" in fresh and '"/images/create"' in fresh
    check = subprocess.run([str(work / "node_modules" / ".bin" / "tsc"), "--project", "tsconfig.json"], cwd=work,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    tsconfig = (work / "tsconfig.json").read_text(encoding="utf-8")
    assert '"strict": true' in tsconfig
    # consumer.ts holds a `@ts-expect-error` on a request without its required prompt: were the types too loose
    # to refuse it, tsc would fail on the unused directive, so this check bites both ways.


def test_types_readme_node_test_passes_against_the_simulator() -> None:
    """The README's Node test is types/example.test.mjs, word for word, and passes against a live simulator."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "```js\n" + (TYPES / "example.test.mjs").read_text(encoding="utf-8") + "```" in readme
    work = _workdir()
    server, _ = start_simulator(strict_responses=True)
    try:
        env = {**os.environ, "USEAPI_BASE_URL": server.url + "/v1/ltxstudio", "LTX_MOCK_URL": server.url,
               "USEAPI_TOKEN": "demo-token"}
        run = subprocess.run(["node", "--test", "example.test.mjs"], cwd=work, env=env, capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "# pass 1" in run.stdout and "# fail 0" in run.stdout
    finally:
        server.stop()
