"""S3 failing part-way, through a proxy in front of moto that makes chosen PUTs answer 500 or
hang: retried; what cannot be written keeps the previous object; the next run completes."""

from __future__ import annotations

import hashlib

import pytest

from quest.errors import StoreError
from quest.mirror.server import MirrorServer
from quest.sources.bls import sync_bls
from quest.store.base import hash_object
from tests.sources.support import (
    PREFIX,
    Source,
    assert_mirrored,
    fast_settings,
    leftovers,
    make_s3_store,
    sample_files,
    stored_bytes,
)
from tests.store.s3_proxy import FaultyS3Proxy


@pytest.fixture
def world(tmp_path, moto_endpoint):
    """A source with files, its mirror, a proxy before moto, and a store talking through it."""
    source = Source(tmp_path / "source")
    for name, data in sample_files(5).items():
        source.write(name, data)
    with MirrorServer(source.root) as mirror, FaultyS3Proxy(moto_endpoint) as proxy:
        store = make_s3_store(proxy.url, timeout=1.0, max_attempts=3)
        settings = fast_settings(tmp_path / "home", store, mirror, http_retries=1)
        yield source, proxy, store, settings


def test_put_answering_500_twice_is_retried_and_the_sync_completes(world):
    source, proxy, store, settings = world
    proxy.fail_puts("pr.file2", "500", times=2)
    assert sync_bls(settings, store=store).uploaded == 5
    assert len(proxy.failed) == 2
    assert_mirrored(store, source)


def test_a_put_that_hangs_times_out_and_is_retried(world):
    source, proxy, store, settings = world
    proxy.fail_puts("pr.file0", "hang", times=1, hang_seconds=3.0)
    assert sync_bls(settings, store=store).uploaded == 5
    assert proxy.failed == [f"hang /{store.bucket}/republish/{PREFIX}pr.file0"]
    assert_mirrored(store, source)


def test_a_put_that_keeps_failing_keeps_the_previous_object_and_the_next_run_heals(world):
    source, proxy, store, settings = world
    sync_bls(settings, store=store)
    before = stored_bytes(store, PREFIX)
    source.write("pr.file1", b"version two of file1\r\n")
    source.write("pr.file2", b"version two of file2\r\n")
    proxy.fail_puts("pr.file2", "500", times=100)
    # (an S3 500 may or may not have done the write: AWS says to retry; the proxy did not)
    with pytest.raises(StoreError, match="pr.file2 failed: .*as before or as this write left it"):
        sync_bls(settings, store=store)
    now = stored_bytes(store, PREFIX)
    assert now["pr.file2"] == before["pr.file2"], "never a half-written object"
    assert now["pr.file1"] in (before["pr.file1"], source.files()["pr.file1"])
    assert leftovers(store) == []
    proxy.clear()
    summary = sync_bls(settings, store=store)
    assert summary.replaced >= 1
    assert_mirrored(store, source)


def test_a_write_s3_did_whose_answer_was_lost_is_not_called_unchanged(world):
    # The error said "what the store held under that key is unchanged" of the new bytes.
    source, proxy, store, settings = world
    sync_bls(settings, store=store)
    source.write("pr.file2", b"version two of file2\r\n")
    proxy.fail_puts("pr.file2", "lose", times=100)
    with pytest.raises(StoreError) as failed:
        sync_bls(settings, store=store)
    assert "unchanged" not in str(failed.value)
    assert "as before or as this write left it" in str(failed.value)
    assert stored_bytes(store, PREFIX)["pr.file2"] == b"version two of file2\r\n"
    proxy.clear()
    sync_bls(settings, store=store)
    assert_mirrored(store, source)


