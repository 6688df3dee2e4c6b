"""HTTP fault injection, the HTTP half: a matched fault rule turned into latency, an error or a broken connection.

The rules and their state (which requests, how many left, hits) belong to the simulator: ``sim/faults.py``,
one ``Faults`` per Simulator (``sim.faults``), shared by the app, the control API and scenarios. This module
only shapes the answer: :func:`apply_before` (the pipeline's ``inject_fault`` step) and :func:`shape_body`
(its ``answer`` step, for faults that spoil the simulator's own answer).

Connection faults, each what a real network or a broken front end does to a client:

``drop``            headers promising a body that never comes, then close
``truncated_body``  the simulator's answer, cut half-way (its full Content-Length promised), then close
``dribble``         the simulator's answer, ``dribble_bps`` bytes a second
``reset``           a TCP reset before any byte of an answer
``empty_reply``     the connection closed (FIN) before any byte of an answer
``garbage``         bytes that are no HTTP at all, then close
``malformed_chunk`` a chunked answer whose chunk size line is not hexadecimal, then close

The last four break the connection below HTTP (``wire.py`` finds the socket under any server). With no socket
(the in-process mode) the answer carries :data:`CONNECTION_FAULT_HEADER` instead, and ``inprocess.py`` raises
what each HTTP library raises for that network failure.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Response

from mock_server import wire
from mock_server.errors import ApiError
from mock_server.sim.faults import Faults, retry_after_header
from mock_server.views import slot_released

CONNECTION_FAULT_HEADER = "X-Ltx-Mock-Connection-Fault"  # the in-process mode's signal (no socket to break)
RAW_KINDS = ("reset", "empty_reply", "garbage", "malformed_chunk")  # broken below HTTP, before the view
BODY_KINDS = ("truncated_body", "dribble")  # the view answers; its bytes are spoiled on the way out
GARBAGE = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not HTTP \xff\xfe\x00\r\n\r\n"
MALFORMED_CHUNKED = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\n8\r\n{\"jobId\"\r\nZZ-not-hex\r\n:\"x\"}\r\n0\r\n\r\n")
BREAK = "ltx.break"  # environ: the (kind, socket) of a connection to break once the request is journalled
DRAIN_MAX = 1 << 20  # a broken connection's request body is read first, up to this much (see ``_drain``)
DRIBBLE_PIECE_S = 0.05  # a dribble writes every 50 ms (bps / 20 bytes at a time, at least one)


def apply_before(faults: Faults, rule: dict[str, Any], environ: dict[str, Any] | None = None,
                 now_ms: int = 0) -> Response | None:
    """Sleep for latency faults; answer now for status, drop and raw connection faults (None: carry on).

    The sleep gives the request's server slot back (``environ["ltx.admission"]``, as a pollForResult wait
    does): a write sleeping here must not stop the worker's other writes (``delay_ms`` has sent what the
    request wrote first, so it holds nothing of the store either)."""
    delay = faults.delay_ms(rule)
    if delay:
        with slot_released(environ.get("ltx.admission") if environ else None):
            time.sleep(delay / 1000)
    kind = rule.get("connection") or ("drop" if rule.get("drop") else None)
    if kind == "drop":
        # Promise a body that never comes and close: the client sees the connection drop mid-response.
        resp = Response(b"", status=200, mimetype="application/json")
        resp.headers["Content-Length"] = "1024"
        resp.headers["Connection"] = "close"
        return resp
    if kind in RAW_KINDS:
        return break_connection(kind, environ or {})
    if rule.get("status"):
        headers: tuple[tuple[str, str], ...] = ()
        if rule.get("retry_after") is not None:
            headers = (retry_after_header(int(rule["retry_after"]), rule.get("retry_after_format") or "seconds",
                                          now_ms),)
        raise ApiError(int(rule["status"]), faults.message(rule), headers)
    return None


def break_connection(kind: str, environ: dict[str, Any]) -> Response:
    """The answer of a fault that breaks the client's connection below HTTP: what the server then fails to send
    (or, with no socket, the in-process mode's signal; promised bytes that never come, for anyone else).

    The connection is found now, as the request arrives (under granian, which gives no client port,
    ``wire.client_socket`` takes the client's connection that received data last and has answered nothing since:
    looked up later, another request of the same client could be that one), and the request's body is read
    (``_drain``). It is broken when the answer is sent (:func:`break_before_sending`), after the request is
    journalled: a client that reads the journal as soon as its request failed finds the entry (broken here, a
    quick reader could miss it). ``environ[BREAK]`` holds it until then; a request run again (the store refused its
    writes) keeps it, and it is broken whatever the later attempts answer, as when the fault broke it at once."""
    resp = Response(b"", status=200, mimetype="application/json")
    resp.headers["Content-Length"] = "1024"
    resp.headers["Connection"] = "close"
    held = environ.get(BREAK)
    sock = held[1] if held is not None else wire.client_socket(environ)
    if sock is None:
        resp.headers[CONNECTION_FAULT_HEADER] = kind
        return resp
    _drain(environ)
    environ[BREAK] = (kind, sock)
    return resp


def break_before_sending(environ: dict[str, Any]) -> None:
    """Break the connection :func:`break_connection` held for this request, if any (the pipeline's last step, or its
    failure answer's)."""
    held = environ.pop(BREAK, None)
    if held is None:
        return
    kind, sock = held
    try:
        if kind == "reset":
            wire.reset(sock, environ)
        else:
            try:
                if kind == "garbage":
                    sock.sendall(GARBAGE + os.urandom(32))
                elif kind == "malformed_chunk":
                    sock.sendall(MALFORMED_CHUNKED)
            except OSError:
                pass  # the client went first
            wire.finish(sock)
    finally:
        sock.close()


def _drain(environ: dict[str, Any]) -> None:
    """Read the request's body before breaking its connection. A client still sending meets the break on its write,
    and httpx (httpcore) then swallows the write error and reports the end of stream it reads next: a
    ``RemoteProtocolError`` where a reset after the request went out is a ``ReadError``. werkzeug reads a body only
    when the app does, and a loaded client sends the body after the headers a moment later: the reset fault's test
    saw the former now and then. (granian's front has read the whole body before the app runs.) The bytes read stay
    the request's body (``wsgi.input``), which the journal reads after."""
    length = environ.get("CONTENT_LENGTH") or ""
    stream = environ.get("wsgi.input")
    if stream is None or not length.isdigit():
        return
    left = min(int(length), DRAIN_MAX)
    chunks: list[bytes] = []
    with contextlib.suppress(Exception):  # the client went first: there is nothing more to wait for
        while left > 0:
            chunk = stream.read(min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    environ["wsgi.input"] = io.BytesIO(b"".join(chunks))


def shape_body(rule: dict[str, Any] | None, headers: list[tuple[str, str]], payload: bytes,
               environ: dict[str, Any] | None = None) -> tuple[list[tuple[str, str]], Iterable[bytes]] | None:
    """The answer of a ``truncated_body`` or ``dribble`` fault: (headers, body); None for any other rule.
    ``environ``: the request's, whose server slot a dribble gives back while it sleeps."""
    kind = rule.get("connection") if rule else None
    if kind not in BODY_KINDS or not payload:
        return None
    assert rule is not None
    if kind == "truncated_body":
        return [*headers, ("Connection", "close")], [payload[: len(payload) // 2]]
    admission = environ.get("ltx.admission") if environ else None
    return headers, dribble(payload, float(rule.get("dribble_bps") or 256), admission)


def dribble(payload: bytes, bps: float, admission: Any = None) -> Iterator[bytes]:
    """``payload`` a few bytes at a time, at ``bps`` bytes a second (real seconds: a socket is real). After the
    first piece the request's server slot is given back (the store's work is done: only the socket is slow), so
    a dribbled answer does not stop the worker's other writes; it is taken again once the last piece is out."""
    step = max(1, int(bps * DRIBBLE_PIECE_S))
    yield payload[:step]
    if len(payload) <= step:
        return
    with slot_released(admission):
        for i in range(step, len(payload), step):
            time.sleep(step / bps)
            yield payload[i:i + step]
