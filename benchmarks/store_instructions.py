"""Instructions per request, counted by callgrind: the whole process, and the store's own share of it.

CPU time on a shared 2-core machine swings by a third from run to run; callgrind's instruction count (``Ir``) does
not, so a change to the store shows its effect in one run. Each case runs in a child Python under
``valgrind --tool=callgrind`` (``PYTHONHASHSEED=0``, Flask's test client, the journal off, one request at a time):
``--warm`` requests, a garbage collection (``gc.freeze``: no full collection lands inside the count by chance),
then ``--n`` requests between two ``os.getppid()`` calls, where callgrind dumps (``--dump-before``): the middle
part's total over ``n`` is the figure.

* ``whole``: every instruction of the process for those requests (Flask, the rules, the store).
* ``store``: only those inside the store: every public ``Store`` method, ``request_begin``/``request_end`` and an
  ``atomic()`` block's enter and exit run inside ``operator.call``, the rules the store calls back (a
  ``transact``'s function, after-commit events) inside ``functools.reduce``, and the store calls those make inside
  ``itertools.starmap``; callgrind counts only inside the first and the third (``--collect-atstart=no
  --toggle-collect``: a toggle function's own recursion does not toggle, three distinct ones nest).

Redis against memory in ``store`` is what the Redis store itself costs per request beyond the in-memory one.
Needs ``valgrind`` (``apt-get install valgrind``); ~1 minute per case with the defaults.

    python -m benchmarks.store_instructions [--quick] [--routes "POST /images/create" ...] [--n 300] [--warm 300]
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import json
import operator
import os
import shutil
import subprocess
import sys
import tempfile
import types
import uuid
from pathlib import Path
from typing import Any

from benchmarks import API, AUTH, DEMO_EMAIL, DEMO_TOKEN, PYTHON, ROOT, emit, table, write_results
from benchmarks.scale_bench import PROMPT, ROUTES, redis_server

TOGGLES = ("_operator_call", "functools_reduce", "starmap_next")  # on, off (a callback), on again (inside it)


def _count_store_only() -> None:
    """Run the store's public methods inside ``operator.call`` and its callbacks inside ``functools.reduce``."""
    from mock_server.store.base import Store
    from mock_server.store.memory import MemoryStore
    from mock_server.store.redis.store import RedisStore, _Block

    level = [0]  # 0 outside the store, 1 in it, 2 in a callback of it, 3 in the store again from there

    def counted(fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            now = level[0]
            if now == 0:
                level[0] = 1
                try:
                    return operator.call(fn, *args, **kwargs)
                finally:
                    level[0] = 0
            if now == 2:
                level[0] = 3
                try:
                    return next(itertools.starmap(lambda: fn(*args, **kwargs), [()]))
                finally:
                    level[0] = 2
            return fn(*args, **kwargs)
        return functools.wraps(fn)(call)

    def uncounted(fn: Any) -> Any:
        def call() -> Any:
            if level[0] == 1:
                level[0] = 2
                try:
                    return functools.reduce(lambda _a, _b: fn(), [0], 0)
                finally:
                    level[0] = 1
            return fn()
        return call

    names = {n for n, v in vars(Store).items() if callable(v) and not n.startswith("_")}
    names |= {"request_begin", "request_end", "refresh"}
    for cls in (RedisStore, MemoryStore):
        for name in names:
            fn = getattr(cls, name, None)
            if not isinstance(fn, types.FunctionType):
                continue
            if name in ("transact", "after_commit"):
                inner = counted(fn)
                setattr(cls, name, functools.wraps(fn)(lambda self, f, inner=inner: inner(self, uncounted(f))))
            else:
                setattr(cls, name, counted(fn))
    for name in ("__enter__", "__exit__"):
        setattr(_Block, name, counted(getattr(_Block, name)))


def child(route: str, store: str, share: str, n: int, warm: int) -> None:
    """The measured process (run under callgrind by ``measure``)."""
    if share == "store":
        _count_store_only()
    from mock_server import SimConfig, create_app

    server = redis_server() if store == "redis" else None
    if server is not None:
        server.start()
    url = f"{server.url}?prefix=si-{uuid.uuid4().hex[:6]}:" if server is not None else None
    app = create_app(SimConfig(store_url=url, speed=100000, background=False, job_retention_s=10**9, journal=False))
    client = app.test_client()
    client.patch("/__admin/accounts/" + DEMO_EMAIL, json={"token": DEMO_TOKEN, "maxJobs": 100})
    client.patch("/__admin/ltx-users/" + DEMO_EMAIL, json={"credits": 10**9})
    headers = {**AUTH, "Content-Type": "application/json"}
    job_id = client.post(API + "/images/create", data=PROMPT, headers=headers).get_json()["jobId"]
    method, path, body = ROUTES[route]
    path = API + path.replace("{jobId}", job_id)

    def call() -> None:
        if client.open(path, method=method, data=body, headers=headers).status_code != 200:
            raise SystemExit(f"{route} did not answer 200")

    for _ in range(warm):
        call()
    gc.collect()
    gc.freeze()
    os.getppid()  # callgrind dumps here (--dump-before) ...
    for _ in range(n):
        call()
    os.getppid()  # ... and here: the part between is the figure
    if server is not None:
        server.stop()


def measure(route: str, store: str, share: str, n: int, warm: int) -> int:
    """Instructions per request of one case (a child under callgrind)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-before=os_getppid"]
        if share == "store":
            cmd += ["--collect-atstart=no", *(f"--toggle-collect={fn}" for fn in TOGGLES)]
        cmd += [PYTHON, "-m", "benchmarks.store_instructions", "--child", route, store, share, str(n), str(warm)]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        part = Path(f"{out}.2")  # .1: start-up and warm-up; .2: the n requests; the file itself: what follows
        for line in part.read_text().splitlines():
            if line.startswith("totals:"):
                return int(line.split()[1]) // n
    raise RuntimeError(f"no totals in {part}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--routes", nargs="*", default=list(ROUTES))
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--warm", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="20 requests after 20: a smoke run, not a figure")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        route, store, share, n, warm = args.child
        child(route, store, share, int(n), int(warm))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    n, warm = (20, 20) if args.quick else (args.n, args.warm)
    rows: list[list[Any]] = []
    results: dict[str, Any] = {"n": n, "warm": warm, "routes": {}}
    for route in args.routes:
        got = {(store, share): measure(route, store, share, n, warm)
               for store in ("memory", "redis") for share in ("whole", "store")}
        results["routes"][route] = {f"{store}_{share}": ir for (store, share), ir in got.items()}
        rows.append([route, got["memory", "whole"], got["redis", "whole"],
                     round(got["redis", "whole"] / got["memory", "whole"], 2),
                     got["memory", "store"], got["redis", "store"]])
    emit(table(f"Instructions per request (callgrind; {n} requests after {warm})",
               ["route", "whole: memory", "whole: Redis", "x memory", "store: memory", "store: Redis"], rows))
    if not args.quick:
        write_results("store_instructions", results)
    emit(json.dumps(results["routes"]))


if __name__ == "__main__":
    sys.exit(main())
