"""Reliability scenarios, shared by the short tests (``tests/reliability``) and the long runs (``long_runs.py``).

Each scenario drives a live simulator over HTTP only (a base URL plus its control
API), so the same code runs against the ``ltx_mock`` fixture's in-process server
and against ``ltx-mock serve`` (granian) in a subprocess; sizes are parameters.
Each returns a report dict whose ``problems`` list is empty when every invariant held.

* ``concurrency``: many threads create, poll and cancel jobs and re-post an account
  with a changed maxJobs while the clock moves; ``executing`` never exceeds the
  account's maxJobs, every acknowledged job stays retrievable, credits balance
  exactly, no 5xx.
* ``negative_inputs``: schemathesis' negative data over every operation: no 5xx,
  every rejection a documented ``{error, code}`` 4xx, state unchanged by rejections.
* ``webhook_faults``, ``disconnect_mid_upload``, ``oversized_upload``: faults.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from contracts.spec import get_contract
from ltxstudio_mock.admin_client import AdminClient
from mock_server.sim.catalog import CATALOG

API = "/v1/ltxstudio"
TOKEN = "demo-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
IMAGE_MODELS = ("flux", "flux-premium", "nano-banana")


def _problem(problems: list[str], lock: threading.Lock, text: str, limit: int = 50) -> None:
    with lock:
        if len(problems) < limit:
            problems.append(text)


def documented_error(op_id: str | None, resp: requests.Response) -> str | None:
    """None if ``resp`` is a documented 4xx of ``op_id`` with an ``{error, code}`` body, else why not."""
    if not 400 <= resp.status_code < 500:
        return f"status {resp.status_code} is not a 4xx"
    try:
        body = resp.json()
    except ValueError:
        return f"{resp.status_code} body is not JSON: {resp.text[:120]!r}"
    if not (isinstance(body, dict) and isinstance(body.get("error"), str) and body.get("code") == resp.status_code):
        return f"{resp.status_code} body is not {{error, code}}: {resp.text[:160]!r}"
    if op_id is not None and not get_contract()[op_id].documents_status(resp.status_code):
        return f"{resp.status_code} is not documented for {op_id}"
    return None


# -- concurrency -------------------------------------------------------------
def concurrency(url: str, *, threads: int = 32, rounds: int = 4, ops_per_round: int = 12, seed: int = 0,
                max_a: int = 2, max_b: int = 3, failures_per_round: int = 3,
                timeout: float = 30) -> dict[str, Any]:
    """Hammer two small accounts from ``threads`` threads for ``rounds`` rounds; check every invariant.

    Needs a simulator in its start-up state (demo token), clock paused or not: the clock is
    advanced from a worker thread and between rounds. Account A (maxJobs ``max_a``) is never
    changed; account B is re-posted with maxJobs drawn from 1..``max_b`` while jobs run, so its
    bound is ``max_b``: lowering maxJobs does not stop running jobs. A request that raises (a
    ``timeout``-second read timeout included) is a problem; ``report["timeouts"]`` counts timeouts.

    The phases, one function each: :func:`_two_accounts` (set-up), :meth:`_Hammer.worker` (one thread's
    round: :data:`_OPS`, and :meth:`_Hammer.observe` for the capacity invariants), :func:`_round`,
    :func:`_acknowledged_jobs_ended` and :func:`_credits_balance` (the final accounting), :func:`_report`.
    """
    admin = AdminClient(url)
    rng = random.Random(seed)
    h = _Hammer(url=url, seed=seed, max_b=max_b, timeout=timeout, **_two_accounts(admin, url + API, seed, max_a,
                                                                                   max_b, timeout))
    start_credits = {e: admin.get_ltx_user(e)["credits"] for e in h.email.values()}
    s = requests.Session()
    t0 = time.perf_counter()
    for round_no in range(rounds):
        _round(h, admin, rng, round_no, threads=threads, ops=ops_per_round, failures=failures_per_round, s=s)
    admin._call("DELETE", "/next-outcome")
    admin.advance(3600)  # every job ends: the longest image run is under a minute
    h.observe(s)
    ends, charged, refunded = _acknowledged_jobs_ended(h, s)
    if (total_jobs := admin.jobs(limit=1)["total"]) != len(h.acked):
        h.problems.append(f"{total_jobs} jobs stored but {len(h.acked)} acknowledged (a job without a 200, or lost)")
    balances = _credits_balance(h, admin, start_credits, charged, refunded)
    return _report(h, threads=threads, rounds=rounds, ends=ends, balances=balances, seconds=time.perf_counter() - t0)


def _two_accounts(admin: AdminClient, base: str, seed: int, max_a: int, max_b: int,
                  timeout: float) -> dict[str, Any]:
    """Set-up: LTX users A and B configured as the demo tenant's only accounts (maxJobs ``max_a``, ``max_b``)."""
    users = {name: admin.create_ltx_user(email=f"reliability-{name}-{seed}@example.com", credits=1_000_000)
             for name in ("a", "b")}
    s = requests.Session()
    for name, limit in (("a", max_a), ("b", max_b)):
        r = s.post(f"{base}/accounts", headers=AUTH, json={"cookie": users[name]["cookie"], "maxJobs": limit},
                   timeout=timeout)
        r.raise_for_status()
    # Only A and B take jobs: the demo account goes (404 if a scenario already removed it).
    s.delete(f"{base}/accounts/demo@example.com", headers=AUTH, timeout=timeout)
    email = {k: u["email"] for k, u in users.items()}
    return {"users": users, "email": email, "bound": {email["a"]: max_a, email["b"]: max_b}}


