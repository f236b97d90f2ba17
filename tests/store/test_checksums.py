"""Uploads carry their sha256: a store refuses bytes that differ from it, keeping the old object."""

from __future__ import annotations

import base64
import hashlib

import pytest

from quest.errors import StoreError
from tests.sources.support import leftovers, make_s3_store


def test_a_body_that_does_not_match_its_sha256_is_refused(store, tmp_path):
    store.put_bytes("obj", b"previous", {"sha256": hashlib.sha256(b"previous").hexdigest()})
    corrupted = tmp_path / "corrupted"
    corrupted.write_bytes(b"bytes flipped on disk after download")
    claimed = hashlib.sha256(b"the bytes that were downloaded").hexdigest()
    with pytest.raises(StoreError, match=r"^obj: .*do(es)? not match (its|their) sha256"):
        store.put_file("obj", str(corrupted), {"sha256": claimed})
    with pytest.raises(StoreError, match=r"^obj: .*do(es)? not match (its|their) sha256"):
        store.put_bytes("obj", b"other bytes", {"sha256": claimed})
    with store.open("obj") as handle:
        assert handle.read() == b"previous"
    assert leftovers(store) == []


def test_a_body_matching_its_sha256_is_stored_with_its_metadata(store, tmp_path):
    body = tmp_path / "body"
    body.write_bytes(b"exact bytes\r\n")
    meta = {"sha256": hashlib.sha256(body.read_bytes()).hexdigest(), "source-size": "13"}
    store.put_file("dir/obj", str(body), meta)
    info = store.head("dir/obj")
    assert (info.size, info.metadata) == (13, meta)
    store.set_metadata("dir/obj", {**meta, "source-etag": '"x"'})
    assert store.head("dir/obj").metadata["source-etag"] == '"x"'
    with store.open("dir/obj") as handle:
        assert handle.read() == b"exact bytes\r\n"
    store.delete("dir/obj")
    store.delete("dir/obj")
    assert store.head("dir/obj") is None and store.list() == {}


def test_each_store_names_the_keys_it_cannot_hold_and_refuses_to_write_them(store):
    from quest.store.local import LocalStore

    assert store.key_problem("bls/pr/" + "x" * 240) is None
    assert "'..'" in store.key_problem("bls/pr/../x")
    too_long = "bls/pr/" + "x" * (260 if isinstance(store, LocalStore) else 1100)
    assert "longer than" in store.key_problem(too_long)
    with pytest.raises(StoreError, match="'..' segment"):
        store.put_bytes("bls/pr/../../x", b"x", {})
    assert store.list() == {}


def test_every_s3_upload_carries_its_sha256_for_s3_to_check(moto_endpoint, tmp_path):
    # moto does not check the checksum, so a test of a corrupted body cannot show S3 refusing
    # it: what can be shown is that each upload asks S3 to, with the sha256 of its metadata.
    store = make_s3_store(moto_endpoint)
    sent: list[tuple[str, bytes | None]] = []

    def record(request, **_kwargs) -> None:
        sent.append((request.method, request.headers.get("x-amz-checksum-sha256")))

    store.client.meta.events.register("before-send.s3.PutObject", record)
    body = tmp_path / "body"
    body.write_bytes(b"exact bytes\r\n")
    digest = hashlib.sha256(b"exact bytes\r\n")
    store.put_file("a", str(body), {"sha256": digest.hexdigest()})
    store.put_bytes("b", b"exact bytes\r\n", {"sha256": digest.hexdigest()})
    assert sent == [("PUT", base64.b64encode(digest.digest()))] * 2
