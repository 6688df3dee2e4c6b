"""The dashboard's one JSON document, shaped from what Simulator methods answer.

This module reads no store: every section is a page the rules hand out (``sim.overview``,
``Jobs.page``, ``LtxStudio.list_users``, ``Deliveries.log``), each an ordered-index page
(offset + limit) or one count, so a refresh costs the same with 10 or 10,000 jobs.
Derived figures come from the rules too: capacity from ``Scheduler.capacity`` (the rows of
GET /scheduler/available), status and artifacts from ``Jobs.status``, signed URLs from
``Assets.url``. What is left here is presentation: rows, durations, preview URLs, the
request filter. Secrets never leave: tenants are shown by id and token hint, accounts
without their cookie, and the whole document goes through :func:`scrub` before it is sent.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from mock_server.journal import render
from mock_server.masking import SECURED, mask_text
from mock_server.sim import Simulator, tenant_id
from mock_server.sim.context import iso
from mock_server.sim.records import Job

MAX_LIMIT = 200
TENANT_LIMIT = 20  # tenants shown, each with up to ACCOUNT_LIMIT accounts
ACCOUNT_LIMIT = 50
SCAN_CAP = 2000  # a filtered request search looks at this many newest entries at most
SCAN_CHUNK = 250
POLL_MS = 1000
TIMELINE_JOBS = 500  # the newest jobs the timeline draws
TIMELINE_REFUSALS = 200  # the newest 429s, and as many 402s, it marks
PREVIEW_PREFIX = "/__admin/dashboard/storage"  # artifact previews; /__admin/* is never journaled

SECRET_KEYS = {"lt_token", "lt_refresh_token", "authorization", "proxy-authorization", "x-api-key", "token",
               "cookie", "refreshtoken", "refresh_token", "access_token"}
WORD = re.compile(r"[\w.~+/-]{6,}")  # what an API token looks like


def scrub(value: Any, tokens: tuple[str, ...] = (), tenants: frozenset[str] = frozenset()) -> Any:
    """Mask every secret in a JSON-able value: secret-named keys, bearer tokens, JWTs, cookies, API tokens.

    The stores' views already mask, this is the dashboard's own second line: nothing it sends
    may carry an lt_token, refresh token, cookie or bearer token, whatever a request contained
    (a prompt, a replyUrl). ``tokens`` are known API tokens; ``tenants`` the known tenant ids, so a
    token added at run time (stored only as its hash) is recognised by hashing candidate words.
    """
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, str) and k.lower() in SECRET_KEYS and isinstance(v, str | int | float) \
                    and v != "" and SECURED not in str(v):
                out[k] = SECURED
            else:
                out[k] = scrub(v, tokens, tenants)
        return out
    if isinstance(value, list):
        return [scrub(v, tokens, tenants) for v in value]
    if isinstance(value, str):
        # cookies, JWTs, bearer tokens, URL credentials (the one masking engine); artifact previews are our own
        # signed URLs, so their signatures stay
        text = mask_text(value, signed_urls=False)
        for token in tokens:
            if len(token) >= 6 and token in text:
                text = text.replace(token, SECURED)
        if tenants:
            text = WORD.sub(lambda m: SECURED if tenant_id(m[0]) in tenants else m[0], text)
        return text
    return value


def clamp(value: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, value))


class DashboardData:
    """Reads one simulator for the dashboard; ``base_url`` is the origin the page was loaded from."""

    def __init__(self, sim: Simulator, base_url: str) -> None:
        self.sim = sim
        self.base_url = base_url
        self.now = sim.now()

    # -- the whole document ------------------------------------------------
    def document(self, q: dict[str, Any]) -> dict[str, Any]:
        s = self.sim
        st = s.clock.state()
        counts = s.overview.counts()
        tenants = self.tenants()
        running = self.running(tenants, q.get("running_limit", 50))
        return {
            "clock": {"now": self.now, "nowUTC": iso(self.now), "paused": st.paused, "speed": st.speed},
            "pollMs": POLL_MS,
            "config": {"demoCredits": s.config.demo_credits, "jobRetentionS": s.config.job_retention_s,
                       "journal": s.config.journal, "journalLimit": s.config.journal_limit},
            "counts": {"jobs": counts["jobs"], "running": running["total"], "tenants": counts["tenants"],
                       "ltxUsers": counts["ltxUsers"], "requests": counts["requests"], "webhooks": counts["webhooks"],
                       "webhooksPending": counts["webhooksPending"]},
            "outcomes": s.jobs.queued_outcomes(),
            "tenants": tenants,
            "ltxUsers": self.ltx_users(q.get("users_offset", 0), q.get("users_limit", 50)),
            "running": running,
            "jobs": self.jobs(q.get("jobs_offset", 0), q.get("jobs_limit", 25)),
            "requests": self.requests(q),
            "webhooks": self.webhooks(q.get("webhooks_offset", 0), q.get("webhooks_limit", 25), counts),
        } | ({"timeline": self.timeline(tenants, q["timeline_limit"])} if q.get("timeline_limit") else {})

    # -- the timeline --------------------------------------------------------
    def timeline(self, tenants: list[dict[str, Any]], limit: int) -> dict[str, Any]:
        """Account lanes (height: maxJobs), job bars (admission to end, by outcome), 429/402 marks, credits.

        Only when asked (``timeline_limit``: the page asks while its Timeline tab is open), as it reads up to
        that many of the newest jobs (at most ``TIMELINE_JOBS``). The figures are ``sim.overview.timeline``'s;
        this only lays them out by lane for the page's SVG.
        """
        data = self.sim.overview.timeline(self.now, clamp(limit, 1, TIMELINE_JOBS), TIMELINE_REFUSALS)
        lanes: dict[str, dict[str, Any]] = {}
        first_lane: dict[str, str] = {}
        for tenant in tenants:
            for account in tenant["accounts"]:
                key = f"{tenant['id']}/{account['email']}"
                lanes[key] = {"key": key, "tenant": tenant["id"], "hint": tenant["hint"], "email": account["email"],
                              "maxJobs": account["maxJobs"]}
                first_lane.setdefault(tenant["id"], key)
        bars = []
        for job in data.jobs:
            key = f"{job.tenant}/{job.email}"
            if key not in lanes:  # an account removed since, or past the lanes shown: its own lane
                lanes[key] = {"key": key, "tenant": job.tenant, "hint": "", "email": job.email, "maxJobs": 1}
            status = self.sim.jobs.status(job, self.now, self.base_url)["type"]
            end: int | None
            if job.cancelled_ms:
                status, end = "cancelled", job.cancelled_ms
            elif status in ("completed", "failed"):
                end = job.end_ms
            else:
                status, end = ("stalled" if job.end_ms is None else "running"), None  # it reaches now
            bars.append({"jobId": job.jobId, "lane": key, "start": job.start_ms, "end": end, "status": status,
                         "model": job.model, "operation": job.operation, "stalled": job.end_ms is None})
        marks = []
        for entry in data.refusals:
            raw_body = entry.get("body")
            body: dict[str, Any] = raw_body if isinstance(raw_body, dict) else {}
            tid = str(entry.get("tenant") or "")
            key = f"{tid}/{body.get('email')}" if body.get("email") else first_lane.get(tid, "")
            if key not in lanes:
                key = next(iter(lanes), "")
            raw_response = entry.get("response")
            response: dict[str, Any] = raw_response if isinstance(raw_response, dict) else {}
            marks.append({"lane": key, "at": entry.get("sim_ms"), "status": entry.get("status"),
                          "operation": entry.get("operation"), "error": str(response.get("error") or "")[:300]})
        for lane in lanes.values():
            lane["credits"] = [list(step) for step in data.credits.get(lane["email"], [])]
        starts = [b["start"] for b in bars] + [m["at"] for m in marks if m["at"] is not None]
        return {"now": self.now, "start": min(starts) if starts else self.now, "lanes": list(lanes.values()),
                "bars": bars, "marks": [m for m in marks if m["lane"]]}

    # -- tenants and accounts ----------------------------------------------
    def tenants(self) -> list[dict[str, Any]]:
        out = []
        for tenant in self.sim.overview.tenants(self.now, TENANT_LIMIT, ACCOUNT_LIMIT):
            rows = []
            for figures in tenant.accounts:
                # the figures of GET /scheduler/available, from the same rule (per-request maxJobs included)
                row: dict[str, Any] = dict(figures.capacity)
                user = figures.user
                if user is not None:
                    row.update(credits=user.credits, subscription=user.subscription,
                               tokenExpire=user.token_expire, tokenExpireUTC=iso(user.token_expire))
                row["sessionError"] = figures.session_error
                rows.append(row)
            out.append({"id": tenant.id, "hint": tenant.hint, "accountCount": tenant.account_count, "accounts": rows})
        return out

    def ltx_users(self, offset: int, limit: int) -> dict[str, Any]:
        offset, limit = max(0, offset), clamp(limit, 1, MAX_LIMIT)
        items = []
        for user in self.sim.ltx.list_users(offset, limit):
            items.append({"email": user.email, "name": user.name, "credits": user.credits,
                          "subscription": user.subscription, "tokenExpire": user.token_expire,
                          "tokenExpireUTC": iso(user.token_expire), "refreshTokenExpire": user.refresh_expire,
                          "refreshTokenExpireUTC": iso(user.refresh_expire), "revoked": bool(user.revoked),
                          "sessionError": self.sim.ltx.session_error(user, self.now),
                          "latestCreatedAtMs": user.latest_created_ms})
        return {"total": self.sim.ltx.user_count(), "offset": offset, "limit": limit, "items": items}

    # -- jobs --------------------------------------------------------------
    def job_row(self, job: Job) -> dict[str, Any]:
        """A job as one table row: status derived now, duration, cost, artifact URLs (signed, our own)."""
        status = self.sim.jobs.status(job, self.now, self.base_url)
        done = job.done_by()
        finished = status["type"] != "active"
        end = (job.end_ms if status["type"] == "failed" else done) if finished else None
        row: dict[str, Any] = {
            "jobId": job.jobId, "email": job.email, "tenant": job.tenant, "model": job.model,
            "operation": job.operation, "media": job.media, "credits": job.credits,
            "status": status["type"], "progress": status["progress"], "message": status.get("message"),
            "created": job.created_ms, "createdUTC": iso(job.created_ms),
            "durationMs": max(0, (end if end is not None else self.now) - job.start_ms),
            "endsAt": job.end_ms, "stalled": job.end_ms is None, "cancelled": bool(job.cancelled_ms),
            "prompt": str((job.params or {}).get("prompt") or "")[:160],
        }
        artifact = status.get("artifact")
        if artifact:
            thumb, _ = self.sim.assets.url(f"images/{job.artifact_uuid}-thumbnail-large.webp", self.now,
                                           self.base_url)
            url = artifact["assetUrl"]
            row["artifact"] = {"url": url, "mimeType": artifact["asset"]["mimeType"],
                               "fileId": artifact["asset"]["fileId"], "previewUrl": self.preview(url),
                               "thumbnailUrl": self.preview(url if job.media == "image" else thumb),
                               "expires": int(artifact["expirationDateString"])}
        elif status["type"] == "completed":
            row["artifactPending"] = True
        if status["type"] == "failed":
            row["refunded"] = True
        return row

    def preview(self, url: str) -> str:
        """The same signed URL, fetched through /__admin/dashboard/storage so the page stays out of the journal."""
        prefix = f"{self.base_url}/storage/"
        return f"{self.base_url}{PREVIEW_PREFIX}/" + url[len(prefix):] if url.startswith(prefix) else url

    def jobs(self, offset: int, limit: int) -> dict[str, Any]:
        """Newest first, one page of the ``jobs`` index."""
        offset, limit = max(0, offset), clamp(limit, 1, MAX_LIMIT)
        total, jobs = self.sim.jobs.page(offset, limit)
        return {"total": total, "offset": offset, "limit": limit, "items": [self.job_row(j) for j in jobs]}

    def running(self, tenants: list[dict[str, Any]], limit: int) -> dict[str, Any]:
        """Executing jobs of the shown accounts, soonest to end first (their running indexes' order)."""
        limit = clamp(limit, 1, MAX_LIMIT)
        total = sum(account["executing"] for tenant in tenants for account in tenant["accounts"])
        busy = [(tenant["id"], account["email"]) for tenant in tenants for account in tenant["accounts"]
                if account["executing"]]
        items = [self.job_row(j) for j in self.sim.overview.running(busy, self.now, limit)]
        return {"total": total, "limit": limit, "items": items}

    def job_detail(self, job_id: str) -> dict[str, Any] | None:
        job = self.sim.overview.job(job_id)
        if job is None:
            return None
        record = job.to_dict()
        plan = {k: record.get(k) for k in ("outcome", "total_ms", "start_ms", "end_ms", "fail_progress",
                                         "stall_progress", "artifact_delay_ms", "maxJobs", "replyUrl", "replyRef",
                                         "source", "webhook", "generationId")}
        return {"job": self.sim.jobs.view(job, self.now, self.base_url), "row": self.job_row(job),
                "params": job.params or {}, "plan": plan, "doneBy": job.done_by()}

    # -- requests ----------------------------------------------------------
    def requests(self, q: dict[str, Any]) -> dict[str, Any]:
        """Journal entries newest first, as table rows (bodies come per entry, on click).

        Unfiltered it is one page of the journal index. Filtered it scans the newest entries in
        chunks and stops once the page is full or ``SCAN_CAP`` entries were looked at.
        """
        offset, limit = max(0, q.get("requests_offset", 0)), clamp(q.get("requests_limit", 50), 1, MAX_LIMIT)
        method = (q.get("requests_method") or "").upper()
        status = (q.get("requests_status") or "").strip().lower()
        path = (q.get("requests_path") or "").strip()
        overview = self.sim.overview
        total_all = overview.request_count()
        filtered = bool(method or status or path)
        if not filtered:
            entries = overview.requests(offset, limit)
            return {"total": total_all, "offset": offset, "limit": limit, "filtered": False, "truncated": False,
                    "items": [self.request_row(e) for e in entries]}

        def keep(e: dict[str, Any]) -> bool:
            if method and e["method"] != method:
                return False
            if status:
                code = str(e["status"])
                if status.endswith("xx") and not code.startswith(status[0]):
                    return False
                if not status.endswith("xx") and code != status:
                    return False
            if path:
                if any(c in path for c in "*?["):
                    return fnmatch.fnmatchcase(e["path"], path)
                return path in e["path"]
            return True

        matched: list[dict[str, Any]] = []
        scanned = 0
        want = offset + limit
        while scanned < min(total_all, SCAN_CAP) and len(matched) < want + 1:
            chunk = overview.requests(scanned, min(SCAN_CHUNK, SCAN_CAP - scanned))
            if not chunk:
                break
            scanned += len(chunk)
            matched.extend(e for e in chunk if keep(e))
        more = len(matched) > want  # stopped early: at least one more match past this page
        exact = not more and scanned >= total_all
        return {"total": len(matched) if exact else None, "offset": offset, "limit": limit, "filtered": True,
                "scanned": scanned, "truncated": not more and scanned < total_all, "more": more,
                "items": [self.request_row(e) for e in matched[offset:want]]}

    @staticmethod
    def request_row(e: dict[str, Any]) -> dict[str, Any]:
        return {"id": e["id"], "time": e["time_ms"], "simTime": e.get("sim_ms"), "method": e["method"],
                "path": e["path"], "query": e.get("query") or {}, "status": e["status"],
                "durationMs": e["duration_ms"], "operation": e.get("operation"), "fault": e.get("fault")}

    def request_detail(self, entry_id: str) -> dict[str, Any] | None:
        entry = self.sim.overview.request(entry_id)
        return render(entry) if entry is not None else None

    # -- webhooks ----------------------------------------------------------
    def webhooks(self, offset: int, limit: int, counts: dict[str, int]) -> dict[str, Any]:
        """The delivery log newest first; ``counts``: ``overview.counts()`` read for this document."""
        offset, limit = max(0, offset), clamp(limit, 1, MAX_LIMIT)
        items = []
        for d in self.sim.deliveries.log(offset, limit):
            items.append({"id": d["id"], "jobId": d["jobId"], "url": d["url"], "state": d["state"],
                          "created": d["created_ms"], "attempts": d["attempts"], "body": d["body"]})
        return {"total": counts["webhooks"], "pending": counts["webhooksPending"], "offset": offset,
                "limit": limit, "items": items}
