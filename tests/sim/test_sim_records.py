"""Typed records (sim/records.py): one constructor, rows that round-trip exactly and stay small, old dict rows load.

In-process and store-free where possible: milliseconds.
"""

from __future__ import annotations

import dataclasses
import json
import marshal
from typing import Any

import pytest

from mock_server.config import SimConfig
from mock_server.sim import Simulator, tenant_id
from mock_server.sim.catalog import CATALOG
from mock_server.sim.records import Account, Asset, Job, LtxUser, Render, account_key, load_record, phase

EMAIL = "demo@example.com"
UUID = "7a34b821-9fd0-405e-921b-4abc6f7839e7"


def _job(**changes: Any) -> Job:
    job = Job.admit(job_uuid=UUID, generation_id="gen_0123456789abcdef01234567", tenant="t_1", email=EMAIL,
                    operation="images/create", gen=CATALOG["flux"], params={"prompt": "a fox"}, source=None,
                    start_ms=1_700_000_000_000, total_ms=12_000, artifact_uuid="0" * 8 + UUID[8:])
    job.plan_end({"outcome": "completed"}, job.start_ms)
    return dataclasses.replace(job, **changes)


@pytest.mark.parametrize("changes", [
    {},
    {"outcome": "failed", "fail_progress": 40, "message": "boom", "end_ms": 1_700_000_004_800},
    {"end_ms": None, "stall_progress": 50, "start_ms_resume": 1_700_000_009_000, "cancelled_ms": 5},
    {"jobId": "email:other@example.com-job:x-type:image"},  # an id that does not name the email: kept whole
    {"generationId": "gen_ABC", "artifact_uuid": "not-a-uuid"},  # not the usual shapes: kept as given
    {"generationId": "gen_00000000000000000000000a", "artifact_uuid": "00000000-0000-4000-8000-000000000000"},
    {"generationId": "gen_00000000000a"},  # the shape the simulator mints: kept as an int, leading zeros back
    {"media": "video", "credits": 99},  # not the catalog's figures: kept as given
    {"start_ms": 1_700_000_000_500, "replyUrl": "http://127.0.0.1:9/h", "replyRef": "r", "maxJobs": 3,
     "webhook": {"copies": 2}},
])
def test_a_job_round_trips_through_its_row_and_its_public_record(changes: dict[str, Any]) -> None:
    job = _job(**changes)
    row = marshal.loads(marshal.dumps(job.to_row()))  # as the memory store keeps it
    assert Job.from_row(job.jobId, row) == job
    assert Job.from_row(job.jobId, json.loads(json.dumps(job.to_row()))) == job  # as SQLite and Redis keep it
    assert Job.from_dict(job.to_dict()) == job


def test_the_public_record_has_the_dict_records_keys() -> None:
    """Snapshots write ``to_dict``: the keys the ~25-key dicts had, optional ones only when set."""
    plain = _job().to_dict()
    assert "fail_progress" not in plain and "cancelled_ms" not in plain and "start_ms_resume" not in plain
    assert {"jobId", "generationId", "tenant", "email", "media", "mime", "subtype", "credits", "params", "source",
            "created_ms", "start_ms", "total_ms", "artifact_uuid", "maxJobs", "replyUrl", "replyRef", "outcome",
            "artifact_delay_ms", "stall_progress", "end_ms", "webhook", "operation", "model"} == set(plain)
    failed = _job(outcome="failed", fail_progress=10, message="m").to_dict()
    assert failed["fail_progress"] == 10 and failed["message"] == "m"


def test_a_row_is_much_smaller_than_the_dict_record() -> None:
    job = _job()
    assert len(marshal.dumps(job.to_row())) * 2 < len(marshal.dumps(job.to_dict()))


@pytest.mark.parametrize("render", [False, True])
def test_an_artifact_round_trips_and_stores_its_job_by_uuid(render: bool) -> None:
    job = _job()
    asset = Asset.artifact(job, 1_700_000_012_000, render=render)
    row = asset.to_row()
    assert job.jobId not in row and int(UUID.replace("-", ""), 16) in row  # the job's uuid stands for its id
    back = Asset.from_row(asset.uuid, marshal.loads(marshal.dumps(row)))
    assert back == asset and back.folder == "artifacts/vertex-ai"
    assert Asset.from_row(asset.uuid, json.loads(json.dumps(row))) == asset
    assert (back.render == Render.of(job)) is render