@dataclass
class _Hammer:
    """What the threads of :func:`concurrency` share: the accounts, and what they saw (under ``lock``)."""

    url: str
    seed: int
    max_b: int
    timeout: float
    users: dict[str, dict[str, Any]]
    email: dict[str, str]  # "a"/"b" -> email
    bound: dict[str, int]  # email -> the most jobs it may ever execute at once
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[str, str] = field(default_factory=dict)  # jobId -> model
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    observations: int = 0
    max_seen: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.url + API

    def problem(self, text: str) -> None:
        _problem(self.problems, self.lock, text)

    def observe(self, sess: requests.Session) -> None:
        """GET /scheduler/available and check its figures: within bounds, ``available`` consistent."""
        r = sess.get(f"{self.base}/scheduler/available", headers=AUTH, timeout=self.timeout)
        with self.lock:
            self.statuses[("available", r.status_code)] += 1
            self.observations += 1
        if r.status_code != 200:
            return
        body = r.json()
        for acc in body["available"]:
            self._check_row(acc)
        per_email = Counter(j["email"] for j in body["executing"])
        for e, n in per_email.items():
            if e in self.bound and n > self.bound[e]:
                self.problem(f"{e}: {n} executing jobs listed > bound {self.bound[e]}")

    def _check_row(self, acc: dict[str, Any]) -> None:
        e = acc["email"]
        if e not in self.bound:
            self.problem(f"unexpected account {e} in /scheduler/available")
            return
        with self.lock:
            self.max_seen[e] = max(self.max_seen.get(e, 0), acc["executing"])
        if acc["executing"] > self.bound[e]:
            self.problem(f"{e}: executing {acc['executing']} > maxJobs bound {self.bound[e]}")
        if acc["available"] != max(0, acc["maxJobs"] - acc["executing"]):
            self.problem(f"{e}: available {acc['available']} != max(0, {acc['maxJobs']} - {acc['executing']})")

    def worker(self, idx: int, round_no: int, ops: int, barrier: threading.Barrier) -> None:
        """One thread's round: ``ops`` operations drawn (seeded) from :data:`_OPS`, started together."""
        r_ = random.Random(self.seed * 1000 + round_no * 100 + idx)
        sess = requests.Session()
        barrier.wait()
        for _ in range(ops):
            op = r_.choices(tuple(_OPS), weights=tuple(w for w, _ in _OPS.values()))[0]
            try:
                r = _OPS[op][1](self, sess, r_, idx)
                if r is None:
                    continue
                with self.lock:
                    self.statuses[(op, r.status_code)] += 1
                if r.status_code >= 500:
                    self.problem(f"{op} answered {r.status_code}: {r.text[:200]}")
            except requests.RequestException as exc:
                if isinstance(exc, requests.Timeout):
                    with self.lock:
                        self.statuses[(op, 0)] += 1  # status 0: no answer within the timeout
                self.problem(f"{op} raised {type(exc).__name__}: {exc}")

    # -- the operations: each returns the answer to count, or None when it counted its own (or sent nothing)
    def create(self, sess: requests.Session, r_: random.Random, idx: int) -> requests.Response | None:
        model = r_.choice(IMAGE_MODELS)
        body: dict[str, Any] = {"prompt": f"reliability {idx}", "model": model}
        target = r_.choice((None, "a", "b"))
        if target:
            body["email"] = self.email[target]
        r = sess.post(f"{self.base}/images/create", headers=AUTH, json=body, timeout=self.timeout)
        if r.status_code == 200:
            with self.lock:
                self.acked[r.json()["jobId"]] = model
        elif r.status_code != 429:
            self.problem(f"create answered {r.status_code}: {r.text[:200]}")
        return r

    def _known_job(self, r_: random.Random) -> str | None:
        with self.lock:
            known = list(self.acked)
        return r_.choice(known) if known else None

    def poll(self, sess: requests.Session, r_: random.Random, idx: int) -> requests.Response | None:
        if (job_id := self._known_job(r_)) is None:
            return None
        r = sess.get(f"{self.base}/assets/{job_id}", headers=AUTH, timeout=self.timeout)
        if r.status_code != 200:
            self.problem(f"acknowledged job {job_id} answered {r.status_code}")
        return r

    def cancel(self, sess: requests.Session, r_: random.Random, idx: int) -> requests.Response | None:
        if (job_id := self._known_job(r_)) is None:
            return None
        r = sess.delete(f"{self.base}/scheduler/{job_id}", headers=AUTH, timeout=self.timeout)
        if r.status_code not in (204, 404):
            self.problem(f"cancel answered {r.status_code}: {r.text[:200]}")
        return r

    def observe_op(self, sess: requests.Session, r_: random.Random, idx: int) -> requests.Response | None:
        self.observe(sess)  # counted as "available"
        return None

    def account(self, sess: requests.Session, r_: random.Random, idx: int) -> requests.Response | None:
        """Re-post account B with a maxJobs drawn from 1..max_b while its jobs run."""
        r = sess.post(f"{self.base}/accounts", headers=AUTH, timeout=self.timeout,
                      json={"cookie": self.users["b"]["cookie"], "maxJobs": r_.randint(1, self.max_b)})
        if r.status_code != 200:
            self.problem(f"account update answered {r.status_code}: {r.text[:200]}")
        return r

    def clock(self, sess: requests.Session, r_: random.Random, idx: int) -> requests.Response | None:
        return sess.post(f"{self.url}/__admin/clock", json={"advance": r_.choice((1, 2, 4, 8))}, timeout=self.timeout)


