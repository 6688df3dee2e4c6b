"""Commits sent ahead of their replies (``RedisStore.request_end(behind=True)``, ``finish``), on a real redis-server.

granian's write thread sends a write's commit and runs the next queued write while it is on its way
(``rsgi.py``, ``_writes``). What must hold: the next transaction of the thread reads what the commits sent ahead
wrote (``Prior``), as Redis will hold it when its own commit runs there; a commit refused there takes with it
every later one that read from it (nothing of either is written); ranges by score read through the writes sent
ahead answer what the index holds once they ran; a reply lost with the connection is sent again and applied once.
A second store on the same prefix stands for another process.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest

from mock_server.store.base import Conflict
from mock_server.store.memory import MemoryStore
from mock_server.store.redis import RedisStore, transaction
from mock_server.store.redis.cache import Cache
from mock_server.store.redis.transaction import Pending


@pytest.fixture
def stores(url: str) -> Iterator[tuple[RedisStore, RedisStore]]:
    mine, other = RedisStore(url), RedisStore(url)
    yield mine, other
    mine.close()
    other.close()


def _ahead(store: RedisStore) -> Pending:
    pending = store.request_end(behind=True)
    assert isinstance(pending, Pending), "the commit was not sent ahead"
    return pending


def _fresh(store: RedisStore, kind: str, key: str) -> object:
    """What a request starting now in ``store`` reads (a read: it catches up first)."""
    store.request_begin(write=False)
    try:
        return store.get(kind, key)
    finally:
        store.request_end()


def test_the_next_transaction_reads_the_writes_sent_ahead_and_both_commit_in_order(
        stores: tuple[RedisStore, RedisStore]) -> None:
    mine, other = stores
    mine.request_begin(write=True)
    mine.put("rec", "a", {"n": 1})
    mine.index_add("ix", "m1", 1.0)
    mine.put_meta("m", {"v": 1})
    first = _ahead(mine)

    mine.request_begin(write=True)
    assert mine.get("rec", "a") == {"n": 1}  # not in the cache yet: read from the commit on its way
    assert mine.get_many("rec", ["a", "zz"]) == [{"n": 1}, None]
    assert mine.get_meta("m") == {"v": 1}
    assert mine.index_score("ix", "m1") == 1.0
    assert mine.index_by_score("ix") == [("m1", 1.0)]
    mine.put("rec", "b", {"from": mine.get("rec", "a")})
    second = _ahead(mine)

    mine.finish(first)
    mine.finish(second)
    assert _fresh(other, "rec", "a") == {"n": 1}
    assert _fresh(other, "rec", "b") == {"from": {"n": 1}}
    assert _fresh(mine, "rec", "b") == {"from": {"n": 1}}  # the cache took both


def test_a_refused_commit_takes_the_later_ones_that_read_from_it_and_nothing_is_written(
        stores: tuple[RedisStore, RedisStore]) -> None:
    mine, other = stores
    with mine.atomic():
        mine.put("rec", "a", {"n": 0})
    mine.request_begin(write=True)
    seen = mine.get("rec", "a")
    with other.atomic():  # another process changes what the first transaction read, before it is sent
        other.put("rec", "a", {"n": 99})
    mine.put("rec", "b", {"from": seen})
    first = _ahead(mine)

    mine.request_begin(write=True)
    b = mine.get("rec", "b")  # read from the commit on its way, which Redis will refuse
    assert b == {"from": {"n": 0}}
    mine.put("rec", "c", {"from": b})
    second = _ahead(mine)

    with pytest.raises(Conflict):
        mine.finish(first)
    with pytest.raises(Conflict):
        mine.finish(second)
    with pytest.raises(Conflict):
        mine.finish(second)  # the outcome is kept: asking again says the same
    assert _fresh(other, "rec", "b") is None
    assert _fresh(other, "rec", "c") is None
    assert _fresh(mine, "rec", "b") is None  # the cache never took the refused writes
    assert _fresh(mine, "rec", "a") == {"n": 99}


def test_an_unrelated_commit_after_a_refused_one_is_kept(stores: tuple[RedisStore, RedisStore]) -> None:
    """Refusal goes only as far as what was read: a later commit that read nothing of the refused one commits."""
    mine, other = stores
    with mine.atomic():
        mine.put("rec", "a", {"n": 0})
    mine.request_begin(write=True)
    mine.get("rec", "a")
    with other.atomic():
        other.put("rec", "a", {"n": 1})
    mine.put("rec", "b", {"x": 1})
    first = _ahead(mine)
    mine.request_begin(write=True)
    mine.put("rec", "elsewhere", {"y": 2})
    second = _ahead(mine)
    with pytest.raises(Conflict):
        mine.finish(first)
    mine.finish(second)
    assert _fresh(other, "rec", "elsewhere") == {"y": 2}
    assert _fresh(other, "rec", "b") is None


@pytest.mark.parametrize("seed", range(24))
def test_index_reads_through_the_writes_sent_ahead_answer_what_redis_holds_once_they_ran(
        stores: tuple[RedisStore, RedisStore], seed: int) -> None:
    """Random members moved, added and removed by a commit on its way; the next transaction's reads by score, by
    member and by rank give what a fresh read gives once it has run (and its commit, checked on them, passes)."""
    rng = random.Random(seed)
    mine, other = stores
    with mine.atomic():
        for i in range(rng.randint(0, 30)):
            mine.index_add("ix", f"m{i}", float(rng.randint(0, 20)))
    mine.request_begin(write=True)
    for _ in range(rng.randint(1, 8)):
        member = f"m{rng.randint(0, 40)}"
        if rng.random() < 0.6:
            mine.index_add("ix", member, float(rng.randint(0, 20)))
        else:
            mine.index_remove("ix", member)
    if rng.random() < 0.1:
        mine.index_drop("ix")
    first = _ahead(mine)

    lo, hi = sorted([float(rng.randint(-1, 21)), float(rng.randint(-1, 21))])
    limit = rng.choice([None, 1, 2, 5])
    probe = f"m{rng.randint(0, 40)}"
    mine.request_begin(write=True)
    by_score = mine.index_by_score("ix", lo, hi, limit)
    score = mine.index_score("ix", probe)
    everything = mine.index_by_score("ix")
    mine.put("rec", "read", {"ok": True})  # so that the reads are checked at its commit
    second = _ahead(mine)
    mine.finish(first)
    mine.finish(second)  # its checks held in Redis: what it read was what Redis held

    other.request_begin(write=False)
    try:
        assert by_score == other.index_by_score("ix", lo, hi, limit)
        assert score == other.index_score("ix", probe)
        assert everything == other.index_by_score("ix")
    finally:
        other.request_end()


def test_counts_and_pages_of_an_index_written_ahead_wait_for_it(stores: tuple[RedisStore, RedisStore]) -> None:
    mine, _ = stores
    with mine.atomic():
        for i in range(5):
            mine.index_add("ix", f"m{i}", float(i))
    mine.request_begin(write=True)
    mine.index_remove("ix", "m0")
    mine.index_add("ix", "m9", 9.0)
    first = _ahead(mine)
    mine.request_begin(write=True)
    assert mine.index_count("ix") == 5
    assert mine.index_range("ix") == ["m1", "m2", "m3", "m4", "m9"]
    assert first.done  # settled for the count: the cache holds it now
    mine.put("rec", "x", {"n": mine.index_count("ix", 4.0)})
    mine.request_end()
    mine.finish(first)


def test_a_reply_lost_with_the_connection_is_sent_again_and_applied_once(
        stores: tuple[RedisStore, RedisStore]) -> None:
    mine, other = stores
    mine.request_begin(write=True)
    mine.put("rec", "a", {"n": 1})
    mine.index_add("ix", "once", 1.0)
    version = int(other.wire.call("GET", other.keys.version) or 0)
    first = _ahead(mine)
    mine.wire._tl.link.close()  # the reply owed is lost with the socket (the commit may have run)
    mine.finish(first)
    assert int(other.wire.call("GET", other.keys.version)) == version + 1  # applied once, however it went
    assert _fresh(other, "rec", "a") == {"n": 1}


def test_other_round_trips_of_the_thread_read_the_owed_replies_first(stores: tuple[RedisStore, RedisStore]) -> None:
    mine, _ = stores
    mine.request_begin(write=True)
    mine.put("rec", "a", {"n": 1})
    first = _ahead(mine)
    assert mine.wire.call("PING") in (b"PONG", "PONG")  # not the commit's reply
    assert first.reply is not None  # read on the way, acted on by finish
    mine.finish(first)
    assert _fresh(mine, "rec", "a") == {"n": 1}


def test_blobs_and_stores_that_cannot_send_ahead_commit_as_before(stores: tuple[RedisStore, RedisStore]) -> None:
    mine, other = stores
    mine.request_begin(write=True)
    mine.blob_put("bl", b"bytes")
    assert mine.request_end(behind=True) is None  # blobs: committed at once
    assert other.blob_get("bl") == b"bytes"
    memory = MemoryStore()
    memory.request_begin(write=True)
    memory.put("rec", "a", {"n": 1})
    assert memory.request_end(behind=True) is None
    assert memory.get("rec", "a") == {"n": 1}


def test_checks_are_skipped_only_when_the_commits_sent_ahead_are_every_change_since_the_transaction_began(
        stores: tuple[RedisStore, RedisStore]) -> None:
    """The commit script skips a transaction's checks when nothing changed since it began but the commits sent
    ahead whose writes it read. A commit sent ahead that the cache took before the transaction began (a catch-up
    brought it) is no such change: another process's write after it must still be checked, and refuse."""
    mine, other = stores
    with mine.atomic():
        mine.put("rec", "b", {"n": 1})
    assert _fresh(mine, "rec", "b") == {"n": 1}  # in mine's cache
    mine.request_begin(write=True)
    mine.put("rec", "a", {"n": 1})
    first = _ahead(mine)
    mine._catch_up()  # the cache takes the commit sent ahead (still unsettled: the next transaction reads it too)
    with other.atomic():
        other.put("rec", "b", {"n": 2})  # the one change since: as many as the commits sent ahead
    mine.request_begin(write=True)
    stale = mine.get("rec", "b")
    assert stale == {"n": 1}  # from the cache, which has not seen the other process's write
    mine.put("rec", "c", {"from": stale, "a": mine.get("rec", "a")})
    second = _ahead(mine)
    mine.finish(first)
    with pytest.raises(Conflict):
        mine.finish(second)
    assert _fresh(other, "rec", "c") is None


