"""Serving the proxy: werkzeug's threaded server (one thread per connection, so a long ``pollForResult``
wait holds only its own), and the reports written when it stops (Ctrl-C, SIGTERM).

The simulator's production server (waitress, behind an admission limit of a few request threads) is not
used here: long upstream waits would hold those slots, and the proxy's cost is the upstream's latency,
not its own.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

from ltxstudio_mock.mock_server.proxy.app import ProxyApp
from ltxstudio_mock.mock_server.server import ServerThread
from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request: stderr is for violations."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def _server(app: ProxyApp, host: str, port: int) -> BaseWSGIServer:
    server = ThreadedWSGIServer(host, port, app, handler=_QuietHandler)  # what make_server(threaded=True) builds
    server.daemon_threads = True
    return server


def run(app: ProxyApp, host: str, port: int, *, junit_xml: str | None = None, record: str | None = None,
        banner: str = "") -> None:
    """Serve until SIGINT or SIGTERM, then write the JUnit report and the scenario."""
    server = _server(app, host, port)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    if banner:
        print(banner.format(port=server.server_port), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
        app.finish(junit_xml=junit_xml, record=record)
        written = [f"{what} {path}" for what, path in (("JUnit report", junit_xml), ("scenario", record)) if path]
        count = len(app.violations.items)
        print(f"ltx-mock proxy stopped: {count} violation(s)" + (f"; wrote {', '.join(written)}" if written else ""),
              file=sys.stderr, flush=True)


class ProxyServer(ServerThread):
    """The proxy on a free loopback port inside this process (tests): the simulator's test server, quiet."""

    def __init__(self, app: ProxyApp, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(app, host, port, handler=_QuietHandler)
