"""The network guard: while ``mock_ltxstudio`` is active, nothing reaches the mocked host over the network.

The interceptors (``ltxstudio_mock.interceptors``) answer requests, httpx, aiohttp, urllib3 and
``urllib.request``/``http.client`` in process. Anything else (a transport nobody intercepts, aiohttp without
the ``[aiohttp]`` extra, a path on the mocked host the simulator does not serve) would go to DNS and the real
API with a real token, spending real credits while its author believes it is mocked. So name resolution and
connection of the guarded hosts are refused at the socket layer, where every Python HTTP library ends up:
``socket.getaddrinfo`` / ``gethostbyname(_ex)``, ``socket.socket.connect(_ex)`` with a host name and asyncio's
``loop.getaddrinfo`` (checked before its thread pool, so the error can name the library that asked). The
refusal is one ``NetworkGuardError`` naming the host, the library and what to do; nothing reaches DNS.
Other hosts pass through untouched. Out of reach: C-level resolvers (pycurl, aiodns), a subprocess.
"""

from __future__ import annotations

import asyncio.base_events
import ipaddress
import socket
import sys
import threading
from collections import Counter
from typing import Any

import client
import contracts
import mock_server

__all__ = ["NetworkGuardError", "guard_host", "is_ours", "library_in_stack"]

# Our modules' name prefixes: client., contracts., mock_server. and ltxstudio_mock. in the checkout; all under
# ltxstudio_mock. once installed (hatch_build.py). Taken from the imported packages, never typed out.
_OURS = tuple(sorted({f"{m.__name__}." for m in (client, contracts, mock_server)} | {f"{__name__.split('.')[0]}."}))


def is_ours(module: str) -> bool:
    """Whether a frame's module (``__name__``) is ltxstudio-mock's own code."""
    return module.startswith(_OURS)

#: Outermost match wins: requests over urllib3 over http.client, aiohttp over asyncio.
_LIBRARIES = (
    ("requests", "requests"), ("httpx", "httpx"), ("httpcore", "httpx"), ("aiohttp", "aiohttp"),
    ("aiohappyeyeballs", "aiohttp"),
    ("urllib3", "urllib3"), ("urllib.request", "urllib.request"), ("http.client", "http.client"),
    ("pycurl", "pycurl"), ("anyio", "anyio"), ("trio", "trio"), ("asyncio", "asyncio"), ("socket", "socket"),
)
_ADVICE = {
    "aiohttp": "aiohttp is answered in process once aioresponses is installed: "
               "pip install 'ltxstudio-mock[aiohttp]'",
}
_DEFAULT_ADVICE = ("mock_ltxstudio answers the simulator's paths (/v1/ltxstudio, /storage, /__admin) for requests, "
                   "httpx, aiohttp, urllib3 and urllib.request/http.client; use one of those, or aim this code at "
                   "the ltx_mock fixture's base_url (a real simulator on 127.0.0.1)")


class NetworkGuardError(RuntimeError):
    """A connection to a host ``mock_ltxstudio`` guards was refused before it left the process.

    Deliberately not an ``OSError``: HTTP libraries and retry loops treat those as a flaky network and may
    retry or wrap them; this must surface as it is, at once.
    """

    def __init__(self, host: str, port: Any = None, library: str | None = None, detail: str | None = None):
        self.host, self.port, self.library = host, port, library
        where = f"{host}:{port}" if port not in (None, 0, "") else host
        by = f" by {library}" if library else ""
        advice = _ADVICE.get(library or "", _DEFAULT_ADVICE)
        reason = detail or "mock_ltxstudio() is active and this call was not answered in process"
        super().__init__(f"ltxstudio-mock network guard: refused a connection to {where}{by} ({reason}); "
                         f"nothing was sent. {advice}.")


def _library_of(module: str) -> str | None:
    if is_ours(module):
        return None
    for prefix, name in _LIBRARIES:
        if module == prefix or module.startswith(prefix + "."):
            return name
    return None


_GENERIC = ("anyio", "trio", "asyncio", "socket")  # named only when no HTTP library is in the stack