def test_a_transaction_reading_a_commit_sent_ahead_skips_its_checks_when_nothing_else_changed(
        stores: tuple[RedisStore, RedisStore]) -> None:
    """The fast path taken: a check that would fail is not run (a record changed under the transaction's nose
    with no version bump, by a raw HSET, stands for a check Redis would refuse)."""
    mine, other = stores
    with mine.atomic():
        mine.put("rec", "b", {"n": 1})
    assert _fresh(mine, "rec", "b") == {"n": 1}
    mine.request_begin(write=True)
    mine.put("rec", "a", {"n": 1})
    first = _ahead(mine)
    mine.request_begin(write=True)
    mine.get("rec", "b")
    other.wire.call("HSET", other.keys.record_kind("rec"), "b", '{"n":3}')  # no version bump: not a change
    mine.put("rec", "c", {"a": mine.get("rec", "a")})
    second = _ahead(mine)
    mine.finish(first)
    mine.finish(second)  # committed: its checks (b is {"n": 1}) were skipped, as nothing else committed
    assert _fresh(other, "rec", "c") == {"a": {"n": 1}}


def test_a_read_after_the_commits_ahead_settle_mid_transaction_never_goes_back_in_time(
        stores: tuple[RedisStore, RedisStore]) -> None:
    """A count of an index written ahead settles those commits mid-transaction; from then on the transaction reads
    the cache. A commit reply the cache could not join (here: 70 writes of another process since the cache's
    version, more than a reply carries) leaves the cache behind it, so a second read of a record gave its value
    from before the commit, while the check kept the first (a lost update: the two-worker mixed run lost a refund
    this way). The cache catches up first."""
    mine, other = stores
    with mine.atomic():
        mine.put("rec", "a", {"n": 0})
        mine.index_add("ix", "m0", 0.0)
    assert _fresh(mine, "rec", "a") == {"n": 0}  # in mine's cache, and the index's head too
    mine.request_begin(write=False)
    assert mine.index_count("ix") == 1
    mine.request_end()
    for i in range(70):
        with other.atomic():
            other.put("rec", f"z{i}", {"i": i})
    mine.request_begin(write=True)
    mine.put("rec", "a", {"n": 1})
    mine.index_add("ix", "m1", 1.0)
    first = _ahead(mine)
    mine.request_begin(write=True)
    assert mine.get("rec", "a") == {"n": 1}  # from the commit on its way
    assert mine.index_count("ix") == 2  # settles it, then counts m0 and m1 (not m0 alone, from a head left behind)
    assert mine.get("rec", "a") == {"n": 1}  # not {"n": 0} from a cache left behind
    mine.request_end()
    mine.finish(first)


