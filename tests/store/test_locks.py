"""Two syncs at once on one store: the second refuses with a clear LockError (local and S3),
and a lock whose holder died is taken over once it expires."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time

import pytest

from quest.errors import LockError
from quest.sources.bls import sync_bls
from quest.sources.datausa import sync_datausa
from tests.sources.support import assert_mirrored, make_s3_store, sample_files, stored_bytes

# These tests run beside the suite's Spark JVM on two cores, where a thread can wait its turn
# for most of a second: they wait for what they need (a renewal made, a deadline passed, a
# loss seen) with `_until`, and give a lock a life long enough for its renewals to keep up.


def _until(condition, seconds: float = 20.0) -> None:
    """Waits until `condition()` holds, failing the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds} s in vain"
        time.sleep(0.02)


def _renewer_hung(store, monkeypatch) -> threading.Event:
    """The renewer's puts wait on the returned Event (set it to let them go); a renewal made
    on entry, on the taking thread when the take was slow, goes through."""
    real, hung = store.client.put_object, threading.Event()

    def put_object(**kwargs):
        if "IfMatch" in kwargs and threading.current_thread().name.startswith("lock-"):
            hung.wait(60)
        return real(**kwargs)

    monkeypatch.setattr(store.client, "put_object", put_object)
    return hung


def _dead_holders_lock(store) -> str:
    """The `sync-bls` lock of a run that died, expired a second ago, written to `store`; its
    key."""
    key = store._full(".quest-locks/sync-bls.lock")
    dead = {"owner": "crashed-host:1234", "expires": time.time() - 1}
    store.client.put_object(Bucket=store.bucket, Key=key, Body=json.dumps(dead).encode())
    return key


def _taken_over(store, lock) -> None:
    """Another run's body written over `lock` (held through `store`), as its take-over of a
    lock it found expired; waits until the holder's renewer sees it (at its next renewal,
    every quarter of the lock's life)."""
    taker = {"owner": "other-host:7", "expires": time.time() + 60}
    store.client.put_object(Bucket=store.bucket, Key=lock.key, Body=json.dumps(taker).encode())
    _until(lambda: lock.name in store.lost_locks)


def _past_deadline(store, name: str = "sync-bls") -> None:
    """Waits until the lock `name` of `store` is late: its writes are refused from then on."""
    from quest.store.s3 import _lease_clock

    _until(lambda: _lease_clock() > store.lock_deadlines[name] + 0.05)


def test_a_second_bls_sync_while_one_runs_refuses_with_a_lock_error(
    settings, source, store, mirror
):
    for name, data in sample_files(5).items():
        source.write(name, data)
    # Each download held 0.8 s (under the 1 s read timeout), one after another: the first run
    # holds the lock some 4 s. With one file held, a second run slowed by a busy machine (make
    # test's Spark beside it) came after the first had finished, and took the lock.
    for name in sample_files(5):
        mirror.faults.add(f"/pub/time.series/pr/{name}", "hang", seconds=0.8)
    first: dict[str, object] = {}
    runner = threading.Thread(target=lambda: first.update(s=sync_bls(settings, store=store)))
    runner.start()
    # The listing is fetched inside the lock, so once it is logged the first run holds it.
    deadline = time.monotonic() + 5
    while not mirror.log and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(LockError, match="sync-bls lock .* held by"):
        sync_bls(settings, store=store)
    runner.join()
    assert first["s"].uploaded == 5
    assert_mirrored(store, source)


def test_a_held_lock_makes_datausa_sync_refuse_and_the_message_says_how_to_wait(settings, store):
    with store.lock("sync-datausa"), pytest.raises(LockError, match="QUEST_LOCK_TIMEOUT"):
        sync_datausa(settings, store=store)


def test_lock_timeout_waits_for_the_holder_to_finish(store):
    held, steps = threading.Event(), []

    def holder():
        with store.lock("sync-bls"):
            held.set()
            time.sleep(0.5)
            steps.append("released")  # (still inside the lock: the waiter comes after it)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(10)
    with store.lock("sync-bls", timeout=30):
        assert steps == ["released"]
    thread.join()