def library_in_stack(depth: int = 2) -> str | None:
    """The HTTP library that made this call, read from the stack (the outermost one known).

    A coroutine run as its own task (aiohttp resolves names in one) has only the event loop above it, so
    then the task's coroutine chain is read too. The event loop and the socket module are named only when
    no HTTP library is found (every asyncio call has the loop's frames outermost).
    """
    found: str | None = None
    generic: str | None = None
    frame: Any = sys._getframe(depth)
    while frame is not None:
        name = _library_of(str(frame.f_globals.get("__name__", "")))
        if name in _GENERIC:
            generic = generic or name
        elif name is not None:
            found = name
        frame = frame.f_back
    if found is None:
        try:
            task = asyncio.current_task()
        except RuntimeError:
            task = None
        awaited: Any = task.get_coro() if task is not None else None
        while awaited is not None and found is None:
            code_frame = getattr(awaited, "cr_frame", None)
            name = _library_of(str(code_frame.f_globals.get("__name__", ""))) if code_frame is not None else None
            if name is not None and name not in _GENERIC:
                found = name
            awaited = getattr(awaited, "cr_await", None)
    return found or generic


# -- which hosts are guarded (one registry: mocks may nest) --------------------------------------------------------
_lock = threading.Lock()
_guarded: Counter[tuple[str, int | None]] = Counter()
_saved: dict[str, Any] = {}


def _normal(host: Any) -> str:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    return str(host).strip("[]").rstrip(".").lower()


def _port(port: Any) -> int | None:
    try:
        return int(port)
    except (TypeError, ValueError):
        return None


def is_guarded(host: Any, port: Any = None) -> bool:
    """Whether ``host`` (on ``port``) is a host no connection may reach now."""
    if not _guarded or host is None:
        return False
    name = _normal(host)
    return (name, None) in _guarded or (name, _port(port)) in _guarded


def _refuse_if_guarded(host: Any, port: Any = None) -> None:
    if is_guarded(host, port):
        raise NetworkGuardError(_normal(host), port, library_in_stack(3))


def guard_host(host: str, port: int) -> Any:
    """Guard ``host`` until the returned undo is called. A name is guarded on every port; a loopback or
    other IP literal only on ``port`` (the user's own local services share the address)."""
    name = _normal(host)
    try:
        ipaddress.ip_address(name)
        literal = True
    except ValueError:
        literal = name == "localhost"
    entry = (name, port if literal else None)
    with _lock:
        if not _guarded:
            _install()
        _guarded[entry] += 1

    def undo() -> None:
        with _lock:
            _guarded[entry] -= 1
            if _guarded[entry] <= 0:
                del _guarded[entry]
            if not _guarded:
                _uninstall()

    return undo


# -- the patches ----------------------------------------------------------------------------------------------------
def _install() -> None:
    getaddrinfo, gethostbyname, gethostbyname_ex = socket.getaddrinfo, socket.gethostbyname, socket.gethostbyname_ex
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex
    loop_getaddrinfo = asyncio.base_events.BaseEventLoop.getaddrinfo
    _saved.update(getaddrinfo=getaddrinfo, gethostbyname=gethostbyname, gethostbyname_ex=gethostbyname_ex,
                  connect=connect, connect_ex=connect_ex, loop_getaddrinfo=loop_getaddrinfo)

    def guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        _refuse_if_guarded(host, port)
        return getaddrinfo(host, port, *args, **kwargs)

    def guarded_gethostbyname(host: str) -> str:
        _refuse_if_guarded(host)
        return gethostbyname(host)

    def guarded_gethostbyname_ex(host: str) -> Any:
        _refuse_if_guarded(host)
        return gethostbyname_ex(host)

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and address:
            _refuse_if_guarded(address[0], address[1] if len(address) > 1 else None)
        return connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        if isinstance(address, tuple) and address:
            _refuse_if_guarded(address[0], address[1] if len(address) > 1 else None)
        return connect_ex(self, address)

    async def guarded_loop_getaddrinfo(self: Any, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        _refuse_if_guarded(host, port)  # here, not in the pool's thread: the caller's frames name the library
        return await loop_getaddrinfo(self, host, port, *args, **kwargs)

    socket.getaddrinfo = guarded_getaddrinfo
    socket.gethostbyname = guarded_gethostbyname
    socket.gethostbyname_ex = guarded_gethostbyname_ex
    socket.socket.connect = guarded_connect  # type: ignore[method-assign, assignment]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign, assignment]
    asyncio.base_events.BaseEventLoop.getaddrinfo = guarded_loop_getaddrinfo  # type: ignore[method-assign]


def _uninstall() -> None:
    socket.getaddrinfo = _saved["getaddrinfo"]
    socket.gethostbyname = _saved["gethostbyname"]
    socket.gethostbyname_ex = _saved["gethostbyname_ex"]
    socket.socket.connect = _saved["connect"]  # type: ignore[method-assign]
    socket.socket.connect_ex = _saved["connect_ex"]  # type: ignore[method-assign]
    asyncio.base_events.BaseEventLoop.getaddrinfo = _saved["loop_getaddrinfo"]  # type: ignore[method-assign]
    _saved.clear()
