"""Serving the proxy: waitress, in this process (the violations and the recording live in the app), and the
reports written when it stops (Ctrl-C, SIGTERM).

waitress because it speaks HTTP/1.1 as a proxy must: connections are kept alive to the caller (werkzeug's
server closes every one), and it adds ``Server`` and ``Date`` only when the answer has none, so the caller sees
the upstream's own (and a ``Via`` naming the proxy). It reads each request body before the app runs, so an
unread body never corrupts the next request on a kept-alive connection. Each request holds one thread while
the upstream answers, so a long ``pollForResult`` wait holds only its own: ``THREADS`` of them at once.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from types import FrameType
from typing import Any, Self

from mock_server.masking import install_log_filter
from mock_server.proxy.app import ProxyApp

THREADS = 64  # requests (pollForResult waits included) served at once
IDLE_TIMEOUT_S = 120  # a kept-alive connection with no request for this long is closed
IDENT = "ltx-mock-proxy"  # the Via header's name for the proxy (the Server header is the upstream's)


def _server(app: ProxyApp, host: str, port: int) -> Any:
    import waitress

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    install_log_filter("waitress", "ltxstudio_mock.proxy")
    return waitress.create_server(app, host=host, port=port, threads=THREADS, channel_timeout=IDLE_TIMEOUT_S,
                                  ident=IDENT, max_request_body_size=256 * 1024 * 1024, expose_tracebacks=False,
                                  asyncore_use_poll=True, clear_untrusted_proxy_headers=True)


def run(app: ProxyApp, host: str, port: int, *, junit_xml: str | None = None, record: str | None = None,
        banner: str = "") -> None:
    """Serve until SIGINT or SIGTERM, then write the JUnit report and the scenario."""
    server = _server(app, host, port)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    if banner:
        print(banner.format(port=server.effective_port), flush=True)
    try:
        server.run()  # returns on KeyboardInterrupt (waitress catches it and stops its threads)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        _close(server)
        app.finish(junit_xml=junit_xml, record=record)
        written = [f"{what} {path}" for what, path in (("JUnit report", junit_xml), ("scenario", record)) if path]
        count = len(app.violations.items)
        print(f"ltx-mock proxy stopped: {count} violation(s)" + (f"; wrote {', '.join(written)}" if written else ""),
              file=sys.stderr, flush=True)


def _close(server: Any) -> None:
    """Close the listening socket and every connection, and stop the worker threads."""
    from waitress import wasyncore

    server.task_dispatcher.shutdown(timeout=1)
    wasyncore.close_all(server._map)


class ProxyServer:
    """The proxy on a free loopback port inside this process (tests), on the same server the command uses."""

    def __init__(self, app: ProxyApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self._server = _server(app, host, port)
        self.port: int = self._server.effective_port
        self._thread = threading.Thread(target=self._run, name="ltx-mock-proxy", daemon=True)

    def _run(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # the map closed under the loop by stop()
            self._server.run()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        from waitress import wasyncore

        # Closed from inside its own I/O loop (the trigger runs the thunk there), which then ends at once: closing
        # from this thread would leave the loop asleep in poll() for its 1 s timeout.
        try:
            self._server.trigger.pull_trigger(lambda: wasyncore.close_all(self._server._map))
        except OSError:  # the trigger's pipe is already closed (seen under load, EBADF): close from this thread
            _close(self._server)
        self._thread.join(timeout=5)
        _close(self._server)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
