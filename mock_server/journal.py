"""The request journal, HTTP side: what one exchange records, and when its secrets are masked (with the one
masking engine, ``mock_server/masking.py``).

The pipeline's ``record`` step appends an :class:`Entry` made from the in-flight request (``Entry.of``): the
raw bytes and a few fields, no parsing and no masking, so the journal costs the hot path a few microseconds.
``masked()`` builds the stored form (headers, query, path and bodies masked) when someone reads it
(``GET /__admin/requests``, the dashboard), once per entry. Where the entries are kept, bounded and filtered is
the simulation's (``mock_server/sim/journal.py``: this process's ring, or the shared store with several
workers). Tests read it through ``GET /__admin/requests`` to assert exactly what their code sent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from werkzeug.datastructures import EnvironHeaders
from werkzeug.wrappers import Request

from mock_server.masking import SECURED, mask_headers, mask_query, mask_raw, mask_text
from mock_server.sim.journal import ENTRY, ENTRY_OVERHEAD, INDEX, MAX_BYTES, Journal, entry_size, render

if TYPE_CHECKING:
    from mock_server.views import InFlight

__all__ = ["ENTRY", "INDEX", "MAX_BYTES", "SECURED", "Entry", "Journal", "entry_size", "mask_form", "mask_headers",
           "mask_query", "mask_text", "raw_body", "render"]
JSON = "application/json"

BODY_LIMIT = 16 * 1024  # characters of one body kept (request and response each); the rest is cut ("…")
HEADER_NAME = 16  # a header's name, as counted towards the byte cap (the values are counted exactly)
RAW_LIMIT = 65536  # a request body above this (Content-Length) is logged as its size and type only


FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def mask_form(form: Mapping[str | None, str | None]) -> dict[str, str]:
    """Form fields as logged: each value bounded and masked (``masking.mask_query``: credential names secured).

    A part whose name werkzeug cannot read (e.g. ``name="x\\"``: the quote escaped) comes with the name None.
    """
    return mask_query({(k or "")[:256]: (v or "")[:BODY_LIMIT] for k, v in form.items()})


def raw_body(raw: bytes, mimetype: str | None) -> str | None:
    """A body as stored: masked text bounded to BODY_LIMIT, or a size note for binaries. Cheap: no parsing."""
    if not raw:
        return None
    if mimetype and not (mimetype.startswith("text/") or "json" in mimetype or "form" in mimetype):
        return f"<{len(raw)} bytes {mimetype}>"
    if len(raw) > 4 * BODY_LIMIT:
        # Masked whole when it can still be parsed cheaply; beyond that only its first part is kept anyway.
        text = mask_raw(raw[:BODY_LIMIT].decode("utf-8", "replace"))
    else:
        text = mask_raw(raw.decode("utf-8", "replace"))
    return text[:BODY_LIMIT] + ("…" if len(text) > BODY_LIMIT or len(raw) > 4 * BODY_LIMIT else "")




def journal_body(req: Request, mimetype: str) -> bytes | str | dict[str, str] | None:
    """A request's body as the journal keeps it: a form's fields masked, else the bytes (up to ``RAW_LIMIT``, masked
    when read), else its size and type (a body a view streamed without caching, such as an upload, or a large one)."""
    length = req.content_length
    readable = (length or 0) <= (req.max_content_length or float("inf"))  # else reading it: 413
    if mimetype in FORM_TYPES and readable and req.form:
        return mask_form(req.form.to_dict())  # type: ignore[arg-type]  # werkzeug's key None: a nameless part
    data = req.get_data(cache=True) if readable and length and length <= RAW_LIMIT else b""
    if data:
        return data
    return f"<{length} bytes {mimetype}>" if length else None


def environ_headers(environ: dict[str, Any]) -> dict[str, str]:
    """The header part of a WSGI environ, copied as it is (``EnvironHeaders`` reads it back at render time)."""
    headers = {k: v for k, v in environ.items() if k[:5] == "HTTP_"}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if key in environ:
            headers[key] = environ[key]
    return headers


def _kept(raw: bytes | str | dict[str, str] | None, mimetype: str | None) -> bytes | str | dict[str, str] | None:
    """A body as the ring keeps it: raw bytes up to BODY_LIMIT (masked when read), else already cut and masked."""
    if isinstance(raw, bytes) and len(raw) > BODY_LIMIT:
        return raw_body(raw, mimetype)  # a large body: cut now, so the ring never holds more than it counts
    return raw


def _chars(value: bytes | str | dict[str, str] | None) -> int:
    if value is None:
        return 0
    if isinstance(value, dict):
        return sum(len(k) + len(v) for k, v in value.items())
    return len(value)


class Entry:
    """One request and its answer as recorded: raw, unmasked, in this process only; ``masked()`` is what is shown.

    Not the in-flight request itself (``views.InFlight``): that holds the environ, the request body's stream and
    the simulation; an entry keeps only bytes and a few fields, so the ring's byte cap is what it costs.

    ``body`` is the request body's bytes (masked when read), or text already summarised (``<N bytes type>``), or a
    form's fields already masked (``mask_form``: forms are rare, and can be large); ``response`` the answer's bytes.
    """

    __slots__ = ("_masked", "body", "body_type", "duration_ms", "fault", "headers", "method", "operation", "path",
                 "query_string", "response", "response_type", "sim_ms", "size", "status", "stub", "stub_violation",
                 "tenant", "time_ms", "time_us")

    def __init__(self, *, sim_ms: int | None, method: str, path: str, query_string: str, headers: dict[str, str],
                 body: bytes | str | dict[str, str] | None, body_type: str | None, status: int, response: bytes,
                 response_type: str | None, duration_ms: float, operation: str | None, tenant: str | None,
                 fault: str | None, stub: str | None = None, stub_violation: str | None = None) -> None:
        """``stub``: the id of the stub that answered; ``stub_violation``: how that answer breaks openapi.yaml
        (allowed: it is the stub's doing, and marked so)."""
        self.time_us = time.time_ns() // 1000  # when it was answered: the order a shared journal keeps
        self.time_ms = self.time_us // 1000
        self.sim_ms = sim_ms
        self.method = method
        self.path = path[:2048]
        self.query_string = query_string[:RAW_LIMIT]
        self.headers = headers
        self.body = _kept(body, body_type)
        self.body_type = body_type
        self.status = status
        self.response = _kept(response, response_type)
        self.response_type = response_type
        self.duration_ms = duration_ms
        self.operation = operation
        self.tenant = tenant
        self.fault = fault
        self.stub = stub
        self.stub_violation = stub_violation
        self.size = (ENTRY_OVERHEAD + len(self.path) + len(self.query_string) + _chars(self.body)
                     + _chars(self.response) + sum(map(len, headers.values())) + HEADER_NAME * len(headers))
        self._masked: dict[str, Any] | None = None

    @classmethod
    def of(cls, call: InFlight) -> Entry:
        """The entry of an answered request (the pipeline's ``record`` step)."""
        environ = call.environ
        body: bytes | str | dict[str, str] | None = environ.get("ltx.body")  # read by the pipeline's json_body
        if body is not None:
            mimetype = JSON
            body = body or None
        elif environ.get("CONTENT_LENGTH") or "HTTP_TRANSFER_ENCODING" in environ:
            mimetype = call.request.mimetype
            body = journal_body(call.request, mimetype)
        else:
            mimetype = call.request.mimetype if environ.get("CONTENT_TYPE") else ""
        op, stub, fault = call.op, call.stub, call.fault
        return cls(
            sim_ms=call.now or None, method=call.method, path=call.path, query_string=environ.get("QUERY_STRING", ""),
            headers=environ_headers(environ), body=body, body_type=mimetype, status=call.status,
            response=call.payload, response_type=call.content_type,
            duration_ms=round((time.perf_counter() - call.t0) * 1000, 3),
            operation=op.operation_id if op is not None and call.reached else None, tenant=call.tenant or None,
            fault=fault.get("id") if fault else None, stub=stub["id"] if stub else None,
            stub_violation=call.violation)

    def masked(self) -> dict[str, Any]:
        """The stored form (``GET /__admin/requests`` before bodies are parsed): every secret masked. Built once."""
        if self._masked is None:
            body = self.body
            if isinstance(body, bytes):
                body = raw_body(body, self.body_type)
            response = self.response
            if isinstance(response, bytes):
                response = raw_body(response, self.response_type)
            query = {}
            if self.query_string:
                query = mask_query(Request({"QUERY_STRING": self.query_string}).args.to_dict(flat=True))
            self._masked = {
                "time_ms": self.time_ms, "sim_ms": self.sim_ms, "method": self.method, "path": mask_text(self.path),
                "query": query, "headers": mask_headers(EnvironHeaders(self.headers)), "body": body,
                "body_type": self.body_type, "status": self.status, "response": response,
                "response_type": self.response_type, "duration_ms": self.duration_ms, "operation": self.operation,
                "tenant": self.tenant, "fault": self.fault}
            if self.stub is not None:
                self._masked.update(stub=self.stub, stub_violation=self.stub_violation)
        return dict(self._masked)