def test_an_expired_s3_lock_of_a_dead_holder_is_taken_over(moto_endpoint):
    store = make_s3_store(moto_endpoint, lock_ttl=60)
    _dead_holders_lock(store)
    with store.lock("sync-bls"):
        pass
    alive = {"owner": "busy-host:99", "expires": time.time() + 60}
    store.client.put_object(
        Bucket=store.bucket,
        Key=store._full(".quest-locks/sync-bls.lock"),
        Body=json.dumps(alive).encode(),
    )
    with pytest.raises(LockError, match="busy-host:99") as held, store.lock("sync-bls"):
        pass
    # A holder that died holds it until it expires: the message says when (before, it read as
    # a run still going).
    assert re.search(r"if that run died, the lock expires in (59|60) s", str(held.value))


def test_an_s3_lock_is_renewed_while_held(moto_endpoint):
    # Held past its 2 s life, renewed every 0.5 s: only a gap of 2 s in the renewals would
    # let the second lock take it over.
    store = make_s3_store(moto_endpoint, lock_ttl=2.0)
    with store.lock("sync-bls"):
        time.sleep(2.5)
        with pytest.raises(LockError), store.lock("sync-bls"):
            pass
    assert store.list() == {}


def _answer_lost_once(monkeypatch, store, condition: str) -> list[str]:
    """The first put carrying `condition` lands, its answer is lost, and the client retries
    it, as botocore does: the retry meets the object the first try wrote."""
    real, calls = store.client.put_object, []

    def put_object(**kwargs):
        if condition in kwargs and not calls:
            calls.append(condition)
            real(**kwargs)
        return real(**kwargs)

    monkeypatch.setattr(store.client, "put_object", put_object)
    return calls


def _taken_late_and_first_renewal_answer_lost(monkeypatch, store) -> list[str]:
    """The lock's put answers after 0.7 s, past a quarter of a 2 s lock's life, so the lock is
    renewed on entry; that renewal lands, its answer is lost, and the client's retry meets the
    new ETag (a `412`). Returns the renewals' `IfMatch`, once the first has been made."""
    real, renewals = store.client.put_object, []

    def put_object(**kwargs):
        if "IfNoneMatch" in kwargs:
            answer = real(**kwargs)
            time.sleep(0.7)  # past a quarter of the lock's life: renewed on entry
            return answer
        if "IfMatch" in kwargs and not renewals:
            renewals.append(kwargs["IfMatch"])
            real(**kwargs)  # lands; the retry below meets its new ETag
        return real(**kwargs)

    monkeypatch.setattr(store.client, "put_object", put_object)
    return renewals


def test_an_s3_lock_whose_put_answer_was_lost_is_held_not_refused(moto_endpoint, monkeypatch):
    store = make_s3_store(moto_endpoint, lock_ttl=60)
    calls = _answer_lost_once(monkeypatch, store, "IfNoneMatch")
    with store.lock("sync-bls"):
        assert calls == ["IfNoneMatch"]
        with pytest.raises(LockError), store.lock("sync-bls"):
            pass
    assert store.list() == {} and store.client.list_objects_v2(Bucket=store.bucket)["KeyCount"] == 0


def test_an_s3_lock_renewal_whose_answer_was_lost_keeps_the_lock(moto_endpoint, monkeypatch):
    # The renewal after the lost one shows the renewer went on: a renewer that took the 412 to
    # its own write for a takeover stops renewing.
    store = make_s3_store(moto_endpoint, lock_ttl=4.0)
    calls = _answer_lost_once(monkeypatch, store, "IfMatch")
    lost_once, renewals = store.client.put_object, []

    def put_object(**kwargs):
        if "IfMatch" in kwargs:
            renewals.append(kwargs["IfMatch"])
        return lost_once(**kwargs)

    monkeypatch.setattr(store.client, "put_object", put_object)
    with store.lock("sync-bls"):
        _until(lambda: len(renewals) >= 2)
        assert calls == ["IfMatch"] and not store.lost_locks
        store.put_bytes("bls/pr/a", b"a", {})
    assert store.client.list_objects_v2(Bucket=store.bucket, Prefix=".quest-locks")["KeyCount"] == 0


