"""GET/POST /assets/ and GET /assets/{jobId} (the job status endpoint lives under /assets)."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from ltxstudio_mock.mock_server.api import api_blueprint, base_url, json_response, now, sim, tenant
from ltxstudio_mock.mock_server.api.inputs import operation
from ltxstudio_mock.mock_server.errors import bad_request

bp = api_blueprint("assets")


@bp.get("/assets/", strict_slashes=False)
@operation("listAssets")
def list_assets(query: dict[str, Any]) -> Response:
    account = sim().accounts.resolve(tenant(), query.get("email"))
    return json_response(sim().assets.listing(tenant(), account["email"], query.get("page", 1),
                                              query.get("limit", 20), query.get("filter"), now(), base_url()))


@bp.post("/assets/", strict_slashes=False)
@operation("uploadAsset", body=False)
def upload_asset(query: dict[str, Any]) -> Response:
    accepted = g.operation.body_schemas  # the contract's media types; ranges such as */* included
    if request.mimetype and not any(_in_range(request.mimetype, r) for r in accepted):
        raise bad_request(f"Unsupported Content-Type {request.mimetype!r}: send the file's MIME type, "
                          f"one of {', '.join(accepted)}")
    account = sim().accounts.resolve(tenant(), query.get("email"))
    data = request.get_data(cache=False)
    if request.content_length is not None and len(data) < request.content_length:
        # The client went away mid-upload; granian hands the app the short body without an error.
        raise bad_request(f"Request body ended after {len(data)} of {request.content_length} bytes")
    return json_response(sim().assets.upload(tenant(), account["email"], data, request.mimetype,
                                             query.get("type", "image"), now(), base_url()))


def _in_range(mime: str, media_range: str) -> bool:
    """``image/png`` is in ``image/png``, ``image/*`` and ``*/*`` (the syntax itself is the simulation's rule)."""
    main, _, sub = media_range.partition("/")
    mime_main, _, mime_sub = mime.partition("/")
    return main in ("*", mime_main) and sub in ("*", mime_sub)


@bp.get("/assets/<path:job_id>")
@operation("getJob")
def get_job(query: dict[str, Any], job_id: str) -> Response:
    job = sim().jobs.require_visible(tenant(), job_id, now())
    return json_response(sim().jobs.view(job, now(), base_url()))
