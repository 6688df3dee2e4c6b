"""The access log (``ltx-mock serve --access-log -|FILE [--log-format plain|json]``): one line per request.

Each line: the time (UTC, ms), the client address, method, path with its query, status, the time the simulator
took, the operationId and the tenant's label (``t_`` + a hash of its token: never the token). Nothing else of the
request is written: no header (so no ``Authorization``, ``Cookie`` or admin token), no body. Path and query are
masked by the one masking engine (``masking.mask_text``, ``masking.mask_query_string``: an ``lt_token=`` in a path,
a credential-named query parameter or a signature shows as ``…secured…``).

``plain``::

    2026-12-06T08:40:00.123Z 127.0.0.1 "POST /v1/ltxstudio/images/create" 200 1.84ms createImage t_3f0c9a1b2c4d5e6f

``json`` (one object a line): ``{"time", "remote", "method", "path", "query", "status", "durationMs",
"operationId", "tenant"}``.

Several ``--workers`` append to one file: each line is one ``write`` on a file opened in append mode, so lines
never interleave. Off by default: a CI log does not need a line per request unless asked (docs/service.md);
on, it costs a few microseconds a request (``benchmarks/observe_bench.py``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from typing import Any

from mock_server.masking import mask_query_string, mask_text

FORMATS = ("plain", "json")
_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # one encoder: no per-call set-up


def _printable(text: str) -> str:
    """``text`` with control characters escaped: a decoded ``%0A`` in a path cannot start a forged line."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def masked_query(query_string: str) -> str:
    """A raw query string as logged: the masking engine's (``masking.mask_query_string``), bounded."""
    return mask_query_string(query_string[:8192]) if query_string else ""


class AccessLog:
    """Writes one line per request to ``target`` (``-``: standard output; else a file, appended to).

    Each line is one ``os.write`` on a descriptor in append mode: whole lines from every thread and every
    ``--workers`` process, and ~5 us a line where the ``logging`` module's records, caller lookup and handler lock
    cost ~75 us (measured: ``benchmarks/observe_bench.py``, docs/performance.md).
    """

    def __init__(self, target: str, fmt: str = "plain") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        self.json = fmt == "json"
        self.own_fd = target != "-"
        self.fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if self.own_fd \
            else sys.stdout.fileno()
        self._second = -1
        self._stamp = ""

    def _time(self) -> str:
        """``2026-12-06T08:40:00.123Z``: the seconds part formatted once per second."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._stamp}.{int(now * 1000) % 1000:03d}Z"

    def __call__(self, environ: dict[str, Any], method: str, path: str, status: int, seconds: float,
                 operation: str | None, tenant: str | None) -> None:
        """Write the line of one answered request (the gateway's and Flask's ``observe`` step)."""
        stamp = self._time()
        query = environ.get("QUERY_STRING")
        query = masked_query(query) if query else ""
        path = mask_text(path[:2048])
        remote = environ.get("REMOTE_ADDR") or "-"
        if self.json:
            line = _DUMPS({"time": stamp, "remote": remote, "method": method, "path": path, "query": query,
                               "status": status, "durationMs": round(seconds * 1000, 3), "operationId": operation,
                               "tenant": tenant})
        else:
            target = _printable(path + ("?" + query if query else ""))
            line = (f'{stamp} {remote} "{_printable(method)} {target}" {status} {seconds * 1000:.2f}ms '
                    f"{operation or '-'} {tenant or '-'}")
        with contextlib.suppress(OSError):  # a full disk or a closed stdout must never fail the request it describes
            os.write(self.fd, (line + "\n").encode("utf-8", "replace"))

    def close(self) -> None:
        if self.own_fd:
            os.close(self.fd)


def configure_logging(level: str) -> None:
    """``--log-level``: the level of the simulator's loggers (``ltx_mock.*``), written to stderr with the time.

    Idempotent (each ``--workers`` process calls it as its app is built). The access log has its own handler
    and is not affected.
    """
    root = logging.getLogger("ltx_mock")
    root.setLevel(level.upper())
    if not any(getattr(h, "ltx_mock", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.ltx_mock = True  # type: ignore[attr-defined]
        root.addHandler(handler)