def test_an_s3_lock_whose_renewal_hangs_stops_writes_before_it_can_be_taken_over(
    moto_endpoint, monkeypatch
):
    # A renewal put retried through its timeouts says nothing until it returns, while another
    # run may take the lock over once its expiry passes: before, this run went on writing.
    store = make_s3_store(moto_endpoint, lock_ttl=2.0)
    hung = _renewer_hung(store, monkeypatch)
    try:
        with store.lock("sync-bls"):
            store.put_bytes("bls/pr/a", b"a", {})
            _past_deadline(store)  # three quarters of the lock's life without a renewal
            with pytest.raises(LockError, match="sync-bls lock .* not renewed in time"):
                store.put_bytes("bls/pr/b", b"b", {})
            hung.set()
    finally:
        hung.set()
    assert stored_bytes(store) == {"bls/pr/a": b"a"}


def test_an_s3_lock_whose_renewals_fail_stops_writes_naming_the_failure(moto_endpoint, monkeypatch):
    # Credentials that expire mid-sync: the writes stopped saying only "not renewed in time".
    store = make_s3_store(moto_endpoint, lock_ttl=2.0)
    put_object = _renewals_raising(store.client.put_object, _expired_token)
    monkeypatch.setattr(store.client, "put_object", put_object)
    with store.lock("sync-bls"):
        store.put_bytes("bls/pr/a", b"a", {})
        _until(lambda: "sync-bls" in store.renewal_errors)  # a renewal refused
        _past_deadline(store)  # three quarters of the lock's life gone
        with pytest.raises(
            LockError, match="not renewed in time .its last renewal failed: .*Expired"
        ):
            store.put_bytes("bls/pr/b", b"b", {})
    assert stored_bytes(store) == {"bls/pr/a": b"a"}


def test_a_lock_put_whose_answer_was_lost_finds_its_own_lock_and_holds_it(moto_endpoint):
    # It failed saying "nothing was changed", and the next run found the lock held for the
    # five minutes of its life, renewed by nobody.
    from tests.store.s3_proxy import FaultyS3Proxy

    with FaultyS3Proxy(moto_endpoint) as proxy:
        store = make_s3_store(proxy.url, timeout=1.0, max_attempts=2)
        proxy.fail_puts(".quest-locks", "lose", times=100)
        with store.lock("sync-bls") as lock:
            held = store.client.get_object(Bucket=store.bucket, Key=lock.key)
            assert json.loads(held["Body"].read())["owner"] == lock.owner
            assert lock._etag == held["ETag"]
        assert len(proxy.failed) >= 2, "each attempt of the put lost its answer"
        locks = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store._full(".quest-"))
    assert locks["KeyCount"] == 0, "released like any lock"


def test_a_lock_put_whose_answer_was_lost_and_lock_unreadable_says_it_may_be_there(
    moto_endpoint,
):
    # With the lock unreadable too, whether the put landed is unknown: the error says so.
    from quest.errors import StoreError
    from tests.store.s3_proxy import FaultyS3Proxy

    with FaultyS3Proxy(moto_endpoint) as proxy:
        store = make_s3_store(proxy.url, timeout=1.0, max_attempts=2)
        proxy.fail_puts(".quest-locks", "lose", times=100)
        proxy.cut_gets(".quest-locks", times=100)
        with pytest.raises(StoreError) as failed, store.lock("sync-bls"):
            pass
        assert any(f.startswith("cut ") for f in proxy.failed), "the lock was read, and cut"
        proxy.clear()
        locks = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store._full(".quest-"))
    message = str(failed.value)
    assert "nothing was changed" not in message
    assert "the lock object may be there though its answer was lost" in message
    assert locks["KeyCount"] == 1, "the message is true: the lock landed"


def _renewals_raising(real, error):
    """A `put_object` whose renewals (the puts `If-Match` the lock's ETag) raise `error()`."""

    def put_object(**kwargs):
        if "IfMatch" in kwargs:
            raise error()
        return real(**kwargs)

    return put_object


def _answer_lost(real, when, before=None, seconds: float = 0.0):
    """A `put_object` whose first call matching `when` reaches S3 (after `before`, if given)
    and has its answer, whatever it was, lost after `seconds`, as a read timeout."""
    from botocore.exceptions import ClientError, ReadTimeoutError

    lost = []

    def put_object(**kwargs):
        if not lost and when(kwargs):
            lost.append(kwargs)
            if before:
                before()
            with contextlib.suppress(ClientError):  # a refusal whose answer is lost too
                real(**kwargs)
            time.sleep(seconds)
            raise ReadTimeoutError(endpoint_url="http://s3.test")
        return real(**kwargs)

    return put_object