def test_a_client_error_s3_answered_leaves_the_object_unchanged_and_says_so():
    from botocore.exceptions import ClientError

    from quest.store.s3 import S3Store

    store = S3Store("bucket", "p", endpoint_url="http://127.0.0.1:9")
    refused = ClientError(
        {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
        "PutObject",
    )
    assert "is unchanged" in str(store._fail("writing", "k", refused))
    throttled = ClientError(
        {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject"
    )
    assert "is unchanged" in str(store._fail("writing", "k", throttled))
    # The last of several attempts: an earlier one may have landed, its answer lost.
    retried = ClientError(
        {
            "Error": {"Code": "SlowDown"},
            "ResponseMetadata": {"HTTPStatusCode": 503, "RetryAttempts": 2},
        },
        "PutObject",
    )
    assert "as before or as this write left it" in str(store._fail("writing", "k", retried))


def test_a_multipart_upload_failing_part_way_leaves_the_previous_object(world, tmp_path):
    """A file above the multipart threshold: a part that keeps failing aborts the upload."""
    source, proxy, store, settings = world
    from quest.store.s3 import _PART

    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (_PART + 1024))
    store.put_bytes("blob", b"previous", {})
    proxy.fail_puts("partNumber=2", "500", times=100)
    # (s3transfer's error does not say which request failed: the message allows either)
    with pytest.raises(StoreError, match=r"/blob failed: .*; the object under that key is as"):
        store.put_file("blob", str(big), {"sha256": hashlib.sha256(big.read_bytes()).hexdigest()})
    assert any("partNumber=2" in failed for failed in proxy.failed)
    with store.open("blob") as handle:
        assert handle.read() == b"previous"
    assert leftovers(store) == []


def test_a_read_cut_part_way_is_a_store_error_naming_the_object(world):
    # botocore retries a request, never a body being read: a connection dropped half-way
    # through a GET raised urllib3's or botocore's own error, which quest took for a bug.
    source, proxy, store, settings = world
    body = b"x" * 200_000
    store.put_bytes("bls/pr/pr.cut", body, {})
    proxy.cut_gets("pr.cut", times=100)
    with (
        pytest.raises(StoreError, match=r"reading s3://.*bls/pr/pr\.cut failed"),
        store.open("bls/pr/pr.cut") as handle,
    ):
        handle.read()
    with pytest.raises(StoreError, match=r"bls/pr/pr\.cut failed"):
        hash_object(store, "bls/pr/pr.cut")
    proxy.clear()
    with store.open("bls/pr/pr.cut") as handle:
        assert handle.read(10) == b"x" * 10
        assert handle.read() == body[10:]
    # Read as a file is: by lines too (buffered, not a byte per request of the body).
    store.put_bytes("bls/pr/pr.lines", b"a\tb\r\nc\td\r\n", {})
    with store.open("bls/pr/pr.lines") as handle:
        assert list(handle) == [b"a\tb\r\n", b"c\td\r\n"]


@pytest.mark.parametrize("code", ["AccessDenied", "NoSuchBucket"])
def test_cleaning_unfinished_uploads_without_the_grant_warns_and_the_sync_goes_on(
    tmp_path, moto_endpoint, monkeypatch, caplog, code
):
    # A least-privilege identity (Get/Put/Delete/List) lacks s3:ListBucketMultipartUploads:
    # every sync failed on this housekeeping before it wrote a file. Other errors still stop it.
    from botocore.exceptions import ClientError

    source = Source(tmp_path / "source")
    for name, data in sample_files(2).items():
        source.write(name, data)
    store = make_s3_store(moto_endpoint)
    paginator = store.client.get_paginator

    def denied(name):
        if name != "list_multipart_uploads":
            return paginator(name)
        raise ClientError({"Error": {"Code": code, "Message": "denied"}}, "ListMultipartUploads")

    monkeypatch.setattr(store.client, "get_paginator", denied)
    with MirrorServer(source.root) as mirror:
        settings = fast_settings(tmp_path / "home", store, mirror)
        if code != "AccessDenied":
            with pytest.raises(StoreError, match="cleaning unfinished uploads under"):
                sync_bls(settings, store=store)
            return
        sync_bls(settings, store=store)
    assert_mirrored(store, source)
    assert "s3:ListBucketMultipartUploads" in caplog.text and "lifecycle rule" in caplog.text


def test_metadata_of_an_object_over_copy_objects_limit_is_set_by_a_multipart_copy(
    moto_endpoint, monkeypatch
):
    # S3 copies at most 5 GiB in one CopyObject: for a larger object (QUEST_MAX_BODY_BYTES
    # raised past it) every refresh of its metadata (a date-only change at the source) failed
    # the run with "check the network or credentials". The refusal now turns to a copy in parts.
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import ClientError

    from quest.store import s3
    from tests.sources.support import make_s3_store

    # A copy in parts for real, of 11 MiB in 5 MiB parts (S3's smallest part) instead of 5 GiB.
    small_parts = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
    monkeypatch.setattr(s3, "_LARGE_COPY", small_parts)
    store = make_s3_store(moto_endpoint)
    body = bytes(range(256)) * (11 << 12)
    sha = hashlib.sha256(body).hexdigest()
    store.put_bytes("bls/pr/big", body, {"sha256": sha, "source-size": str(len(body))})
    parts = []
    real_part_copy = store.client.upload_part_copy
    monkeypatch.setattr(
        store.client, "upload_part_copy", lambda **kw: parts.append(1) or real_part_copy(**kw)
    )
    plain, refused = store.client.copy_object, []

    def over_the_limit(**kwargs):
        if not refused:  # S3's answer for a source over 5 GiB, once; the copy in parts passes
            refused.append(kwargs["Key"])
            raise ClientError(
                {
                    "Error": {
                        "Code": "InvalidRequest",
                        "Message": "The specified copy source is larger than the maximum "
                        "allowable size for a copy source: 5368709120",
                    }
                },
                "CopyObject",
            )
        return plain(**kwargs)

    monkeypatch.setattr(store.client, "copy_object", over_the_limit)
    new = {"sha256": sha, "source-size": str(len(body)), "source-modified": "y"}
    store.set_metadata("bls/pr/big", new)
    assert refused and len(parts) == 3
    assert store.head("bls/pr/big").metadata == new
    assert hash_object(store, "bls/pr/big").sha256 == sha
    # An error of the copy in parts (s3transfer's own, when the object changes meanwhile) is
    # the store's error naming the object, not "a bug in quest".
    refused.clear()
    monkeypatch.setattr(
        store.client, "copy", lambda *a, **kw: (_ for _ in ()).throw(RuntimeError("ETag moved"))
    )
    with pytest.raises(StoreError, match="updating metadata of"):
        store.set_metadata("bls/pr/big", new)
    # Any other refusal is the store error it was.
    refused.clear()
    monkeypatch.setattr(
        store.client,
        "copy_object",
        lambda **kw: (_ for _ in ()).throw(
            ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "CopyObject")
        ),
    )
    with pytest.raises(StoreError, match="updating metadata of"):
        store.set_metadata("bls/pr/big", {"sha256": sha})
