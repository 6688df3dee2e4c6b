"""The peers the simulator is measured against: Prism and WireMock serving ``openapi.yaml``.

Both come from the npm registry and are installed on first use under
``benchmarks/.peers`` (gitignored): ``@stoplight/prism-cli`` (Prism 5 mocks the
spec itself, answering each operation's first example) and ``wiremock`` (the
package ships WireMock's standalone jar; it runs on the JVM). WireMock does not
read OpenAPI, so it gets one stub per benchmarked operation whose body is that
operation's example from ``openapi.yaml``: the same bytes Prism and the
bare-Flask ceiling answer with.

A peer whose runtime (node for Prism, java for WireMock) or install fails is
skipped with a message saying why; the benchmark goes on without it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import requests

from benchmarks import ROOT, ServerProcess, free_port
from contracts.spec import load_spec, resolve_refs

PEERS_DIR = ROOT / "benchmarks" / ".peers"
PACKAGES = ("@stoplight/prism-cli@5", "wiremock@3")
SPEC = ROOT / "openapi.yaml"


def example(operation_id: str, status: str = "200") -> Any:
    """The first documented example of an operation's response (what Prism answers with)."""
    spec = load_spec(str(SPEC))
    for item in spec["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                resp = resolve_refs(op["responses"][status], spec)
                media = resp["content"]["application/json"]
                if "example" in media:
                    return media["example"]
                return next(iter(media["examples"].values()))["value"]
    raise KeyError(operation_id)


def install(*, quiet: bool = True) -> tuple[dict[str, Path], dict[str, str]]:
    """Install the peers if needed; ({peer: executable or jar}, {peer: why it is skipped})."""
    found: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    prism = PEERS_DIR / "node_modules" / ".bin" / "prism"
    jars = sorted((PEERS_DIR / "node_modules" / "wiremock").glob("**/wiremock-standalone-*.jar"))
    if not shutil.which("node") or not shutil.which("npm"):
        return {}, {"prism": "node/npm not found on PATH", "wiremock": "npm not found on PATH (the jar comes from npm)"}
    if not prism.exists() or not jars:
        PEERS_DIR.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(PEERS_DIR), *PACKAGES],
                             capture_output=True, text=True, timeout=600, check=False)
        if out.returncode != 0:
            why = f"npm install failed: {(out.stderr or out.stdout)[-300:]}"
            return {}, {"prism": why, "wiremock": why}
        jars = sorted((PEERS_DIR / "node_modules" / "wiremock").glob("**/wiremock-standalone-*.jar"))
    if prism.exists():
        found["prism"] = prism
    else:
        skipped["prism"] = "prism binary missing after npm install"
    if not shutil.which("java"):
        skipped["wiremock"] = "java not found on PATH"
    elif jars:
        found["wiremock"] = jars[-1]
    else:
        skipped["wiremock"] = "wiremock-standalone jar missing after npm install"
    return found, skipped


def prism_server(binary: Path) -> ServerProcess:
    """Prism mocking openapi.yaml (static examples), paths without the /v1/ltxstudio prefix."""
    port = free_port()
    argv = [str(binary), "mock", "-h", "127.0.0.1", "-p", str(port), str(SPEC)]
    return ServerProcess(argv, port, ready_path="/scheduler/available",
                         ready_headers={"Authorization": "Bearer demo-token"}, name="prism")


class WireMockServer(ServerProcess):
    """WireMock standalone with stubs made from openapi.yaml's examples."""

    def start(self) -> WireMockServer:
        super().start()
        stubs = [
            {"request": {"method": "GET", "urlPath": "/v1/ltxstudio/scheduler/available"},
             "response": {"status": 200, "jsonBody": example("getSchedulerAvailable"),
                          "headers": {"Content-Type": "application/json"}}},
            {"request": {"method": "GET", "urlPathPattern": "/v1/ltxstudio/assets/email:.+"},
             "response": {"status": 200, "jsonBody": example("getJob"),
                          "headers": {"Content-Type": "application/json"}}},
            {"request": {"method": "POST", "urlPath": "/v1/ltxstudio/images/create"},
             "response": {"status": 200, "jsonBody": example("createImage"),
                          "headers": {"Content-Type": "application/json"}}},
        ]
        for stub in stubs:
            requests.post(f"{self.url}/__admin/mappings", data=json.dumps(stub), timeout=30).raise_for_status()
        return self


JOURNAL_CAP = 10_000  # the simulator's journal keeps the last 10,000 requests: WireMock gets the same cap


def wiremock_server(jar: Path) -> WireMockServer:
    """WireMock 3 standalone on the JVM; its request journal on (the default) and capped like the
    simulator's (10,000), so both record every request they answer."""
    port = free_port()
    argv = ["java", "-jar", str(jar), "--port", str(port), "--bind-address", "127.0.0.1", "--disable-banner",
            "--max-request-journal-entries", str(JOURNAL_CAP)]
    return WireMockServer(argv, port, ready_path="/__admin/mappings", name="wiremock", ready_timeout=90)


def wiremock_journal(url: str) -> dict[str, Any]:
    """How many requests WireMock's journal holds now: more than 0 proves it on; after a load of more than
    ``JOURNAL_CAP`` requests it holds exactly the cap (``at_cap``), which proves the cap."""
    resp = requests.get(f"{url}/__admin/requests", params={"limit": 1}, timeout=30)
    resp.raise_for_status()
    total = int(resp.json().get("meta", {}).get("total", 0))
    return {"entries": total, "cap": JOURNAL_CAP, "on": total > 0, "at_cap": total == JOURNAL_CAP}


if __name__ == "__main__":
    have, why = install(quiet=False)
    for name, path in have.items():
        print(f"{name}: {path}")
    for name, reason in why.items():
        print(f"{name}: skipped ({reason})")