def test_a_lock_put_answered_after_most_of_its_life_is_renewed_before_any_write(
    moto_endpoint, monkeypatch
):
    # Adopted with its expiry written before the put's retries, the lock was late at once: the
    # first write stopped with "not renewed in time".
    store = make_s3_store(moto_endpoint, lock_ttl=2.0)
    taking = _answer_lost(store.client.put_object, lambda k: "IfNoneMatch" in k, seconds=1.6)
    taken = []

    def put_object(**kwargs):
        if "IfNoneMatch" in kwargs:
            taken.append(json.loads(kwargs["Body"]))
        return taking(**kwargs)

    monkeypatch.setattr(store.client, "put_object", put_object)
    with store.lock("sync-bls") as lock:
        store.put_bytes("bls/pr/a", b"a", {})
        held = json.loads(store.client.get_object(Bucket=store.bucket, Key=lock.key)["Body"].read())
        # written at least the 1.6 s the put's answer took after the take's own expiry
        assert held["expires"] >= taken[0]["expires"] + 1.5, "renewed on taking it"
    assert stored_bytes(store) == {"bls/pr/a": b"a"}


def test_a_lock_put_whose_answer_was_lost_and_lock_is_another_runs_waits_for_it(
    moto_endpoint, monkeypatch
):
    # Another run took the lock meanwhile: the put did not land, and the error said the lock
    # "may be there, held by this run".
    store = make_s3_store(moto_endpoint)
    key = store._full(".quest-locks/sync-bls.lock")
    other = {"owner": "other-host:7", "expires": time.time() + 60}
    real = store.client.put_object

    def other_run_first():
        real(Bucket=store.bucket, Key=key, Body=json.dumps(other).encode())

    taking = _answer_lost(real, lambda k: "IfNoneMatch" in k, before=other_run_first)
    monkeypatch.setattr(store.client, "put_object", taking)
    with pytest.raises(LockError, match="held by other-host:7"), store.lock("sync-bls"):
        pass


def test_an_s3_lock_renewal_that_did_not_land_is_an_error_not_a_renewal(moto_endpoint, monkeypatch):
    # A renewal failing with a 500 through its retries read the lock back, found this run's own
    # body (the one it failed to replace) and counted it renewed: the error was never reported.
    store = make_s3_store(moto_endpoint, lock_ttl=2.0)
    put_object = _renewals_raising(store.client.put_object, _server_error)
    monkeypatch.setattr(store.client, "put_object", put_object)
    with store.lock("sync-bls"):
        _until(lambda: "sync-bls" in store.renewal_errors)  # a renewal failed
        _past_deadline(store)  # three quarters of the lock's life gone
        assert "InternalError" in store.renewal_errors.get("sync-bls", "")
        with pytest.raises(LockError, match="its last renewal failed: .*InternalError"):
            store.put_bytes("bls/pr/b", b"b", {})
    assert stored_bytes(store) == {}


def _s3_error(code: str, message: str, status: int, attempts: int = 0):
    """The `ClientError` botocore raises for S3's answer `status` after `attempts` retries."""
    from botocore.exceptions import ClientError

    meta = {"HTTPStatusCode": status, "RetryAttempts": attempts}
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": meta}, "PutObject"
    )


def _server_error():
    """A 500 that lasted through the client's retries."""
    return _s3_error("InternalError", "We encountered an internal error.", 500, attempts=4)


def _expired_token():
    """Credentials refused at the first attempt."""
    return _s3_error("ExpiredToken", "The provided token has expired.", 400)


@pytest.mark.parametrize("dead_holder", [False, True], ids=["take", "takeover"])
def test_a_lock_put_failing_through_its_retries_names_its_error_not_another_run(
    moto_endpoint, monkeypatch, dead_holder
):
    # Read back, the lock was as the put had found it (no object; the dead run's body), which
    # the run took for another run's: "held by another run", after four puts.
    from quest.errors import StoreError

    store = make_s3_store(moto_endpoint)
    key = _dead_holders_lock(store) if dead_holder else store._full(".quest-locks/sync-bls.lock")
    real, puts = store.client.put_object, []

    def put_object(**kwargs):
        if kwargs.get("Key") == key:
            puts.append(kwargs)
            raise _server_error()
        return real(**kwargs)

    monkeypatch.setattr(store.client, "put_object", put_object)
    with (
        pytest.raises(StoreError, match="taking the sync-bls lock .*InternalError") as failed,
        store.lock("sync-bls"),
    ):
        pass
    assert len(puts) == 1 + dead_holder
    # read back as the put found it: no "may be there, held by this run" to wait out
    assert "the lock, read back, was as this put found it: nothing was changed" in str(failed.value)


