"""Benchmarks of the simulator: HTTP throughput against peers, job throughput, start-up, validation cost.

Each module runs on its own (``python -m benchmarks.http_bench``) and from
``python -m benchmarks.run`` (``make bench``); each prints a table and writes its
figures as JSON to ``benchmarks/results/`` (gitignored). Everything here talks
to loopback only, and every load is bounded in time.

This module holds what the benchmarks share: where things are, the machine's
description (figures mean nothing without it), free ports, a simulator (or any
server) in a subprocess with its resident memory, and the table/JSON output.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import requests

from contracts.demo import DEMO_EMAIL as DEMO_EMAIL  # re-exported: the benchmarks import both from here
from contracts.demo import DEMO_TOKEN

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
PYTHON = sys.executable
API = "/v1/ltxstudio"
AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}


# -- the machine -----------------------------------------------------------
def machine_info() -> dict[str, Any]:
    """nproc, CPU model, memory and load: the context every figure needs (the machine may be shared)."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_total_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": list(os.getloadavg()),
    }
    for pkg in ("flask", "granian", "waitress", "werkzeug"):
        try:
            from importlib.metadata import version

            info[pkg] = version(pkg)
        except Exception:
            info[pkg] = None
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
        info["wrk"] = (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "wrk"
    return info


# -- ports and processes ---------------------------------------------------
def free_port() -> int:
    """A loopback port nobody is bound to right now (bound without SO_REUSEPORT, so a granian there shows)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants (granian serves from a child process of ``ltx-mock serve``)."""
    out = [pid]
    i = 0
    while i < len(out):
        p = out[i]
        i += 1
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                out.extend(int(c) for c in children if int(c) not in out)
        except OSError:
            continue
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by these processes (``/proc/<pid>/stat``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return total / tick


def rss_mb(pid: int, *, tree: bool = True) -> float:
    """Resident memory (VmRSS) of a process, summed over its tree by default."""
    total_kb = 0
    for p in tree_pids(pid) if tree else [pid]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return round(total_kb / 1024, 1)


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) over a process tree: each process's own high-water mark, summed."""
    total_kb = 0
    for p in tree_pids(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return round(total_kb / 1024, 1)


class ServerProcess:
    """A server in a subprocess on a free loopback port; ready once ``ready_path`` answers 200.

    Used for the simulator (``ltx-mock serve``), the bare-Flask ceiling and the peers. ``stop``
    interrupts the whole process group, so granian's worker or a JVM never outlives a benchmark.
    """

    def __init__(self, argv: Sequence[str], port: int, *, ready_path: str = "/__admin/state",
                 ready_headers: dict[str, str] | None = None, env: dict[str, str] | None = None,
                 cwd: Path | None = None, name: str = "server", ready_timeout: float = 60.0) -> None:
        self.argv = list(argv)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ready_path = ready_path
        self.ready_headers = ready_headers or {}
        self.env = env
        self.cwd = cwd or ROOT
        self.name = name
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)  # noqa: SIM115
        self.started_at = 0.0
        self.ready_after_s: float | None = None

    def start(self) -> ServerProcess:
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.wait_ready()
        return self

    def wait_ready(self) -> float:
        """Poll until the ready path answers 200; the seconds it took since start."""
        assert self.proc is not None
        deadline = self.started_at + self.ready_timeout
        session = requests.Session()
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.tail()}")
            try:
                resp = session.get(self.url + self.ready_path, headers=self.ready_headers, timeout=1)
                if resp.status_code == 200:
                    self.ready_after_s = time.perf_counter() - self.started_at
                    return self.ready_after_s
            except requests.RequestException:
                pass
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {self.ready_timeout}s: {self.tail()}")

    def tail(self, n: int = 2000) -> str:
        try:
            return Path(self.log.name).read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid) if self.proc else 0.0

    def stop(self) -> None:
        """SIGINT the process group, then SIGKILL whatever is left after a few seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(timeout=5)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):  # a lingering granian worker
            os.killpg(self.proc.pid, signal.SIGKILL)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


def simulator(*args: str, port: int | None = None, name: str = "simulator") -> ServerProcess:
    """``ltx-mock serve`` (production server, default options unless ``args`` say otherwise), not started."""
    port = port or free_port()
    argv = [PYTHON, "-m", "mock_server.cli", "serve", "--port", str(port), *args]
    return ServerProcess(argv, port, name=name)


def admin(url: str, method: str, path: str, body: Any = None) -> Any:
    """One control-API call; raises on an error status."""
    resp = requests.request(method, f"{url}/__admin{path}", json=body, timeout=30)
    resp.raise_for_status()
    return resp.json() if resp.content else None


def cpu_us(fn: Callable[[], Any], n: int, warmup: int = 1) -> float:
    """Best of three CPU-time runs of ``n`` calls, in microseconds per call, after ``warmup`` calls (CPU time:
    other work on a shared machine does not count)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - t0) / n * 1e6)
    return round(best, 1)


# -- output ----------------------------------------------------------------

def write_results(name: str, data: dict[str, Any]) -> Path:
    """``benchmarks/results/<name>-<UTC time>.json`` plus ``<name>-latest.json``; returns the first."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    payload = {"benchmark": name, "at": stamp, "machine": machine_info(), **data}
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    text = json.dumps(payload, indent=2, default=str)
    path.write_text(text)
    (RESULTS_DIR / f"{name}-latest.json").write_text(text)
    return path


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table (numbers right-aligned), ready to print or paste into docs as a code block."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [all(_is_num(row[i]) for row in rows) if rows else False for i in range(len(headers))]
    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if numeric[i] else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths,
                                                                                                   strict=True)))
    out = [title, line(list(headers)), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out)


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) or value is None


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value >= 1000:
            return f"{value:,.0f}"
        if value >= 100:
            return f"{value:.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def emit(text: str) -> None:
    """Print now (benchmarks run long; show each table as soon as it is ready)."""
    print(text, flush=True)
