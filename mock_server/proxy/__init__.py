"""``ltx-mock proxy``: forward real traffic to the real service, judge it against the contract, record it.

- ``forward.py``: a streaming forwarder (WSGI), bytes in and out unchanged;
- ``violations.py``: each exchange through the contract's validators and semantic checks;
- ``recorder.py``: what was seen, as a scenario file with real run times and no secrets;
- ``app.py``: the three together, plus the safety rule and ``/__proxy/violations``;
- ``serve.py``: serving it (waitress: keep-alive, the upstream's own Server and Date), and writing the reports on exit.
"""

from mock_server.proxy.app import ProxyApp
from mock_server.proxy.serve import ProxyServer, run

__all__ = ["ProxyApp", "ProxyServer", "run"]