def test_a_late_lock_taken_over_before_its_renewal_names_the_new_holder(moto_endpoint, monkeypatch):
    # Taken late, then taken over before `_fresh` renewed it: the run must name the new holder
    # (read again, not the stale one) and keep no deadline of a lock it does not hold.
    store = make_s3_store(moto_endpoint, lock_ttl=2.0)
    key = store._full(".quest-locks/sync-bls.lock")
    real = store.client.put_object
    other = {"owner": "other-host:7", "expires": time.time() + 60}

    def renewal_after_a_takeover(**kwargs):
        if "IfMatch" in kwargs:  # another run writes first: the renewal gets a 412
            real(Bucket=store.bucket, Key=key, Body=json.dumps(other).encode())
        return real(**kwargs)

    taking = _answer_lost(renewal_after_a_takeover, lambda k: "IfNoneMatch" in k, seconds=0.7)
    monkeypatch.setattr(store.client, "put_object", taking)
    with pytest.raises(LockError, match="held by other-host:7"), store.lock("sync-bls"):
        pass
    assert "sync-bls" not in store.lock_deadlines


def test_a_lock_whose_last_renewal_answer_was_lost_is_released_all_the_same(moto_endpoint):
    # The delete `If-Match` the ETag this run last knew met a 412 (a renewal had landed, its
    # answer lost, the lock unread since): the lock stayed for the next run to wait out.
    store = make_s3_store(moto_endpoint)
    with store.lock("sync-bls") as lock:
        store.client.put_object(Bucket=store.bucket, Key=lock.key, Body=lock._body())
    assert store.client.list_objects_v2(Bucket=store.bucket, Prefix=lock.key)["KeyCount"] == 0


def test_a_late_lock_whose_first_renewal_fails_is_held_and_released(moto_endpoint, monkeypatch):
    # The renewal on taking a late lock raised out of the lock's entry: the run failed, saying
    # "nothing was changed", and left its lock behind for the next run to wait out.
    store = make_s3_store(moto_endpoint, lock_ttl=2.0)
    renewals_denied = _renewals_raising(store.client.put_object, _expired_token)
    taking = _answer_lost(renewals_denied, lambda k: "IfNoneMatch" in k, seconds=0.7)
    monkeypatch.setattr(store.client, "put_object", taking)
    with store.lock("sync-bls") as lock:
        assert "renewing the sync-bls lock" in store.renewal_errors["sync-bls"]
        assert "ExpiredToken" in store.renewal_errors["sync-bls"]
        key = lock.key
    assert store.client.list_objects_v2(Bucket=store.bucket, Prefix=key)["KeyCount"] == 0


def test_a_late_lock_whose_first_renewal_met_its_own_retry_is_held(moto_endpoint, monkeypatch):
    # Taken late (the put slow to answer), its renewal on entry landed, its answer was lost and
    # the client's retry met the new ETag with a 412: the run refused itself, "held by" its
    # own owner (a CI run on a loaded machine, with a 0.6 s lock).
    store = make_s3_store(moto_endpoint, lock_ttl=2.0)
    renewals = _taken_late_and_first_renewal_answer_lost(monkeypatch, store)
    with store.lock("sync-bls") as lock:
        assert renewals and not store.lost_locks
        assert "sync-bls" not in store.renewal_errors
        store.put_bytes("bls/pr/a", b"a", {})
        key = lock.key
    assert store.client.list_objects_v2(Bucket=store.bucket, Prefix=key)["KeyCount"] == 0


