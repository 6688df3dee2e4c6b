"""The simulated cloud bucket behind every ``assetUrl``: signed, expiring, real bytes.

Not part of the API contract (the real URLs point at a storage host), so no
bearer token: the signature is the credential, as with a signed URL.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, request

from mock_server.api import now, sim
from mock_server.artifacts import artifact_bytes, aspect_of, thumbnail_bytes
from mock_server.errors import not_found
from mock_server.sim.assets import BUCKET

bp = Blueprint("storage", __name__)
NAME = re.compile(r"^(?P<uuid>[0-9a-f-]{36})(?P<thumb>-thumbnail-large)?\.\w+$")


@bp.get(f"/storage/{BUCKET}/<path:path>")
def fetch(path: str) -> Response:
    s = sim()
    s.assets.check_signature(path, request.args.get("Expires", ""), request.args.get("Signature", ""), now())
    m = NAME.match(path.rsplit("/", 1)[-1])
    if not m:
        raise not_found("No such object")
    uuid = m["uuid"]
    if m["thumb"]:  # an artifact's thumbnail has its aspect ratio; an upload's is 16:9
        return Response(thumbnail_bytes(uuid, aspect_of(s.jobs.of_artifact(uuid))), mimetype="image/webp")
    upload = s.assets.upload_bytes(uuid)
    if upload is not None:
        return Response(upload[0], mimetype=upload[1])
    job = s.jobs.of_artifact(uuid)
    if job is None:
        raise not_found("No such object")
    data, mime = artifact_bytes(job)
    # Range requests, as a cloud bucket answers them: a browser's <video> asks for the end of an MP4 (its index)
    response = Response(data, mimetype=mime)
    response.make_conditional(request, accept_ranges=True, complete_length=len(data))  # (in place)
    return response