def test_a_transaction_that_read_commits_ahead_is_checked_even_when_they_settle_mid_way(
        stores: tuple[RedisStore, RedisStore]) -> None:
    """A commit of the thread made after a commit sent ahead (a write committed at once: an upload, an admin
    write, a request run again) overwrites what that one wrote; the cache takes it, so the next transaction begins
    past both. It still reads the commit ahead's value first (stale), and if a count then settles the commit ahead
    mid-way, its commit must not pass as unchanged since it began (the script's ``ver == base`` fast path): its
    checks run, and refuse it. (The two-worker mixed run lost credits this way.)"""
    mine, other = stores
    with mine.atomic():  # Redis knows the commit script from here on (a commit ahead sent first would get NOSCRIPT)
        mine.put("rec", "b", {"n": 0})
    mine.request_begin(write=True)
    mine.put("rec", "b", {"n": 1})
    mine.index_add("ix", "m1", 1.0)
    first = _ahead(mine)
    mine.request_begin(write=True)
    mine.put("rec", "b", {"n": 2})
    assert mine.request_end() is None  # committed at once, after the one ahead
    mine.request_begin(write=True)
    stale = mine.get("rec", "b")
    assert stale == {"n": 1}  # the commit ahead's value, which the later commit overwrote
    assert mine.index_count("ix") == 1  # settles the commit ahead mid-way
    mine.put("rec", "c", {"from": stale})
    third = _ahead(mine)
    mine.finish(first)
    with pytest.raises(Conflict):
        mine.finish(third)
    assert _fresh(other, "rec", "c") is None
    assert _fresh(other, "rec", "b") == {"n": 2}


