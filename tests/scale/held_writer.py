"""A process that holds one writing request open on a shared store (not a test module: run by
test_scale_redis_accounts_apart.py as ``python held_writer.py STORE_URL TOKEN EMAIL``).

It speaks one line at a time: ``ready`` once imported; on ``go`` it opens the simulator on the store,
begins a writing request, admits a job for ``EMAIL`` of ``TOKEN``'s tenant (the rules' own admission)
and says ``held <jobId>``; on ``release`` it ends the request (the request's commit) and says
``committed``, or ``failed <exception>`` if that raised. A request of a server does the same steps
(``pipeline.py``: ``begin_request``, the view, ``end_request``); here the test chooses how long the
middle lasts.
"""

from __future__ import annotations

import sys


def main(store_url: str, token: str, email: str) -> None:
    from mock_server import SimConfig
    from mock_server.sim import Simulator, tenant_id

    print("ready", flush=True)
    assert sys.stdin.readline().strip() == "go"
    sim = Simulator(SimConfig(store_url=store_url, background=False, journal=False))
    now = sim.begin_request(writes=True)
    job = sim.jobs.create(tenant_id(token), "images/create", {"prompt": "held open", "email": email}, now)
    print(f"held {job.jobId}", flush=True)
    assert sys.stdin.readline().strip() == "release"
    try:
        sim.end_request()
    except Exception as exc:  # the test shows it: a write that did not land
        print(f"failed {type(exc).__name__}: {exc}", flush=True)
    else:
        print("committed", flush=True)
    sim.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
