"""Readiness: can this simulator serve a request now? (``GET /__admin/health``; no HTTP here.)

The store is probed as a request uses it: a writing request's view (Redis: the lock and catching up, one round
trip), one small write and its read back, and the request's end (Redis: the commit). So "ready" means what the
next API request needs, not merely that a socket opens. The clock is read back from the store it lives in.
"""

from __future__ import annotations

import time
from typing import Any

from mock_server.sim.context import Context, iso
from mock_server.store import store_kind  # the kind, never the URL (which may carry a password)

PROBE = "health-probe"  # meta key the probe writes (a nanosecond stamp) and reads back


def _reason(exc: BaseException) -> str:
    """An error as health shows it: its type and text on one line, bounded (the stores' messages name a host and
    port, never a URL's password; the control API masks cookie secrets in it as in any answer)."""
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def probe_store(ctx: Context) -> dict[str, Any]:
    """``{"kind", "ok", "latencyMs", "error"?}``: a write and a read through a request's view of the store."""
    store = ctx.store
    out: dict[str, Any] = {"kind": store_kind(ctx.config.store_url), "ok": False}
    t0 = time.perf_counter()
    try:
        store.request_begin(write=True)
    except Exception as exc:  # unreachable (Redis down, a locked or missing file): not ready, and why
        out["error"] = _reason(exc)
        return out
    try:
        stamp = time.time_ns()
        store.put_meta(PROBE, stamp)
        out["ok"] = store.get_meta(PROBE) == stamp
        if not out["ok"]:
            out["error"] = "the probe's write did not read back"
    except Exception as exc:  # reachable, not writable (read-only file, Redis refusing writes)
        out["error"] = _reason(exc)
    finally:
        try:
            store.request_end()  # Redis: the commit; a failure here is a failed write
        except Exception as exc:
            out["ok"] = False
            out.setdefault("error", _reason(exc))
    out["latencyMs"] = round((time.perf_counter() - t0) * 1000, 3)
    return out


def clock_state(ctx: Context) -> dict[str, Any]:
    """``{"ok", "paused", "speed", "nowUTC"}`` read from the store (``ok`` False and why, when it cannot be)."""
    try:
        st = ctx.clock.state()
        now = ctx.clock.now_ms()
    except Exception as exc:
        return {"ok": False, "error": _reason(exc)}
    return {"ok": True, "paused": st.paused, "speed": st.speed, "nowUTC": iso(now)}


def readiness(ctx: Context) -> dict[str, Any]:
    """The store probe and the clock; ``ready`` when both answer."""
    store = probe_store(ctx)
    clock = clock_state(ctx) if store["ok"] else {"ok": False, "error": "store unavailable"}
    return {"ready": bool(store["ok"] and clock["ok"]), "store": store, "clock": clock}