def _blind_write(store: RedisStore, n: int) -> Pending:
    """A commit sent ahead that writes ``rec a`` without reading it (its checks cannot refuse it)."""
    store.request_begin(write=True)
    store.put("rec", "a", {"n": n})
    return _ahead(store)


def test_a_commit_ahead_that_got_noscript_after_a_later_one_ran_runs_again_and_does_not_land_after_it(
        stores: tuple[RedisStore, RedisStore]) -> None:
    """Redis forgot the commit script (``SCRIPT FLUSH``, a failover): the first commit sent ahead is answered
    NOSCRIPT; another process loads the script before the thread's next commit arrives, which runs. Sending the
    first again would land its write after the second's, though its thread sent it first."""
    mine, other = stores
    with mine.atomic():
        mine.put("rec", "z", {"n": 0})
    other.wire.call("SCRIPT", "FLUSH")
    first = _blind_write(mine, 1)
    mine.wire.settle(first)  # NOSCRIPT read (not acted on yet)
    assert isinstance(first.reply, Exception)
    with other.atomic():  # another process's commit loads the script again
        other.put("rec", "z", {"n": 1})
    second = _blind_write(mine, 2)
    with pytest.raises(Conflict):  # refused: its request runs again as a new transaction
        mine.finish(first)
    mine.finish(second)
    assert _fresh(other, "rec", "a") == {"n": 2}


def test_a_lost_commit_ahead_sent_before_others_is_fenced_and_runs_again_never_late(
        stores: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch) -> None:
    """Its reply is lost with the connection and it never reached Redis; the thread's next commit ahead (on a new
    connection) runs. The first is not sent again after it: it is refused (its request runs again), and fenced, so
    the command reaching Redis late writes nothing."""
    mine, other = stores
    with mine.atomic():
        mine.put("rec", "z", {"n": 0})
    with monkeypatch.context() as patch:
        patch.setattr(mine.wire, "pack", lambda *_: b"")  # "sent", never arrives
        first = _blind_write(mine, 1)
    mine.wire._tl.link.close()
    mine.wire._tl.link = None  # the next commit goes ahead on a new connection
    second = _blind_write(mine, 2)
    with pytest.raises(Conflict):
        mine.finish(first)
    mine.finish(second)
    assert _fresh(other, "rec", "a") == {"n": 2}
    version = int(other.wire.call("GET", other.keys.version))
    mine._commit(first.txn)  # the first command reaching Redis after all: its marker says "done", nothing written
    assert int(other.wire.call("GET", other.keys.version)) == version
    assert _fresh(other, "rec", "a") == {"n": 2}


