"""Serving the app: a production server for ``ltx-mock serve``, an in-thread one for tests.

The WSGI server was chosen by measurement (``benchmarks/http_bench.py``,
``docs/performance.md``): granian (a Rust HTTP server) serves this Flask app
several times faster than waitress or gunicorn on this 2-core class of machine.
The choice stays swappable with ``--server``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from typing import Any

from ltxstudio_mock.mock_server.config import SimConfig
from werkzeug.serving import BaseWSGIServer, make_server

CONFIG_ENV = "LTX_MOCK_CONFIG"
WORKERS_ENV = "LTX_MOCK_WORKERS"
SERVERS = ("granian", "waitress", "werkzeug")


def granian_options(threads: int) -> dict[str, Any]:
    """How granian runs a WSGI app here: ``threads`` blocking threads, and at most that many requests in Python.

    Measured (wrk -c16, GET /scheduler/available, docs/performance.md): with more requests in flight than
    threads, granian's threads and its Rust runtime fight over the GIL and p99 climbs to hundreds of
    milliseconds (up to 1.3 s); capping in-flight requests at the thread count (``backpressure``) keeps
    p99 at ~14 ms. One thread would be faster still, but a ``pollForResult`` wait would then stall
    every other client.
    """
    return {"blocking_threads": threads, "backpressure": threads}


def app_from_env() -> Any:
    """Granian's factory target: rebuild the config the CLI put in the environment."""
    from ltxstudio_mock.mock_server.app import create_app

    config = SimConfig(**json.loads(os.environ[CONFIG_ENV]))
    if config.seed is not None and int(os.environ.get(WORKERS_ENV, "1")) > 1:
        # N processes replaying one seeded stream would mint the same job and asset ids:
        # give each worker its own stream (several workers are not reproducible anyway).
        config.seed = config.seed * 1_000_003 + os.getpid()
    return create_app(config)


def run(config: SimConfig, host: str, port: int, *, server: str = "granian", workers: int = 1,
        threads: int = 8) -> None:
    """Serve until interrupted."""
    if server == "granian":
        from granian import Granian
        from granian.constants import Interfaces

        os.environ[CONFIG_ENV] = json.dumps(dataclasses.asdict(config))
        os.environ[WORKERS_ENV] = str(workers)
        # respawn_failed_workers: a worker that dies (even SIGKILL) is replaced; without it granian
        # shuts the whole server down. State lives in the shared store, so nothing is lost.
        Granian("ltxstudio_mock.mock_server.server:app_from_env", address=host, port=port, interface=Interfaces.WSGI,
                workers=workers, factory=True, log_level="error", **granian_options(threads),
                backlog=2048, respawn_failed_workers=True).serve()
        return
    from ltxstudio_mock.mock_server.app import create_app

    app = create_app(config)
    if server == "waitress":
        import waitress

        waitress.serve(app, host=host, port=port, threads=threads, _quiet=True)
    else:
        make_server(host, port, app, threaded=True).serve_forever()


class ServerThread:
    """A live simulator on a free loopback port inside this process (tests, the pytest plugin)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="ltx-mock-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        worker = self.app.extensions.get("ltx_worker")
        if worker is not None:
            worker.stop()