def test_an_upload_round_trips() -> None:
    asset = Asset.upload(UUID, "t_1", EMAIL, "reference-image", "image/webp", 5, 123)
    assert Asset.from_row(UUID, asset.to_row()) == asset and asset.folder == "artifacts/user-uploads"


def test_records_written_as_dicts_by_an_older_version_still_load() -> None:
    job = _job()
    assert load_record(Job, job.jobId, {k: v for k, v in job.to_dict().items() if k != "jobId"}) == job
    old = {"uuid": job.artifact_uuid, "tenant": "t_1", "email": EMAIL, "type": "artifact", "mimeType": "image/png",
           "created_ms": 7, "jobId": job.jobId, "subtype": "vertex-ai", "folder": "artifacts/vertex-ai",
           "render": {"jobId": job.jobId, "media": "image", "operation": "images/create", "source": None,
                      "params": {"prompt": "a fox"}}}
    assert load_record(Asset, job.artifact_uuid, old) == Asset.artifact(job, 7, render=True)


def test_status_phases_are_pure_functions_of_the_record_and_the_instant() -> None:
    job = _job()
    assert phase(job, job.start_ms + 6_000) == ("active", 50)
    assert phase(job, job.start_ms + 12_000) == ("completed", 100)
    stalled = _job(end_ms=None, stall_progress=30)
    assert phase(stalled, stalled.start_ms + 100_000) == ("active", 30)
    assert phase(_job(outcome="failed", fail_progress=40, end_ms=job.start_ms + 4_800), job.start_ms + 5_000) \
        == ("failed", 40)


def test_a_declared_scenario_job_is_built_like_a_created_one() -> None:
    """One constructor: a job declared in a scenario and one created through the rules carry the same fields."""
    sim = Simulator(SimConfig(paused=True, background=False, seed=5))
    try:
        from mock_server.scenario import apply, parse

        apply(sim, parse("version: 1\ntokens: [demo-token]\njobs:\n  - {state: failed, progress: 30}\n"), demo=True)
        created = sim.jobs.create(tenant_id("demo-token"), "images/create", {"prompt": "a"}, sim.now())
        declared = next(j for j in sim.jobs.all() if j.jobId != created.jobId)
        assert declared.outcome == "failed" and declared.fail_progress == 30
        assert declared.end_ms == declared.start_ms + declared.total_ms * 30 // 100
        assert set(declared.to_dict()) == set(created.to_dict()) | {"fail_progress", "message"}
    finally:
        sim.close()


def test_every_catalog_artifact_kind_has_its_stored_index() -> None:
    """Rows name a model's (mimeType, subtype) by index: a new model's pair must be appended to the table."""
    from mock_server.sim.records import _ARTIFACT_KINDS

    assert {(g.mime, g.subtype) for g in CATALOG.values()} <= set(_ARTIFACT_KINDS)


def _user(**changes: Any) -> LtxUser:
    user = LtxUser.new(EMAIL, "Demo User", "AbCdEfGhIjKlMnOpQrStU", 500, True, 1_700_000_000_000)
    return dataclasses.replace(user, lt_token="h.p.s", lt_refresh_token="r" * 32, token_expire=1_702_592_000_000,
                               refresh_expire=1_707_776_000_000, **changes)


@pytest.mark.parametrize("changes", [{}, {"latest_created_ms": 1_700_000_100_000}, {"revoked": True, "name": None},
                                     {"credits": 0, "subscription": False}])
def test_an_ltx_user_round_trips_through_its_row_and_its_dict(changes: dict[str, Any]) -> None:
    user = _user(**changes)
    row = user.to_row()
    assert EMAIL not in row  # the key says it
    assert LtxUser.from_row(EMAIL, marshal.loads(marshal.dumps(row))) == user  # the memory store
    assert LtxUser.from_row(EMAIL, json.loads(json.dumps(row))) == user  # SQLite, Redis
    assert LtxUser.from_dict(user.to_dict()) == user
    if not changes:
        assert len(row) == 9  # latest_created_ms None and revoked False are left off


