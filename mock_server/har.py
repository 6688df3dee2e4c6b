"""Traffic as HAR 1.2 (HTTP Archive), written by ``harfile``: the journal (``GET /__admin/requests.har``) and the
proxy's exchanges (``ltx-mock proxy --har FILE``), secrets masked as everywhere else.

Browser devtools, WireMock, Mockoon, Charles and many viewers read HAR. What each entry holds:

* the journal's (already masked when stored: ``journal.Entry.masked``): method, URL (this server's origin and
  the masked path and query), the request's masked headers and body, status, the answer's body and type, the time
  the simulator took (``time``, ``timings.wait``). The journal keeps no response headers, so an entry's response
  lists only ``Content-Type``; bodies cut at the journal's 16 KiB limit end with ``…``.
* the proxy's (raw as forwarded, masked here by the one masking engine, ``masking.py``: ``mask_headers``,
  ``mask_query``, ``mask_text``, and the journal's ``raw_body`` built on it): request and response headers, both
  bodies (decoded), status; ``time`` is the time from the upstream's answer head to its last byte (the forwarder
  does not time the upstream's wait).

Nothing here parses bodies: the text is the masked text the journal shows.
"""

from __future__ import annotations

import io
import json
import threading
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import quote, urlencode

import harfile
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request

from contracts.version import __version__
from mock_server.journal import raw_body
from mock_server.masking import mask_headers, mask_query, mask_text

CREATOR = harfile.Creator(name="ltxstudio-mock", version=__version__)
MIME = "application/json"


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _records(pairs: dict[str, str]) -> list[harfile.Record]:
    return [harfile.Record(name=str(k), value=str(v)) for k, v in pairs.items()]


def _text(body: Any) -> str | None:
    """A stored body as HAR text: text stays, a form's fields become ``k=v&...``, anything else JSON."""
    if body is None or body == "":
        return None
    if isinstance(body, str):
        return body
    if isinstance(body, dict) and all(isinstance(v, str) for v in body.values()):
        return urlencode(body)
    return json.dumps(body, ensure_ascii=False)


def _post_data(body: Any, mimetype: str | None) -> harfile.PostData | None:
    text = _text(body)
    if text is None:
        return None
    if isinstance(body, dict) and mimetype and "form" in mimetype:
        params = [harfile.PostParameter(name=str(k), value=str(v)) for k, v in body.items()]
        return harfile.PostData(mimeType=mimetype, params=params, text=text)
    return harfile.PostData(mimeType=mimetype or "", text=text)


def _content(text: str | None, mimetype: str | None, size: int | None = None) -> harfile.Content:
    text = text or ""
    return harfile.Content(size=len(text.encode("utf-8")) if size is None else size, mimeType=mimetype or "",
                           text=text or None)


def _status_text(status: int) -> str:
    return HTTP_STATUS_CODES.get(status, "")


def journal_entry(har: harfile.HarFile, entry: dict[str, Any], origin: str) -> None:
    """One journal entry (stored form, masked) as a HAR entry."""
    query = entry.get("query") or {}
    url = origin.rstrip("/") + quote(entry["path"], safe="/:@!$&'()*+,;=-._~%") + (
        "?" + urlencode(query) if query else "")
    headers = entry.get("headers") or {}
    body_type = entry.get("body_type") or headers.get("Content-Type")
    request = harfile.Request(method=entry["method"], url=url, httpVersion="HTTP/1.1", headers=_records(headers),
                              queryString=_records(query), postData=_post_data(entry.get("body"), body_type),
                              headersSize=-1, bodySize=-1)
    response_type = entry.get("response_type") or ""
    response_text = _text(entry.get("response"))
    response = harfile.Response(status=entry["status"], statusText=_status_text(entry["status"]),
                                httpVersion="HTTP/1.1",
                                headers=[harfile.Record(name="Content-Type", value=response_type)]
                                if response_type else [],
                                content=_content(response_text, response_type), headersSize=-1, bodySize=-1)
    ms = float(entry.get("duration_ms") or 0)
    comment = " ".join(f"{k}={entry[k]}" for k in ("id", "operation", "tenant", "fault") if entry.get(k))
    har.add_entry(startedDateTime=_iso(entry["time_ms"]), time=ms, request=request, response=response,
                  timings=harfile.Timings(send=0, wait=ms, receive=0), comment=comment or None)


def journal_har(entries: list[dict[str, Any]], origin: str) -> str:
    """A HAR document of journal entries (stored form), oldest first as HAR viewers expect."""
    out = io.StringIO()
    with harfile.open(out, creator=CREATOR, comment="ltxstudio-mock request journal (secrets masked)") as har:
        for entry in sorted(entries, key=lambda e: (e["time_ms"], e.get("id") or 0)):
            journal_entry(har, entry, origin)
    return out.getvalue()


class HarRecorder:
    """``ltx-mock proxy --har FILE``: each exchange written as it completes (masked), the file closed on exit."""

    def __init__(self, target: str | TextIO, origin: str) -> None:
        self.origin = origin.rstrip("/")
        self._lock = threading.Lock()
        self._har = harfile.open(target, creator=CREATOR, comment="ltx-mock proxy traffic (secrets masked)")
        self.count = 0

    def observe(self, exchange: Any, duration_ms: float) -> None:
        """One proxy ``Exchange`` (``proxy/forward.py``): raw there, masked here."""
        query = Request({"QUERY_STRING": exchange.query}).args.to_dict(flat=True) if exchange.query else {}
        masked_query = mask_query(query)
        sent = mask_headers(exchange.request_headers)
        request_type = exchange.request_headers.get("content-type")
        body = raw_body(exchange.request_body or b"", request_type.split(";")[0] if request_type else MIME)
        url = self.origin + mask_text(exchange.path) + ("?" + urlencode(masked_query) if masked_query else "")
        request = harfile.Request(method=exchange.method, url=url, httpVersion="HTTP/1.1", headers=_records(sent),
                                  queryString=_records(masked_query), postData=_post_data(body, request_type),
                                  headersSize=-1, bodySize=len(exchange.request_body or b""))
        answer_type = exchange.headers.get("Content-Type") or exchange.headers.get("content-type") or ""
        text = raw_body(exchange.content, answer_type.split(";")[0]) if exchange.content is not None else None
        response = harfile.Response(status=exchange.status_code, statusText=_status_text(exchange.status_code),
                                    httpVersion="HTTP/1.1", headers=_records(mask_headers(exchange.headers)),
                                    content=_content(text, answer_type, len(exchange.content or b"")),
                                    headersSize=-1, bodySize=-1)
        with self._lock:
            self._har.add_entry(startedDateTime=_iso(exchange.at * 1000), time=duration_ms, request=request,
                                response=response, timings=harfile.Timings(send=0, wait=0, receive=duration_ms))
            self._har.flush()
            self.count += 1

    def close(self) -> None:
        with self._lock:
            self._har.close()
