"""A process that holds one writing request open on a shared store (not a test module: run by
test_scale_redis_accounts_apart.py as ``python held_writer.py STORE_URL TOKEN EMAIL``).

It speaks one line at a time: ``ready`` once imported; on ``go`` it opens the simulator's app on the store
and sends it ``POST /v1/ltxstudio/images/create`` for ``EMAIL`` of ``TOKEN`` (Flask's test client: the whole
request path, ``pipeline.py``'s begin, view and commit); once the rules have admitted the job (inside the
view, the write made, the request not ended) it says ``held <jobId>`` and waits; on ``release`` the request
goes on to its end and it says ``committed <jobId>`` (the answer's), or ``failed <status> <body>``.

Only the first admission is held: a store that runs a request's view again (an optimistic retry) goes
through at once the second time.
"""

from __future__ import annotations

import sys
from typing import Any


def main(store_url: str, token: str, email: str) -> None:
    from mock_server import SimConfig, create_app

    print("ready", flush=True)
    assert sys.stdin.readline().strip() == "go"
    app = create_app(SimConfig(store_url=store_url, background=False, journal=False))
    sim = app.extensions["ltx_sim"]
    admit = sim.jobs.create
    held: list[str] = []

    def admit_and_hold(*args: Any, **kwargs: Any) -> Any:
        job = admit(*args, **kwargs)
        if not held:
            held.append(job.jobId)
            print(f"held {job.jobId}", flush=True)
            assert sys.stdin.readline().strip() == "release"
        return job

    sim.jobs.create = admit_and_hold
    resp = app.test_client().post("/v1/ltxstudio/images/create", json={"prompt": "held open", "email": email},
                                  headers={"Authorization": f"Bearer {token}"})
    if resp.status_code == 200:
        print(f"committed {resp.get_json()['jobId']}", flush=True)
    else:
        print(f"failed {resp.status_code} {resp.get_data(as_text=True)[:500]}", flush=True)
    sim.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