@pytest.mark.parametrize("changes", [{}, {"maxJobs": 1, "cookie": {"lt_id": "x", "optimizelyEndUserId": "o"}}])
def test_an_account_round_trips_through_its_row_and_its_dict(changes: dict[str, Any]) -> None:
    account = dataclasses.replace(Account.configure("t_1", EMAIL, 5, 9, cookie={"lt_id": "x", "lt_token": "t"}),
                                  **changes)
    key = account_key("t_1", EMAIL)
    row = account.to_row()
    assert "t_1" not in row and EMAIL not in row
    assert Account.from_row(key, marshal.loads(marshal.dumps(row))) == account
    assert Account.from_row(key, json.loads(json.dumps(row))) == account
    assert Account.from_dict(account.to_dict()) == account


def test_account_and_user_dicts_of_an_older_version_still_load() -> None:
    old_account = {"tenant": "t_1", "email": EMAIL, "created_ms": 5, "updated_ms": 9, "maxJobs": 3,
                   "cookie": {"lt_id": "x", "lt_token": "t", "lt_refresh_token": "r"}}
    account = load_record(Account, account_key("t_1", EMAIL), old_account)
    assert account == Account.configure("t_1", EMAIL, 5, 9, max_jobs=3, cookie=old_account["cookie"])
    assert account.to_dict() == old_account
    # a user written before "revoked" existed, its latest generation never set
    old_user = {k: v for k, v in _user().to_dict().items() if k not in ("revoked", "email")}
    old_user["latest_created_ms"] = None
    assert load_record(LtxUser, EMAIL, old_user) == _user()


def test_declared_users_and_accounts_are_built_by_the_rules_constructors(monkeypatch: pytest.MonkeyPatch) -> None:
    """One constructor each: a scenario's user and account go through ``LtxUser.new`` / ``Account.configure``,
    as POST /__admin/ltx-users and POST /accounts do, and come back as typed records."""
    built: list[str] = []
    for cls, name in ((Account, "configure"), (LtxUser, "new")):
        original = getattr(cls, name)
        monkeypatch.setattr(cls, name, classmethod(
            lambda c, *a, _o=original, _n=name, **k: built.append(_n) or _o(*a, **k)))
    sim = Simulator(SimConfig(paused=True, background=False, seed=5))
    built.clear()  # the start-up demo account
    try:
        from mock_server.scenario import apply, parse

        apply(sim, parse("version: 1\ntokens: [demo-token]\nltx_users:\n  - {email: erin@example.com, credits: 7}\n"
                         "accounts:\n  - {email: erin@example.com, maxJobs: 2}\n"), demo=False)
        assert built == ["new", "configure"]
        tid = tenant_id("demo-token")
        account = sim.accounts.get(tid, "erin@example.com")
        user = sim.ltx.get_user("erin@example.com")
        assert isinstance(account, Account) and isinstance(user, LtxUser)
        assert (account.maxJobs, user.credits) == (2, 7)
        assert account.cookie["lt_token"] == user.lt_token  # the live session, as POST /accounts keeps it
        sim.accounts.upsert(tid, sim.ltx.cookie_of(user), None, sim.now())
        assert built == ["new", "configure"]  # an existing configuration is updated, not built again
        assert sim.accounts.require(tid, "erin@example.com").maxJobs == 2
    finally:
        sim.close()


def test_a_generation_id_as_the_simulator_mints_it_is_stored_as_an_int() -> None:
    """The compaction must match the ids the rules make (``Context.generation_id``), not some other width."""
    from mock_server.config import SimConfig
    from mock_server.sim import Simulator

    minted = Simulator(SimConfig(seed=7)).ctx.generation_id()
    row = _job(generationId=minted).to_row()
    assert type(row[0]) is int
    assert Job.from_row(_job().jobId, row).generationId == minted
