"""Uploads carry their sha256: a store refuses bytes that differ from it, keeping the old object."""

from __future__ import annotations

import hashlib

import pytest

from quest.errors import StoreError
from tests.sources.support import leftovers


def test_a_body_that_does_not_match_its_sha256_is_refused(store, tmp_path):
    store.put_bytes("obj", b"previous", {"sha256": hashlib.sha256(b"previous").hexdigest()})
    corrupted = tmp_path / "corrupted"
    corrupted.write_bytes(b"bytes flipped on disk after download")
    claimed = hashlib.sha256(b"the bytes that were downloaded").hexdigest()
    with pytest.raises(StoreError, match="obj"):
        store.put_file("obj", str(corrupted), {"sha256": claimed})
    with pytest.raises(StoreError, match="obj"):
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