def test_a_lost_s3_lock_stops_every_later_write(moto_endpoint):
    store = make_s3_store(moto_endpoint, lock_ttl=4.0)
    with store.lock("sync-bls") as lock:
        store.put_bytes("bls/pr/a", b"a", {})
        _taken_over(store, lock)
        assert store.lost_locks["sync-bls"].startswith("lost the sync-bls lock")
        for write in (
            lambda: store.put_bytes("bls/pr/b", b"b", {}),
            lambda: store.set_metadata("bls/pr/a", {"x": "1"}),
            lambda: store.delete("bls/pr/a"),
        ):
            with pytest.raises(LockError, match="lost the sync-bls lock .* not changed"):
                write()
    assert stored_bytes(store) == {"bls/pr/a": b"a"}


def test_an_expired_s3_lock_deleted_before_its_takeover_is_taken_not_an_error(
    moto_endpoint, monkeypatch
):
    # The dead holder's lock is read expired, then removed (its holder's late release, or a
    # cleanup) before the takeover's put `If-Match` its ETag: S3 answers 404, which was a
    # StoreError failing the sync although the lock was free.
    store = make_s3_store(moto_endpoint, lock_ttl=60)
    key = _dead_holders_lock(store)
    real, deleted = store.client.put_object, []

    def put_object(**kwargs):
        if "IfMatch" in kwargs and not deleted:  # the takeover, not a later renewal
            deleted.append(store.client.delete_object(Bucket=store.bucket, Key=key))
        return real(**kwargs)

    monkeypatch.setattr(store.client, "put_object", put_object)
    with store.lock("sync-bls") as lock:
        assert (
            json.loads(store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read())[
                "owner"
            ]
            == lock.owner
        )


def test_an_s3_lock_whose_object_is_deleted_while_held_is_lost_at_its_next_renewal(
    moto_endpoint,
):
    # The renewal's put `If-Match` met no object (404): an error the renewer swallowed, so the
    # loss was seen only at the lock's deadline, while another run could already hold it.
    store = make_s3_store(moto_endpoint, lock_ttl=60)
    with store.lock("sync-bls") as lock:
        store.client.delete_object(Bucket=store.bucket, Key=lock.key)
        assert lock._put(IfMatch=lock._etag) is False
        assert lock._holder() is None
    store = make_s3_store(moto_endpoint, lock_ttl=2.0)
    with store.lock("sync-bls") as lock:
        store.client.delete_object(Bucket=store.bucket, Key=lock.key)
        _until(lambda: "sync-bls" in store.lost_locks)  # seen at the next renewal (every 0.5 s)
        assert "its object was deleted while this run held it" in store.lost_locks["sync-bls"]
        with pytest.raises(LockError, match="its object was deleted"):
            store.put_bytes("bls/pr/a", b"a", {})


def test_a_second_lock_refused_on_the_same_store_leaves_the_holders_deadline(
    moto_endpoint, monkeypatch
):
    # The refused one dropped the holder's deadline on its way out: with its renewals stuck,
    # the holder went on writing past the point where another run may take its lock over.
    store = make_s3_store(moto_endpoint, lock_ttl=2.0)
    hung = _renewer_hung(store, monkeypatch)
    try:
        with store.lock("sync-bls"):
            with pytest.raises(LockError, match="held by"), store.lock("sync-bls"):
                pass
            assert "sync-bls" in store.lock_deadlines
            _past_deadline(store)
            with pytest.raises(LockError, match="not renewed in time"):
                store.put_bytes("bls/pr/a", b"a", {})
            hung.set()
    finally:
        hung.set()
    assert stored_bytes(store) == {}


def test_a_lost_lock_stops_the_cleaning_of_unfinished_uploads(moto_endpoint):
    # The uploads under way after a take-over may be the new holder's: aborting them broke
    # that run's files.
    store = make_s3_store(moto_endpoint, lock_ttl=4.0)
    with store.lock("sync-bls") as lock:
        _taken_over(store, lock)
        key = store._full("bls/pr/pr.data.0.Current")
        store.client.create_multipart_upload(Bucket=store.bucket, Key=key)
        with pytest.raises(LockError, match="lost the sync-bls lock.*unfinished uploads under"):
            store.clean_temp("bls/")
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    assert [u["Key"] for u in uploads] == [key]