_Op = Callable[[_Hammer, requests.Session, random.Random, int], requests.Response | None]
# name -> (weight, operation): a worker draws its operations with these weights
_OPS: dict[str, tuple[int, _Op]] = {
    "create": (40, _Hammer.create), "poll": (18, _Hammer.poll), "cancel": (10, _Hammer.cancel),
    "observe": (16, _Hammer.observe_op), "account": (10, _Hammer.account), "clock": (6, _Hammer.clock),
}


def _round(h: _Hammer, admin: AdminClient, rng: random.Random, round_no: int, *, threads: int, ops: int,
           failures: int, s: requests.Session) -> None:
    """One round: queue ``failures`` failing outcomes, run every thread once together, observe, advance, observe."""
    if failures:
        admin.fail_next("reliability failure", progress=40, count=failures)
    barrier = threading.Barrier(threads)
    pool = [threading.Thread(target=h.worker, args=(i, round_no, ops, barrier)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    h.observe(s)
    admin.advance(rng.choice((5, 10, 15, 20)))
    h.observe(s)


def _acknowledged_jobs_ended(h: _Hammer, s: requests.Session) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Every acknowledged job is retrievable and has ended; (ends by state, credits charged, refunded) per owner."""
    refunded: Counter[str] = Counter()
    charged: Counter[str] = Counter()
    ends: Counter[str] = Counter()
    for job_id, model in h.acked.items():
        r = s.get(f"{h.base}/assets/{job_id}", headers=AUTH, timeout=h.timeout)
        if r.status_code != 200:
            h.problems.append(f"acknowledged job {job_id} answered {r.status_code} at the end")
            continue
        state = r.json()["status"]["type"]
        ends[state] += 1
        owner = job_id.split("-job:")[0].removeprefix("email:")
        charged[owner] += CATALOG[model].credits
        if state == "failed":
            refunded[owner] += CATALOG[model].credits
        elif state != "completed":
            h.problems.append(f"job {job_id} is still {state} after an hour of simulated time")
    return ends, charged, refunded


def _credits_balance(h: _Hammer, admin: AdminClient, start: dict[str, int], charged: Counter[str],
                     refunded: Counter[str]) -> dict[str, dict[str, int]]:
    """Each account's credits end at start - charges + refunds, exactly."""
    balances = {}
    for e in h.bound:
        end = admin.get_ltx_user(e)["credits"]
        expect = start[e] - charged[e] + refunded[e]
        balances[e] = {"start": start[e], "charged": charged[e], "refunded": refunded[e], "end": end}
        if end != expect:
            h.problems.append(f"{e}: credits {end} != start {start[e]} - charges {charged[e]} + refunds "
                              f"{refunded[e]} = {expect}")
    return balances


def _report(h: _Hammer, *, threads: int, rounds: int, ends: Counter[str], balances: dict[str, dict[str, int]],
            seconds: float) -> dict[str, Any]:
    five_xx = sum(n for (_, code), n in h.statuses.items() if code >= 500)
    if five_xx:
        h.problems.append(f"{five_xx} answers were 5xx")
    return {
        "threads": threads, "rounds": rounds, "requests": sum(h.statuses.values()),
        "timeouts": sum(n for (_, code), n in h.statuses.items() if code == 0),
        "acknowledged_jobs": len(h.acked), "ended": dict(ends), "observations": h.observations,
        "max_executing_seen": {e: h.max_seen.get(e, 0) for e in h.bound}, "bounds": h.bound, "balances": balances,
        "statuses": {f"{op} {code}": n for (op, code), n in sorted(h.statuses.items())},
        "seconds": round(seconds, 2), "problems": h.problems,
    }


# -- bad input ---------------------------------------------------------------
def _state(url: str, session: requests.Session) -> dict[str, Any]:
    """What a rejected request must not change: accounts, scheduler, balance, stored counts."""
    base = url + API
    accounts = session.get(f"{base}/accounts", headers=AUTH, timeout=30)
    out: dict[str, Any] = {
        "accounts": accounts.json() if accounts.status_code == 200 else accounts.status_code,
        "available": session.get(f"{base}/scheduler/available", headers=AUTH, timeout=30).json(),
        "counts": session.get(f"{url}/__admin/state", timeout=30).json()["counts"],
    }
    demo = session.get(f"{base}/accounts/demo@example.com", headers=AUTH, timeout=30)
    out["balance"] = demo.json().get("balance") if demo.status_code == 200 else demo.status_code
    return out


def negative_inputs(url: str, *, max_examples: int = 10, seed: int = 0,
                    operations: list[str] | None = None) -> dict[str, Any]:
    """schemathesis' negative data over every operation (or ``operations``), with the checks above.

    A "negative" case can still be a valid request (OpenAPI leaves query strings open, so
    an unknown query parameter is no violation); such a 2xx is counted, not failed, and the
    state baseline is taken again after it. Every 4xx must be documented and leave the state
    exactly as it was; nothing may be a 5xx.
    """
    import schemathesis
    from hypothesis.errors import Unsatisfiable

    from contracts.spec import spec_path

    base = url + API
    cfg = schemathesis.Config.from_dict({"base-url": base, "headers": AUTH, "generation": {"database": "none"}})
    schema = schemathesis.openapi.from_path(str(spec_path()), config=cfg)
    session = requests.Session()
    problems: list[str] = []
    counts: Counter[str] = Counter()
    per_op: dict[str, Counter[int]] = {}
    unsatisfiable: list[str] = []
    baseline_box = {"state": _state(url, session), "url": url, "session": session, "problems": problems,
                    "counts": counts}
    t0 = time.perf_counter()
    for result in schema.get_all_operations():
        op = result.ok()
        op_id = op.definition.raw.get("operationId")
        if operations and op_id not in operations:
            continue
        statuses: Counter[int] = Counter()
        per_op[op.label] = statuses
        check = _negative_test(op, op_id, statuses, max_examples, baseline_box)
        if seed is not None:
            check = schemathesis_seed(check, seed)
        try:
            check()
        except Unsatisfiable:
            unsatisfiable.append(op.label)  # nothing in the operation can be made invalid (no params, no body)
    return {"cases": counts["cases"], "accepted_valid_in_disguise": counts["accepted"],
            "max_examples": max_examples, "seconds": round(time.perf_counter() - t0, 1),
            "nothing_to_negate": unsatisfiable,
            "statuses": {label: dict(sorted(c.items())) for label, c in per_op.items()}, "problems": problems}


def _negative_test(op: Any, op_id: str, statuses: Counter[int], max_examples: int, box: dict[str, Any]) -> Any:
    """A hypothesis test sending ``op``'s negative cases and checking each answer (see ``negative_inputs``)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode

    label = op.label
    mutating = op.method.upper() != "GET"
    problems: list[str] = box["problems"]

    @settings(max_examples=max_examples, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.generate])
    @given(case=op.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    def check(case: Any) -> None:
        try:
            resp = case.call(session=box["session"], timeout=30)
        except requests.RequestException as exc:
            problems.append(f"{label}: request raised {type(exc).__name__}: {exc}")
            return
        statuses[resp.status_code] += 1
        box["counts"]["cases"] += 1
        if resp.status_code >= 500:
            problems.append(f"{label}: {resp.status_code} for {case.as_curl_command()}: {resp.text[:200]}")
            return
        if resp.status_code < 400:
            box["counts"]["accepted"] += 1
            if mutating:
                box["state"] = _state(box["url"], box["session"])
            return
        why = documented_error(op_id, resp)
        if why:
            problems.append(f"{label}: {why} for {case.as_curl_command()}")
        if mutating:
            after = _state(box["url"], box["session"])
            if after != box["state"]:
                problems.append(f"{label}: a rejected request ({resp.status_code}) changed state: "
                                f"{case.as_curl_command()}")
                box["state"] = after

    return check


def schemathesis_seed(test: Any, seed: int) -> Any:
    """Pin hypothesis' seed on a @given test, so a failure is reproducible with the same seed."""
    from hypothesis import seed as hseed

    return hseed(seed)(test)


def hand_made_bad_inputs(url: str) -> list[str]:
    """Bad input schemathesis rarely or never makes: a lone surrogate, broken JSON, no or wrong auth."""
    base = url + API
    s = requests.Session()
    problems = []
    before = _state(url, s)
    json_headers = {**AUTH, "Content-Type": "application/json"}
    cases = [
        ("createImage", "POST", "/images/create", json_headers, b'{"prompt": "\\ud800"}'),
        ("createImage", "POST", "/images/create", json_headers, b'{"\\udc00": {"\\ud800": 1}, "prompt": "x"}'),
        ("createAccount", "POST", "/accounts", json_headers, b'{"cookie": "lt_token=\\udfff; lt_refresh_token=x"}'),
        ("createImage", "POST", "/images/create", json_headers, b'{"prompt": '),
        ("createImage", "POST", "/images/create", json_headers, b"[1, 2, 3]"),
        ("createImage", "POST", "/images/create", json_headers, b'{"prompt": "x", "seed": 1e400}'),
        ("createImage", "POST", "/images/create", json_headers, b'{"prompt": "' + b"x" * 100_000 + b'"}'),
        ("createLtxVideo", "POST", "/videos/ltx-create", json_headers, b'{"prompt": "x", "duration": -1}'),
        ("listAccounts", "GET", "/accounts", {}, None),
        ("listAccounts", "GET", "/accounts", {"Authorization": "Bearer"}, None),
        ("getSchedulerAvailable", "GET", "/scheduler/available", {"Authorization": "Basic ZGVtbw=="}, None),
        ("listRunningJobs", "GET", "/scheduler", {"Authorization": "Bearer wrong-token"}, None),
        ("getJob", "GET", "/assets/email:x-job:not-a-uuid-type:image", AUTH, None),
        ("cancelJob", "DELETE", "/scheduler/%00", AUTH, None),
    ]
    for op_id, method, path, headers, body in cases:
        r = s.request(method, base + path, headers=headers, data=body, timeout=30)
        why = documented_error(op_id, r)
        if why:
            problems.append(f"{method} {path} body {body[:60] if body else None!r}: {why}")
    after = _state(url, s)
    if after != before:
        problems.append(f"hand-made bad inputs changed state: {json.dumps(before)[:300]} -> {json.dumps(after)[:300]}")
    return problems


# -- faults ------------------------------------------------------------------
class HangingReceiver:
    """A TCP listener that accepts webhook connections and never answers (until stopped)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                continue

    def __enter__(self) -> HangingReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for c in self.conns:
            c.close()
        self.sock.close()


def refused_url() -> str:
    """A loopback URL where nothing listens: every connection is refused at once."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/hook"


def webhook_faults(url: str, *, attempts: int, timeout_s: float, jobs_per_receiver: int = 2,
                   probe_for_s: float = 3.0) -> dict[str, Any]:
    """Jobs whose replyUrl hangs or refuses: the simulator stays responsive; deliveries fail, bounded.

    ``attempts`` and ``timeout_s`` are the server's ``webhook_attempts``/``webhook_timeout_s``.
    Needs a server whose background worker runs (it does unless configured off).
    """
    admin = AdminClient(url)
    base = url + API
    s = requests.Session()
    problems: list[str] = []
    latencies: list[float] = []
    with HangingReceiver() as hang:
        targets = {"hang": hang.url, "refused": refused_url()}
        job_ids: dict[str, str] = {}
        for kind, hook in targets.items():
            for i in range(jobs_per_receiver):
                r = s.post(f"{base}/images/create", headers=AUTH, timeout=30,
                           json={"prompt": f"webhook {kind} {i}", "replyUrl": hook, "replyRef": kind})
                r.raise_for_status()
                job_ids[r.json()["jobId"]] = kind
        admin.advance(120)  # every job ends: deliveries become due
        # Probe responsiveness while deliveries hang: every request must answer promptly.
        deadline = time.perf_counter() + probe_for_s
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            r = s.get(f"{base}/scheduler/available", headers=AUTH, timeout=10)
            latencies.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200:
                problems.append(f"GET /scheduler/available answered {r.status_code} during hanging deliveries")
            time.sleep(0.02)
        # Wait (bounded) for every delivery to reach its final state.
        backoff_s = (0.5, 2.0, 8.0, 30.0)
        budget = attempts * (timeout_s + 1) + sum(backoff_s[: max(0, attempts - 1)]) + 5
        log: list[dict[str, Any]] = []
        end = time.perf_counter() + budget
        while time.perf_counter() < end:
            log = [d for d in admin.webhooks() if d["jobId"] in job_ids]
            if len(log) == len(job_ids) and all(d["state"] == "failed" for d in log):
                break
            time.sleep(0.2)
    for d in log:
        n = len(d["attempts"])
        if d["state"] != "failed":
            problems.append(f"delivery to {job_ids[d['jobId']]} receiver is {d['state']} after {n} attempts")
        if n > attempts:
            problems.append(f"delivery {d['id']} made {n} attempts > limit {attempts}")
        if any(a.get("ok") or not a.get("error") for a in d["attempts"]):
            problems.append(f"delivery {d['id']} logged an attempt without an error: {d['attempts']}")
        for a in d["attempts"]:
            if a.get("duration_ms", 0) > (timeout_s + 2) * 1000:
                problems.append(f"delivery {d['id']} attempt took {a['duration_ms']} ms > timeout {timeout_s}s")
    if len(log) != len(job_ids):
        problems.append(f"{len(log)} deliveries logged for {len(job_ids)} jobs")
    latencies.sort()
    p99 = latencies[int(0.99 * (len(latencies) - 1))] if latencies else None
    if p99 is not None and p99 > 500:
        problems.append(f"p99 latency {p99:.0f} ms while deliveries hang (> 500 ms)")
    return {"deliveries": [{"kind": job_ids[d["jobId"]], "state": d["state"], "attempts": len(d["attempts"]),
                            "errors": sorted({(a.get("error") or "")[:60] for a in d["attempts"]})} for d in log],
            "probe_requests": len(latencies), "probe_p50_ms": latencies[len(latencies) // 2] if latencies else None,
            "probe_p99_ms": p99, "problems": problems}


def _raw_post(port: int, path: str, headers: dict[str, str], declared: int, send: int, *,
              close_early: bool) -> bytes:
    """POST with ``Content-Length: declared`` sending ``send`` bytes; returns what the server answered."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {declared}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode())
    chunk = b"\x89PNG" + b"\0" * 65532
    sent = 0
    resp = b""
    sock.setblocking(False)
    try:
        while sent < send:
            try:
                sent += sock.send(chunk[: min(len(chunk), send - sent)])
            except BlockingIOError:
                time.sleep(0.001)
            try:  # the server may answer (413) and close before the body is all sent
                data = sock.recv(65536)
                if not data:
                    break
                resp += data
            except BlockingIOError:
                pass
    except (BrokenPipeError, ConnectionResetError):
        pass
    if close_early:
        sock.close()
        return b""
    sock.setblocking(True)
    sock.settimeout(10)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            resp += data
            if b"\r\n\r\n" in resp:
                head_part, _, body = resp.partition(b"\r\n\r\n")
                length = [int(line.split(b":")[1]) for line in head_part.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
    except (OSError, TimeoutError):
        pass
    sock.close()
    return resp


def disconnect_mid_upload(url: str, port: int, *, declared: int = 1024 * 1024, send: int = 10 * 1024,
                          repeat: int = 3) -> dict[str, Any]:
    """A client that announces ``declared`` bytes, sends ``send`` and hangs up: no asset, server fine."""
    s = requests.Session()
    problems: list[str] = []
    before = s.get(f"{url}/__admin/state", timeout=30).json()["counts"]["asset"]
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "image/png"}
    for _ in range(repeat):
        _raw_post(port, f"{API}/assets/", headers, declared, send, close_early=True)
    time.sleep(0.3)  # let the server notice the closed connections
    r = s.get(f"{url}{API}/scheduler/available", headers=AUTH, timeout=10)
    if r.status_code != 200:
        problems.append(f"server answered {r.status_code} after disconnected uploads")
    after = s.get(f"{url}/__admin/state", timeout=30).json()["counts"]["asset"]
    listed = s.get(f"{url}{API}/assets/", headers=AUTH, timeout=30).json()["meta"]["totalItems"]
    if after != before:
        problems.append(f"disconnected uploads created {after - before} asset(s) (listed: {listed})")
    return {"uploads": repeat, "assets_before": before, "assets_after": after, "problems": problems}


def oversized_upload(url: str, port: int, *, size: int = 25 * 1024 * 1024, limit: int = 20 * 1024 * 1024,
                     rss: Any = None) -> dict[str, Any]:
    """An upload over the limit: 413 with ``{error, code}``; ``rss()`` (MB, optional) must not grow by the body."""
    problems: list[str] = []
    before = rss() if rss else None
    raw = _raw_post(port, f"{API}/assets/", {"Authorization": f"Bearer {TOKEN}", "Content-Type": "image/png"},
                    size, size, close_early=False)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    status = int(status_line.split()[1]) if len(status_line.split()) > 1 else None
    if status != 413:
        problems.append(f"oversized upload answered {status_line!r}, not 413")
    else:
        try:
            doc = json.loads(body)
            if doc.get("code") != 413 or not isinstance(doc.get("error"), str):
                problems.append(f"413 body is not {{error, code}}: {body[:200]!r}")
        except ValueError:
            problems.append(f"413 body is not JSON: {body[:200]!r}")
    after = rss() if rss else None
    grew = round(after - before, 1) if rss else None
    if grew is not None and grew > size / 1024 / 1024 / 2:
        problems.append(f"server memory grew {grew} MB for a {size / 1024 / 1024:.0f} MB refused body")
    r = requests.get(f"{url}{API}/scheduler/available", headers=AUTH, timeout=10)
    if r.status_code != 200:
        problems.append(f"server answered {r.status_code} after the oversized upload")
    return {"size_mb": round(size / 1024 / 1024, 1), "limit_mb": round(limit / 1024 / 1024, 1), "status": status,
            "rss_before_mb": before, "rss_after_mb": after, "rss_growth_mb": grew, "problems": problems}


# -- serving: hostile and careless clients, bad webhook receivers, shutdown ---------------------
class Hostiles:
    """Hold open ``idle`` silent sockets, ``slowloris`` header drippers and ``polls`` pollForResult waits.

    Slowloris sockets send a request line and one header byte every half second, and reconnect when the
    server closes them (``reconnects`` counts that). Each poll thread repeats ``POST /images/create``
    with ``pollForResult: 20`` (at speed 1 a FLUX job holds the request ~12 s), so ``polls`` waits are
    in progress at every moment.
    """

    def __init__(self, port: int, *, idle: int, slowloris: int, polls: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.n_idle, self.n_slow, self.n_polls = idle, slowloris, polls
        self.idle: list[socket.socket] = []
        self.slow: list[socket.socket] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.poll_status: Counter[int] = Counter()
        self.reconnects = 0

    def _connect(self) -> socket.socket | None:
        try:
            return socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError:
            return None

    def _slow_head(self) -> socket.socket | None:
        s = self._connect()
        if s is not None:
            try:
                s.sendall(f"GET {API}/scheduler/available HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode())
            except OSError:
                return None
        return s

    def _drip(self) -> None:
        while not self._stop.wait(0.5):
            for i, s in enumerate(self.slow):
                try:
                    s.send(b"x")
                except OSError:
                    self.reconnects += 1
                    fresh = self._slow_head()
                    if fresh is not None:
                        self.slow[i] = fresh

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                r = requests.post(f"{self.url}{API}/images/create", headers=AUTH, timeout=90,
                                  json={"prompt": "held open", "pollForResult": 20})
                self.poll_status[r.status_code] += 1
            except requests.RequestException:
                self.poll_status[0] += 1
                time.sleep(0.5)

    def __enter__(self) -> Hostiles:
        self.idle = [s for s in (self._connect() for _ in range(self.n_idle)) if s is not None]
        self.slow = [s for s in (self._slow_head() for _ in range(self.n_slow)) if s is not None]
        self._threads = [threading.Thread(target=self._drip, daemon=True)]
        self._threads += [threading.Thread(target=self._poll, daemon=True) for _ in range(self.n_polls)]
        for t in self._threads:
            t.start()
        time.sleep(1.0)  # every poll has reached the server and is waiting
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for s in self.idle + self.slow:
            s.close()


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


def probe(url: str, n: int = 100, *, timeout: float = 5.0, gap_s: float = 0.02,
          budget_s: float = 120.0) -> dict[str, Any]:
    """``n`` fresh-connection GET /scheduler/available requests, one after another: how many answered, how fast.

    Probes not sent within ``budget_s`` (a starved server makes each wait ``timeout``) count as failed.
    """
    latencies: list[float] = []
    failed = 0
    end = time.perf_counter() + budget_s
    for _ in range(n):
        if time.perf_counter() > end:
            failed += 1
            continue
        t = time.perf_counter()
        try:
            ok = requests.get(f"{url}{API}/scheduler/available", headers=AUTH, timeout=timeout).status_code == 200
        except requests.RequestException:
            ok = False
        if ok:
            latencies.append((time.perf_counter() - t) * 1000)
        else:
            failed += 1
        time.sleep(gap_s)
    return {"probes": n, "answered": len(latencies), "failed": failed, "p50_ms": _pct(latencies, 0.5),
            "p99_ms": _pct(latencies, 0.99), "max_ms": round(max(latencies), 1) if latencies else None}


def hostile_clients(url: str, port: int, *, idle: int = 200, slowloris: int = 16, polls: int = 8,
                    probes: int = 100, baseline: bool = True) -> dict[str, Any]:
    """Issue 13's first Done-when: with the hostiles held open, a fresh client is still answered promptly.

    ``baseline`` is the same probe with no hostile client, just before: on a shared machine the ratio of
    the two says more than either figure.
    """
    before = probe(url, probes) if baseline else None
    with Hostiles(port, idle=idle, slowloris=slowloris, polls=polls) as h:
        report = probe(url, probes)
        report.update(idle=len(h.idle), slowloris=len(h.slow), polls=polls, slowloris_reconnects=h.reconnects,
                      poll_statuses=dict(h.poll_status), baseline=before)
    return report


def mixed_keepalive(url: str, *, threads: int = 32, gets: int = 60, timeout: float = 5.0) -> dict[str, Any]:
    """``threads`` threads, half on keep-alive Sessions, half a connection per request, ``gets`` GETs each."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    paths = [f"{API}/scheduler/available", f"{API}/accounts", f"{API}/scheduler"]

    def work(i: int) -> None:
        sess = requests.Session() if i % 2 == 0 else None
        for k in range(gets):
            try:
                r = (sess or requests).get(url + paths[k % len(paths)], headers=AUTH, timeout=timeout)
                key = "answered" if r.status_code == 200 else f"status {r.status_code}"
            except requests.Timeout:
                key = "timeouts"
            except requests.RequestException:
                key = "errors"
            with lock:
                counts[key] += 1

    t0 = time.perf_counter()
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return {"threads": threads, "requests": threads * gets, "answered": counts["answered"],
            "timeouts": counts["timeouts"], "errors": counts["errors"],
            "other": {k: v for k, v in counts.items() if k.startswith("status")},
            "seconds": round(time.perf_counter() - t0, 2)}


class Receiver:
    """A loopback webhook receiver: ``healthy`` (200 at once), ``drip`` (its status line one byte every 3 s),
    ``huge`` (200 with a 1 GiB body, streamed as fast as the client reads), ``redirect`` (307 to ``location``).

    ``hits`` records ``(real time, jobId or None)`` for each request whose body was read.
    """

    def __init__(self, kind: str, location: str = "") -> None:
        self.kind = kind
        self.location = location
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.hits: list[tuple[float, str | None]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _read_request(self, conn: socket.socket) -> str | None:
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        try:
            return json.loads(body).get("jobId")
        except ValueError:
            return None

    def _serve(self, conn: socket.socket) -> None:
        try:
            job_id = self._read_request(conn)
            self.hits.append((time.time(), job_id))
            if self.kind == "healthy":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            elif self.kind == "redirect":
                conn.sendall(f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {self.location}\r\n"
                             f"Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
            elif self.kind == "drip":
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                    if self._stop.wait(3):
                        break
                    conn.send(bytes([byte]))
            elif self.kind == "huge":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
                block = b"\0" * 1_048_576
                for _ in range(1024):
                    if self._stop.is_set():
                        break
                    conn.sendall(block)
        except OSError:
            pass
        finally:
            conn.close()

    def __enter__(self) -> Receiver:
        t = threading.Thread(target=self._accept, daemon=True)
        self._threads.append(t)
        t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.sock.close()


def bad_receivers(url: str, *, rss: Any, drips: int = 10, huge: int = 2, settle_s: float = 3.0) -> dict[str, Any]:
    """Issue 13's webhook Done-when, against a server at speed 1 (not paused).

    ``drips`` receivers that answer a byte every 3 s and ``huge`` ones that answer 1 GiB each get a job;
    once their deliveries are in flight a healthy receiver's job completes: its webhook must arrive
    within 1 s of the job's simulated completion, and the server's RSS (``rss()``, MB) must not grow
    by more than 50 MB. Leaves the bad deliveries in flight (for a shutdown check after it).
    """
    admin = AdminClient(url)
    base = url + API
    s = requests.Session()
    problems: list[str] = []
    receivers = [Receiver("drip") for _ in range(drips)] + [Receiver("huge") for _ in range(huge)]
    healthy = Receiver("healthy")
    for r in [*receivers, healthy]:
        r.__enter__()
    rss_before = rss()
    for r in receivers:
        resp = s.post(f"{base}/images/create", headers=AUTH, timeout=30,
                      json={"prompt": f"webhook {r.kind}", "replyUrl": r.url})
        resp.raise_for_status()
    admin.advance(120)  # every bad job ends: their deliveries start
    time.sleep(settle_s)  # ... and are in flight (drips hold their sockets, the huge ones stream)
    resp = s.post(f"{base}/images/create", headers=AUTH, timeout=30,
                  json={"prompt": "webhook healthy", "replyUrl": healthy.url})
    resp.raise_for_status()
    job_id = resp.json()["jobId"]
    admin.advance(120)  # the healthy job ends now (simulated completion = this real instant)
    completed_at = time.time()
    deadline = completed_at + 10
    while not healthy.hits and time.time() < deadline:
        time.sleep(0.01)
    delay = round(healthy.hits[0][0] - completed_at, 3) if healthy.hits else None
    if delay is None:
        problems.append("the healthy receiver got no webhook within 10 s")
    elif delay > 1.0:
        problems.append(f"the healthy receiver got its webhook {delay} s after completion (> 1 s)")
    if healthy.hits and healthy.hits[0][1] != job_id:
        problems.append(f"the healthy receiver got {healthy.hits[0][1]}, not {job_id}")
    time.sleep(max(0.0, 5.0 - (time.time() - completed_at)))  # the huge bodies had time to be read, if they were
    rss_after = rss()
    growth = round(rss_after - rss_before, 1)
    if growth > 50:
        problems.append(f"RSS grew by {growth} MB (> 50 MB) with 1 GiB answers in flight")
    bad_hits = sum(len(r.hits) for r in receivers)
    return {"drips": drips, "huge": huge, "bad_receiver_requests": bad_hits, "healthy_delay_s": delay,
            "rss_before_mb": rss_before, "rss_after_mb": rss_after, "rss_growth_mb": growth, "problems": problems,
            "_receivers": [*receivers, healthy]}


class StalledBodies:
    """Connections that send a POST's headers and then stall: ``sized`` declare ``Content-Length: 4000`` and
    send 9 bytes of it, ``chunked`` send one 5-byte chunk and never the last. Each records when the server
    closed it and what it answered (issue 26: each used to hold a granian thread until it had all arrived)."""

    HEAD = (f"POST {API}/images/create HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\n")

    def __init__(self, port: int, *, sized: int, chunked: int) -> None:
        self.port = port
        self.sized = sized
        self.chunked = chunked
        self.socks: list[socket.socket] = []
        self.closed_after: list[float] = []
        self.answers: Counter[str] = Counter()
        self.opened = 0.0
        self.sample = ""  # one whole answer, head and body
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> StalledBodies:
        for i in range(self.sized + self.chunked):
            try:
                c = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            except OSError:
                self.answers["connect failed"] += 1
                continue
            if i < self.sized:
                c.sendall((self.HEAD + "Content-Length: 4000\r\n\r\n").encode() + b'{"prompt"')
            else:
                c.sendall((self.HEAD + "Transfer-Encoding: chunked\r\n\r\n").encode() + b'5\r\n{"pro\r\n')
            self.socks.append(c)
        self.opened = time.monotonic()
        for c in self.socks:
            t = threading.Thread(target=self._watch, args=(c,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _watch(self, c: socket.socket) -> None:
        """Read until the server closes: the status line it sent (if any) and when."""
        data = b""
        c.settimeout(120)
        try:
            while chunk := c.recv(4096):
                data += chunk
        except OSError:
            pass
        status = data.split(b"\r\n", 1)[0].decode(errors="replace")[9:12] or "closed, no answer"
        with self._lock:
            self.sample = self.sample or data.decode(errors="replace")
            self.closed_after.append(time.monotonic() - self.opened)
            self.answers[status] += 1

    def wait_closed(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))

    def __exit__(self, *exc: object) -> None:
        for c in self.socks:
            with contextlib.suppress(OSError):
                c.close()


def stalled_bodies(url: str, port: int, *, sized: int = 200, chunked: int = 20, probes: int = 20,
                   body_timeout_s: float, settle_s: float = 0.5) -> dict[str, Any]:
    """Issue 26's Done-when: with ``sized`` + ``chunked`` stalled bodies open, ``probes`` fresh GETs are answered
    (p99 reported), and every stalled connection is answered 408 and closed at ``body_timeout_s``."""
    with StalledBodies(port, sized=sized, chunked=chunked) as stalled:
        time.sleep(settle_s)  # the server has read every head by now
        report = probe(url, probes, timeout=2.0, budget_s=max(10.0, body_timeout_s - settle_s - 1))
        stalled.wait_closed(body_timeout_s + 30)
        closed = sorted(stalled.closed_after)
        report.update(stalled=len(stalled.socks), sized=sized, chunked=chunked, body_timeout_s=body_timeout_s,
                      answers=dict(stalled.answers), closed_first_s=round(closed[0], 2) if closed else None,
                      closed_last_s=round(closed[-1], 2) if closed else None,
                      still_open=len(stalled.socks) - len(closed), sample=stalled.sample)
    return report


def port_serves(port: int) -> bool:
    """True if something accepts a connection on loopback ``port`` and answers an HTTP request."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
            c.sendall(b"GET /__admin/state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            c.settimeout(2)
            return bool(c.recv(16))
    except OSError:
        return False


def main() -> None:  # pragma: no cover - a benchmark, run by hand
    """``python -m benchmarks.reliability serving``: the full-size serving figures of docs/reliability.md."""
    import argparse
    import os
    import signal as _signal

    from benchmarks import machine_info, simulator, write_results

    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["serving"])
    parser.add_argument("--server", default="granian")
    args = parser.parse_args()
    out: dict[str, Any] = {"machine": machine_info(), "load_before": os.getloadavg(), "server": args.server}
    import tempfile

    out["stalled_bodies"] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            extra = ["--workers", "2", "--state", f"{tmp}/stalled.db"] if workers > 1 else []
            with simulator("--server", args.server, "--body-timeout", "10", *extra, name="stalled") as srv:
                report = stalled_bodies(srv.url, srv.port, body_timeout_s=10)
            out["stalled_bodies"][f"workers {workers}"] = report
            print("stalled bodies, workers", workers, report, flush=True)
    with simulator("--server", args.server, name="hostile") as srv:
        out["hostile"] = hostile_clients(srv.url, srv.port)
        print("hostile", out["hostile"], flush=True)
        out["mixed_keepalive"] = mixed_keepalive(srv.url)
        print("mixed", out["mixed_keepalive"], flush=True)
    with simulator("--server", args.server, name="webhooks") as srv:
        report = bad_receivers(srv.url, rss=srv.rss_mb)
        receivers = report.pop("_receivers")
        t0 = time.perf_counter()
        assert srv.proc is not None
        srv.proc.send_signal(_signal.SIGTERM)
        srv.proc.wait(timeout=30)
        report["sigterm_exit_s"] = round(time.perf_counter() - t0, 2)
        for r in receivers:
            r.__exit__()
        out["bad_receivers"] = report
        print("webhooks", report, flush=True)
    from benchmarks.scale_bench import redis_server

    out["mixed_run"] = {}
    with tempfile.TemporaryDirectory() as tmp, redis_server() as redis:
        for store, extra in (("memory", []), ("sqlite", ["--workers", "2", "--state", f"{tmp}/state.db"]),
                             ("redis", ["--workers", "2", "--store", redis.url])):
            with simulator("--server", args.server, "--paused", *extra, name=f"mixed-{store}") as srv:
                report = concurrency(srv.url, threads=32, rounds=4, ops_per_round=20, timeout=5, seed=13)
            out["mixed_run"][store] = {k: report[k] for k in ("requests", "timeouts", "seconds", "acknowledged_jobs",
                                                               "max_executing_seen", "problems")}
            print("mixed run", store, out["mixed_run"][store], flush=True)
    out["load_after"] = os.getloadavg()
    print(write_results("reliability-serving", out))


if __name__ == "__main__":  # pragma: no cover
    main()
