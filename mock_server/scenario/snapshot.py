"""Writing a scenario: the live state as a document that loads back to the same API answers."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import yaml

from mock_server.masking import SECRET_FIELDS, mask_value
from mock_server.sim.scenario import USER_FIELDS, WEBHOOK_KEYS

if TYPE_CHECKING:
    from mock_server.sim import Simulator

__all__ = ["dump_yaml", "snapshot"]


def snapshot(sim: Simulator) -> dict[str, Any]:
    """The live state as a scenario document that loads back to the same API answers.

    Uploaded bytes are inlined as base64 (``ltx-mock snapshot --assets-dir`` writes them as files).
    No LTX session secret is written: users and account cookies go without ``lt_token`` and
    ``lt_refresh_token`` (loading issues fresh ones). The API tokens are written: they are the
    snapshot's tenants, chosen by whoever configured the simulator (protect /__admin with --admin-token).
    Tenants whose token is unknown (state written before tokens were kept) are left out.
    """
    st = sim.clock.state()
    doc: dict[str, Any] = {"version": 1, "demo": False,
                           "clock": {"now": sim.now(), "speed": st.speed, "paused": st.paused},
                           "tokens": [], "ltx_users": [], "accounts": [], "assets": [], "jobs": [],
                           "faults": [], "outcomes": []}
    tokens = sim.tenant_tokens()
    doc["tokens"] = list(tokens.values())
    for user in sim.ltx.list_users(0, 10**9):
        # the user's definition, not its live session secrets (a fresh session is issued on load)
        out = {field: getattr(user, key) for field, key in USER_FIELDS.items() if field not in SECRET_FIELDS}
        out["revoked"] = bool(user.revoked)
        doc["ltx_users"].append({"email": user.email, **out})
    for tid, token in tokens.items():
        for account in sim.accounts.all(tid):
            doc["accounts"].append({"token": token, "email": account.email, "maxJobs": account.maxJobs,
                                    "created": account.created_ms, "updated": account.updated_ms,
                                    "cookie": {k: v for k, v in account.cookie.items()
                                               if k not in SECRET_FIELDS}})
            for upload in sim.assets.uploads(tid, account.email):
                data = sim.assets.blob(upload.uuid) or b""
                doc["assets"].append({"token": token, "email": account.email, "uuid": upload.uuid,
                                      "mimeType": upload.mimeType, "type": upload.type,
                                      "created": upload.created_ms, "base64": base64.b64encode(data).decode()})
    for job in sim.jobs.all():
        if job.tenant in tokens:
            # a prompt may quote a cookie
            record = mask_value({k: v for k, v in job.to_dict().items() if k != "tenant"})
            doc["jobs"].append({"token": tokens[job.tenant], "record": record})
    for entry in sim.jobs.timing():
        doc.setdefault("timing", []).append(dict(entry))
    for rule in sim.faults.list():
        if rule.get("count") == 0 and rule.get("fraction") is None:
            continue
        doc["faults"].append({k: v for k, v in rule.items()
                              if k not in ("id", "hits") and v is not None and v is not False})
    for stub in sim.stubs.list():
        match = {k: v for k, v in stub["match"].items() if k != "tenant" and v is not None}
        if stub["match"].get("tenant"):
            if stub["match"]["tenant"] not in tokens:
                continue  # its token is unknown: it could not be written back
            match["token"] = tokens[stub["match"]["tenant"]]
        written: dict[str, Any] = {"match": match, "answer": stub["answer"]}
        if stub.get("remaining") is not None:
            written["times"] = stub["remaining"]
        doc.setdefault("stubs", []).append(written)
    retry_after = sim.faults.own_retry_after_spec()
    if retry_after:
        doc["retry_after"] = retry_after
    for spec in sim.jobs.queued_outcomes():
        out = {k: v for k, v in spec.items() if k not in WEBHOOK_KEYS}
        hook = {k: spec[k] for k in WEBHOOK_KEYS if spec.get(k)}
        if hook:
            out["webhook"] = hook
        doc["outcomes"].append(out)
    return doc


def dump_yaml(doc: dict[str, Any]) -> str:
    """A snapshot as YAML text (key order kept, long base64 unwrapped)."""
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=2**31 - 1)