def test_a_lock_put_that_timed_out_does_not_promise_nothing_changed(moto_endpoint, monkeypatch):
    # Read back at once, the lock was as the put found it; but S3 may still carry out a put
    # whose answer the client gave up on, and leave a lock nobody renews.
    from botocore.exceptions import ReadTimeoutError

    from quest.errors import StoreError

    store = make_s3_store(moto_endpoint)
    real = store.client.put_object

    def put_object(**kwargs):
        if "IfNoneMatch" in kwargs:
            raise ReadTimeoutError(endpoint_url="http://s3.test")
        return real(**kwargs)

    monkeypatch.setattr(store.client, "put_object", put_object)
    with pytest.raises(StoreError) as failed, store.lock("sync-bls"):
        pass
    assert "nothing was changed, unless the put, sent but unanswered, lands late" in str(
        failed.value
    )


def _read_timeout():
    from botocore.exceptions import ReadTimeoutError

    return ReadTimeoutError(endpoint_url="http://s3.test")


def _access_denied():
    return _s3_error("AccessDenied", "Access Denied", 403)


def _no_credentials():
    from botocore.exceptions import NoCredentialsError

    return NoCredentialsError()  # raised while signing: no request went out


@pytest.mark.parametrize(
    ("error", "may_have_landed"),
    [
        (_read_timeout, True),
        (_server_error, True),
        (_access_denied, False),
        (_no_credentials, False),
    ],
)
def test_a_lock_that_cannot_be_released_says_so(
    moto_endpoint, monkeypatch, caplog, error, may_have_landed
):
    # The next run was told the lock was held by a run renewing it, and this one said nothing;
    # then it said the next run would find the lock held after a delete that may have landed.
    store = make_s3_store(moto_endpoint)

    def delete_object(**kwargs):
        raise error()

    with caplog.at_level("WARNING", logger="quest.store.s3"), store.lock("sync-bls"):
        monkeypatch.setattr(store.client, "delete_object", delete_object)
    assert "could not release the sync-bls lock" in caplog.text
    assert "the next run finds it held until it expires" in caplog.text
    assert ("the delete may have landed all the same; if it did not" in caplog.text) is (
        may_have_landed
    )


def test_a_take_over_whose_answer_was_lost_holds_the_lock_it_took(
    moto_endpoint, monkeypatch, caplog
):
    # Its retry met its own landed write (412): the run read the dead holder's expired lock
    # again instead of its own, and found it only through another round of puts.
    store = make_s3_store(moto_endpoint, lock_ttl=60)
    key = _dead_holders_lock(store)
    calls = _answer_lost_once(monkeypatch, store, "IfMatch")
    with caplog.at_level("WARNING", logger="quest.store.s3"), store.lock("sync-bls") as lock:
        assert calls == ["IfMatch"]
        held = json.loads(store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read())
        assert held["owner"] == lock.owner
    assert "took over the sync-bls lock" in caplog.text and "crashed-host:1234" in caplog.text


def test_a_lock_taken_again_after_one_was_lost_writes_again(moto_endpoint):
    # The loss of the first lock stayed on the store: every write under the next one, taken
    # properly once the other run was done, was refused.
    store = make_s3_store(moto_endpoint, lock_ttl=4.0)
    with store.lock("sync-bls") as lock:
        _taken_over(store, lock)
    store.client.delete_object(Bucket=store.bucket, Key=lock.key)  # the other run is done
    with store.lock("sync-bls"):
        store.put_bytes("bls/pr/a", b"a", {})
    assert stored_bytes(store) == {"bls/pr/a": b"a"}


def test_a_lock_taken_again_after_one_whose_renewals_failed_names_only_its_own_lateness(
    moto_endpoint, monkeypatch
):
    # A take clears what the last lock of its name left on the store: a late write then said
    # "its last renewal failed: ...Expired" of a renewal the new lock never made.
    store = make_s3_store(moto_endpoint, lock_ttl=2.0)
    real = store.client.put_object
    monkeypatch.setattr(store.client, "put_object", _renewals_raising(real, _expired_token))
    with store.lock("sync-bls"):
        _until(lambda: "sync-bls" in store.renewal_errors)
    monkeypatch.setattr(store.client, "put_object", real)
    hung = _renewer_hung(store, monkeypatch)
    try:
        with store.lock("sync-bls"):
            assert "sync-bls" not in store.renewal_errors
            _past_deadline(store)
            with pytest.raises(LockError, match=r"not renewed in time \(its renewal is late\)"):
                store.put_bytes("bls/pr/a", b"a", {})
            hung.set()
    finally:
        hung.set()
    assert stored_bytes(store) == {}
    with store.lock("sync-bls"):  # the late lock gone, its loss goes with its next take
        store.put_bytes("bls/pr/a", b"a", {})
    assert stored_bytes(store) == {"bls/pr/a": b"a"}


