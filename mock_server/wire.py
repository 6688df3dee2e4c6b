"""The client's TCP connection under any WSGI server, for the connection faults that need the raw socket.

WSGI hands an app no socket, yet ``reset``, ``empty_reply``, ``garbage`` and ``malformed_chunk`` faults must
break the connection below HTTP (a server cannot send a malformed chunk through its own HTTP encoder).
werkzeug's server gives the socket in ``werkzeug.socket``; elsewhere (granian's Rust I/O, waitress) the
connection is found by its two addresses among this process's descriptors (``/proc/self/fd``, or ``/dev/fd``)
and used through a duplicate descriptor, so the server's own descriptor stays its to close. The server then
finds the connection broken when it writes, as it would after a real network failure. None when nothing
matches (the in-process mode: no socket at all); the caller then signals the fault its own way.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import socket
import struct
from typing import Any

FD_DIRS = ("/proc/self/fd", "/dev/fd")


def client_socket(environ: dict[str, Any]) -> socket.socket | None:
    """A socket object on this request's connection (a duplicate descriptor: close it when done), or None."""
    own = environ.get("werkzeug.socket")
    if isinstance(own, socket.socket):
        return socket.socket(fileno=os.dup(own.fileno()))
    remote_addr = str(environ.get("REMOTE_ADDR") or "").removeprefix("::ffff:")
    remote_port = str(environ.get("REMOTE_PORT") or "")
    local_port = str(environ.get("SERVER_PORT") or "")
    if not remote_addr or not local_port or "werkzeug.socket" in environ:
        return None  # in-process (werkzeug's test environ): no socket at all
    for folder in FD_DIRS:
        try:
            names = [int(n) for n in os.listdir(folder) if n.isdigit()]
        except OSError:
            continue
        best: tuple[int, socket.socket] | None = None
        for fd in names:
            sock = _connection(fd, remote_addr, remote_port, local_port)
            if sock is None:
                continue
            rank = _waiting_for_answer(sock)
            if rank is not None and (best is None or rank < best[0]):
                if best is not None:
                    best[1].close()
                best = (rank, sock)
            else:
                sock.close()
        return best[1] if best is not None else None
    return None


def _connection(fd: int, remote_addr: str, remote_port: str, local_port: str) -> socket.socket | None:
    """``fd`` as a socket (a duplicate) if it is a TCP connection from ``remote_addr`` to our ``local_port``."""
    try:
        dup = os.dup(fd)
    except OSError:
        return None
    try:
        sock = socket.socket(fileno=dup)
    except OSError:  # not a socket
        os.close(dup)
        return None
    try:
        if sock.type == socket.SOCK_STREAM and sock.family in (socket.AF_INET, socket.AF_INET6):
            peer, local = sock.getpeername(), sock.getsockname()
            if peer[0].removeprefix("::ffff:") == remote_addr and str(local[1]) == local_port \
                    and (not remote_port or str(peer[1]) == remote_port):
                return sock
    except OSError:
        pass
    sock.close()
    return None


def _waiting_for_answer(sock: socket.socket) -> int | None:
    """How long ago (ms) this connection last received data, if it has had no answer since: a request in flight.

    granian gives no REMOTE_PORT, so among one client's connections ours is the one that received a request
    most recently and has sent nothing since (Linux ``TCP_INFO``: last_data_recv, last_data_sent). Where
    ``TCP_INFO`` is missing every candidate ranks the same and the first is taken.
    """
    if not hasattr(socket, "TCP_INFO"):
        return 0
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    except OSError:
        return None
    last_sent, _, last_recv = struct.unpack_from("III", info, 44)
    return last_recv if last_recv <= last_sent else None


def reset(sock: socket.socket, environ: dict[str, Any] | None = None) -> None:
    """Abort the connection with a TCP RST now, whoever else holds a descriptor on it (``sock`` is ours: the
    caller closes it after).

    ``connect()`` to an ``AF_UNSPEC`` address disconnects the established socket in place (Linux: tcp_disconnect,
    which sends the reset at once); where that is missing, ``SO_LINGER`` 0 makes the last close send it. werkzeug's
    server hands us its socket object: its descriptor is then pointed at a closed socket pair (``dup2``), so
    werkzeug meets a broken pipe, which it takes quietly as a dropped connection. (Relying on the last close
    alone under werkzeug let httpx see a plain end of stream in about half the runs.)
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        unspec = (ctypes.c_ubyte * 16)()  # sockaddr with sa_family AF_UNSPEC (0)
        libc.connect(sock.fileno(), ctypes.byref(unspec), ctypes.c_uint(16))
    own = (environ or {}).get("werkzeug.socket")
    if isinstance(own, socket.socket):
        mine, other = socket.socketpair()
        other.close()
        os.dup2(mine.fileno(), own.fileno())
        mine.close()


def finish(sock: socket.socket) -> None:
    """End the connection after what was written (FIN both ways): the server's next write fails."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
