"""The ``observe`` step off the request thread: the access log's queued lines (complete, in order, masked, each
once, written at a stop) and the metrics' queued counts (the same exposition prometheus-client's own ``Counter``
and ``Histogram`` give for the same requests)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ltxstudio_mock.pytest_plugin import start_simulator
from mock_server import access_log as access_log_module
from mock_server.access_log import AccessLog
from mock_server.metrics import BUCKETS, FOLD_AT, METHODS, NO_OPERATION, RequestCounts

SECRET = "lt_token=abc123secret"


def _request(log: AccessLog, i: int, thread: int = 0, query: str = "") -> None:
    log({"REMOTE_ADDR": "127.0.0.1", "QUERY_STRING": query}, "GET", f"/v1/ltxstudio/assets/{thread}-{i}", 200,
        0.001 * i, "getJob", "t_0123456789abcdef")


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_control_observe_access_log_queues_then_writes_every_line_once_in_order(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / "access.log"
    log = AccessLog(str(target), fmt, flush_every_s=3600)  # the writer thread never runs on its own here
    try:
        per_thread = 400
        threads = [threading.Thread(target=lambda t=t: [_request(log, i, t) for i in range(per_thread)])
                   for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert target.read_text() == ""  # queued, not yet written: no write on the request thread
        _request(log, 0, 9, query=f"x=1&{SECRET}")
        log.flush()
        lines = target.read_text().splitlines()
        assert len(lines) == 4 * per_thread + 1 and SECRET not in target.read_text()
        paths = [json.loads(x)["path"] if fmt == "json" else x.split('"')[1].split()[1] for x in lines]
        for t in range(4):  # every request once, each thread's in the order its answers were made
            assert [p for p in paths if p.split("/")[-1].startswith(f"{t}-")] == [
                f"/v1/ltxstudio/assets/{t}-{i}" for i in range(per_thread)]
        last = lines[-1]
        if fmt == "json":
            assert json.loads(last)["query"] == "x=1&lt_token=…secured…"
        else:
            assert last.endswith('"GET /v1/ltxstudio/assets/9-0?x=1&lt_token=…secured…" 200 0.00ms getJob '
                                 't_0123456789abcdef')
        _request(log, 1, 9)
    finally:
        log.close()  # writes what is queued (the request above), then nothing more
    assert len(target.read_text().splitlines()) == 4 * per_thread + 2
    _request(log, 2, 9)
    log.close()
    assert len(target.read_text().splitlines()) == 4 * per_thread + 2


def test_control_observe_access_log_writer_thread_and_server_stop(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer thread writes within its period; a server's stop writes what is still queued."""
    target = tmp_path / "thread.log"
    log = AccessLog(str(target), flush_every_s=0.01)
    try:
        _request(log, 1)
        for _ in range(500):  # bounded: 5 s
            if target.read_text():
                break
            threading.Event().wait(0.01)
        assert target.read_text().count("\n") == 1
    finally:
        log.close()
    monkeypatch.setattr(access_log_module, "FLUSH_EVERY_S", 3600)  # only the stop can write the lines
    served = tmp_path / "served.log"
    server, _ = start_simulator(access_log=str(served))
    try:
        for _ in range(3):
            assert requests.get(server.url + "/v1/ltxstudio/accounts", timeout=10).status_code == 401
    finally:
        server.stop()
    assert [line.split('"')[1] for line in served.read_text().splitlines()] == ["GET /v1/ltxstudio/accounts"] * 3


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text)
            for s in family.samples if not s.name.endswith("_created")}


def test_control_observe_queued_counts_expose_what_prometheus_clients_own_metrics_do() -> None:
    """The same requests through prometheus-client's ``Counter``/``Histogram`` and through the queue: one
    exposition (bucket edges included: a latency equal to a bound falls in that bound's bucket)."""
    requests_seen = [("getJob", "GET", 200, BUCKETS[i % len(BUCKETS)]) for i in range(FOLD_AT + 7)]
    requests_seen += [("createImage", "POST", 429, 0.0001), (None, "GET", 404, 99.0), ("getJob", "BREW", 405, 0.3),
                      ("getJob", "GET", 200, 0.0)]
    reference = CollectorRegistry()
    count = Counter("ltx_mock_http_requests", "x", ["operation", "method", "status"], registry=reference)
    latency = Histogram("ltx_mock_http_request_duration_seconds", "x", ["operation"], buckets=BUCKETS,
                        registry=reference)
    limited = Counter("ltx_mock_rate_limited", "x", ["operation"], registry=reference)
    counts = RequestCounts()
    for op, method, status, seconds in requests_seen:
        name = op or NO_OPERATION
        count.labels(name, method if method in METHODS else "OTHER", str(status)).inc()
        latency.labels(name).observe(seconds)
        if status == 429:
            limited.labels(name).inc()
        counts.append((op, method, status, seconds))
    assert len(counts.queue) < FOLD_AT  # folded by the request that queued the FOLD_AT-th
    ours = CollectorRegistry()
    ours.register(counts)
    assert _samples(generate_latest(ours).decode()) == _samples(generate_latest(reference).decode())


def test_control_observe_access_log_backlog_is_written_a_share_at_a_time(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer thread starved of the GIL: past QUEUE_MAX queued lines each request writes the oldest few."""
    monkeypatch.setattr(access_log_module, "QUEUE_MAX", 8)
    monkeypatch.setattr(access_log_module, "INLINE_LINES", 3)
    target = tmp_path / "backlog.log"
    log = AccessLog(str(target), flush_every_s=3600)
    try:
        for i in range(20):
            _request(log, i)
        written = target.read_text().splitlines()
        assert len(log.queue) < 8 and len(written) + len(log.queue) == 20 and len(written) % 3 == 0
        assert [line.split('"')[1] for line in written] == [f"GET /v1/ltxstudio/assets/0-{i}"
                                                            for i in range(len(written))]
    finally:
        log.close()
    assert len(target.read_text().splitlines()) == 20