def test_a_lock_lost_stops_the_writes_under_a_lock_of_another_name(moto_endpoint):
    # Taking a lock clears a loss of its own name only: the run whose lock was taken over may
    # still be writing under it, whatever other lock it takes.
    store = make_s3_store(moto_endpoint, lock_ttl=4.0)
    with store.lock("sync-bls") as lock:
        _taken_over(store, lock)
        with store.lock("sync-datausa"), pytest.raises(LockError, match="lost the sync-bls lock"):
            store.put_bytes("datausa/population.json", b"{}", {})
    assert stored_bytes(store) == {}


def test_a_late_lock_taken_over_by_a_twin_on_the_same_store_still_stops_its_writes(
    moto_endpoint, monkeypatch
):
    # The twin's take cleared the late lock's loss from the store: the late one wrote again
    # while the twin held the lock.
    store = make_s3_store(moto_endpoint, lock_ttl=2.0)
    hung = _renewer_hung(store, monkeypatch)
    twin_in, twin_done = threading.Event(), threading.Event()

    def twin():
        with store.lock("sync-bls", timeout=30):
            twin_in.set()
            twin_done.wait(30)

    thread = threading.Thread(target=twin)
    try:
        with store.lock("sync-bls") as lock:
            _past_deadline(store)
            with pytest.raises(LockError, match="not renewed in time"):
                store.put_bytes("bls/pr/a", b"a", {})
            thread.start()  # it takes the lock over once it expires on S3
            assert twin_in.wait(30)
            assert (
                json.loads(
                    store.client.get_object(Bucket=store.bucket, Key=lock.key)["Body"].read()
                )["owner"]
                != lock.owner
            )
            with pytest.raises(LockError, match="not renewed in time"):
                store.put_bytes("bls/pr/b", b"b", {})
            hung.set()
            twin_done.set()
            thread.join()
    finally:
        hung.set()
        twin_done.set()
    assert stored_bytes(store) == {}


def test_a_take_over_refused_and_then_unreadable_says_the_lock_may_be_this_runs(
    moto_endpoint, monkeypatch
):
    # Its retry met its own landed write and the read back failed: "nothing was changed",
    # with the run's own lock left on S3 for its life.
    from botocore.exceptions import ReadTimeoutError

    from quest.errors import StoreError

    store = make_s3_store(moto_endpoint, lock_ttl=60)
    _dead_holders_lock(store)
    _answer_lost_once(monkeypatch, store, "IfMatch")
    real, reads = store.client.get_object, []

    def get_object(**kwargs):
        reads.append(kwargs)
        if len(reads) > 1:  # the read after the take-over
            raise ReadTimeoutError(endpoint_url="http://s3.test")
        return real(**kwargs)

    monkeypatch.setattr(store.client, "get_object", get_object)
    with pytest.raises(StoreError) as failed, store.lock("sync-bls"):
        pass
    assert "may be there though its answer was lost" in str(failed.value)
    assert "nothing was changed" not in str(failed.value)


def test_a_late_lock_whose_refused_renewal_cannot_be_read_back_is_held_and_released(
    moto_endpoint, monkeypatch, caplog
):
    # As a renewal that fails: the lock held, the error kept, the lock released on leaving.
    from botocore.exceptions import ReadTimeoutError

    store = make_s3_store(moto_endpoint, lock_ttl=2.0)
    _taken_late_and_first_renewal_answer_lost(monkeypatch, store)
    real_get, reads = store.client.get_object, []

    def get_object(**kwargs):
        reads.append(kwargs)
        if len(reads) == 1:
            raise ReadTimeoutError(endpoint_url="http://s3.test")
        return real_get(**kwargs)

    monkeypatch.setattr(store.client, "get_object", get_object)
    with caplog.at_level("WARNING", logger="quest.store.s3"), store.lock("sync-bls") as lock:
        key = lock.key
    assert "renewing the sync-bls lock: reading the sync-bls lock" in caplog.text
    assert store.client.list_objects_v2(Bucket=store.bucket, Prefix=key)["KeyCount"] == 0
