"""GET/POST /assets/ and GET /assets/{jobId} (the job status endpoint lives under /assets)."""

from __future__ import annotations

from typing import Any

from mock_server.api import route
from mock_server.errors import bad_request
from mock_server.views import InFlight


@route("GET", "/assets/", "listAssets", strict_slashes=False)
def list_assets(call: InFlight) -> Any:
    s, q = call.sim, call.query
    account = s.accounts.resolve(call.tenant, q.get("email"))
    return s.assets.listing(call.tenant, account.email, q.get("page", 1), q.get("limit", 20), q.get("filter"),
                            call.now, call.base_url())


@route("POST", "/assets/", "uploadAsset", body=False, strict_slashes=False)
def upload_asset(call: InFlight) -> Any:
    req = call.request
    assert call.op is not None  # routed to this view: its operation
    accepted = call.op.body_schemas  # the contract's media types; ranges such as */* included
    if req.mimetype and not any(_in_range(req.mimetype, r) for r in accepted):
        raise bad_request(f"Unsupported Content-Type {req.mimetype!r}: send the file's MIME type, "
                          f"one of {', '.join(accepted)}")
    account = call.sim.accounts.resolve(call.tenant, call.query.get("email"))
    data = call.environ.get("ltx.upload")
    if data is None:  # kept for the request's life: it may run again (the store refused its writes)
        data = call.environ["ltx.upload"] = req.get_data(cache=False)
    if req.content_length is not None and len(data) < req.content_length:
        # The client went away mid-upload; granian hands the app the short body without an error.
        raise bad_request(f"Request body ended after {len(data)} of {req.content_length} bytes")
    return call.sim.assets.upload(call.tenant, account.email, data, req.mimetype, call.query.get("type", "image"),
                                  call.now, call.base_url())


def _in_range(mime: str, media_range: str) -> bool:
    """``image/png`` is in ``image/png``, ``image/*`` and ``*/*`` (the syntax itself is the simulation's rule)."""
    main, _, sub = media_range.partition("/")
    mime_main, _, mime_sub = mime.partition("/")
    return main in ("*", mime_main) and sub in ("*", mime_sub)


@route("GET", "/assets/<path:job_id>", "getJob")
def get_job(call: InFlight, job_id: str) -> Any:
    job = call.sim.jobs.require_visible(call.tenant, job_id, call.now)
    return call.sim.jobs.view(job, call.now, call.base_url())