def test_lost_commits_ahead_that_ran_are_kept_once_in_order(stores: tuple[RedisStore, RedisStore]) -> None:
    mine, other = stores
    with mine.atomic():
        mine.put("rec", "z", {"n": 0})
    version = int(other.wire.call("GET", other.keys.version))
    first = _blind_write(mine, 1)
    second = _blind_write(mine, 2)
    for _ in range(1000):  # both ran in Redis
        if int(other.wire.call("GET", other.keys.version)) == version + 2:
            break
        time.sleep(0.001)
    mine.wire._tl.link.close()  # both replies lost
    mine.finish(first)  # the fence finds it ran: answered as committed
    mine.finish(second)
    assert int(other.wire.call("GET", other.keys.version)) == version + 2
    assert _fresh(other, "rec", "a") == {"n": 2}


def test_commits_ahead_all_answered_noscript_are_sent_again_in_order(stores: tuple[RedisStore, RedisStore]) -> None:
    """Redis forgot the script and nobody loaded it meanwhile: none of the thread's commits ahead ran, so each is
    sent again in its place, in order (no request runs again for it)."""
    mine, other = stores
    with mine.atomic():
        mine.put("rec", "z", {"n": 0})
    other.wire.call("SCRIPT", "FLUSH")
    version = int(other.wire.call("GET", other.keys.version))
    first, second = _blind_write(mine, 1), _blind_write(mine, 2)
    mine.finish(first)
    mine.finish(second)
    assert int(other.wire.call("GET", other.keys.version)) == version + 2
    assert _fresh(other, "rec", "a") == {"n": 2}


def test_a_commit_reply_leaves_out_the_entries_of_its_threads_commits_sent_before_it(
        stores: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch) -> None:
    """The log entries a reply carries (what changed after the cache's version when it was sent) hold this thread's
    commits sent ahead of it as None: the cache takes those from their own replies. Another process's write between
    them comes whole, and the cache ends current with all three."""
    mine, other = stores
    replies: list[list[object]] = []
    absorb = Cache.absorb_commit

    def spy(self: Cache, version: int, entries: list[object], ops: list[object]) -> None:
        replies.append(list(entries))
        absorb(self, version, entries, ops)  # type: ignore[arg-type]

    monkeypatch.setattr(Cache, "absorb_commit", spy)
    with other.atomic():
        other.put("rec", "o", {"n": 0})
    assert _fresh(mine, "rec", "o") == {"n": 0}  # the cache current, and holding "o"
    mine.request_begin(write=True)
    mine.put("rec", "a", {"n": 1})
    first = _ahead(mine)
    with other.atomic():
        other.put("rec", "o", {"n": 2})
    mine.request_begin(write=True)
    mine.put("rec", "b", {"n": 3})
    second = _ahead(mine)
    mine.finish(first)
    mine.finish(second)
    assert replies[-2] == []  # the first: nothing between
    assert replies[-1][0] is None  # the second: the first's entry left out...
    assert isinstance(replies[-1][1], bytes)  # ...the other process's sent
    assert mine.cache.version == int(other.wire.call("GET", other.keys.version))
    held = mine.cache.records["rec"]
    assert (held["a"], held["o"], held["b"]) == ('{"n":1}', '{"n":2}', '{"n":3}')  # "o" from the other's entry


def test_a_commit_reply_whose_left_out_entry_the_cache_lacks_is_a_gap() -> None:
    """An entry left out (None) that the cache does not hold (that commit's reply could not be joined): nothing is
    applied and the version stays, so the next catch-up brings it all; held already, the rest is applied."""
    entry = transaction.packb([["HS", "rec", "o", '{"n":2}']])
    behind = Cache()
    behind.version = 5
    behind.records["rec"] = {"o": None}
    behind.absorb_commit(8, [None, entry], [["HS", "rec", "b", '{"n":3}']])
    assert behind.version == 5 and behind.records["rec"] == {"o": None}
    current = Cache()
    current.version = 6  # version 6, the entry left out, is in it
    current.records["rec"] = {"o": None}
    current.absorb_commit(8, [None, entry], [["HS", "rec", "b", '{"n":3}']])
    assert current.version == 8
    assert current.records["rec"] == {"o": '{"n":2}', "b": '{"n":3}'}
