"""The local store never follows a symbolic link below its root: a link planted at the metadata
folder, the lock folder, a prefix folder, an object or a metadata sidecar is refused or ignored,
and nothing outside the store is read as an object or written."""

from __future__ import annotations

import hashlib
import os

import pytest

from quest.config import Settings
from quest.errors import StoreError
from quest.sources.bls import sync_bls
from quest.store.local import LOCK_DIR, META_DIR, LocalStore
from tests.sources.support import CONTACT, sample_files, stored_bytes


def _meta(data: bytes) -> dict[str, str]:
    return {"sha256": hashlib.sha256(data).hexdigest()}


@pytest.fixture
def outside(tmp_path):
    """A folder outside the store, with a file in it; it must stay exactly so."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret").write_bytes(b"not the store's")
    return folder


def _untouched(outside) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_bytes() == b"not the store's"


def test_a_link_at_the_metadata_folder_is_refused_and_not_written_through(tmp_path, outside):
    store = LocalStore(tmp_path / "store")
    store.root.mkdir()
    os.symlink(outside, store.root / META_DIR)
    with pytest.raises(StoreError, match=f"at {META_DIR}: a symbolic link is in the way"):
        store.put_bytes("bls/pr/x", b"x", _meta(b"x"))
    _untouched(outside)


def test_a_link_at_the_lock_folder_is_refused_and_not_written_through(tmp_path, outside):
    store = LocalStore(tmp_path / "store")
    store.root.mkdir()
    os.symlink(outside, store.root / LOCK_DIR)
    with pytest.raises(StoreError, match="symbolic link"), store.lock("sync-bls"):
        pass
    _untouched(outside)


def test_a_link_at_a_lock_file_is_refused(tmp_path, outside):
    store = LocalStore(tmp_path / "store")
    (store.root / LOCK_DIR).mkdir(parents=True)
    os.symlink(outside / "secret", store.root / LOCK_DIR / "sync-bls.lock")
    with pytest.raises(StoreError, match="symbolic link"), store.lock("sync-bls"):
        pass
    _untouched(outside)


def test_a_linked_object_is_not_an_object_and_is_replaced_not_written_through(tmp_path, outside):
    store = LocalStore(tmp_path / "store")
    (store.root / "bls" / "pr").mkdir(parents=True)
    os.symlink(outside / "secret", store.root / "bls" / "pr" / "x")
    assert store.list() == {} and store.head("bls/pr/x") is None
    store.put_bytes("bls/pr/x", b"ours", _meta(b"ours"))
    assert not (store.root / "bls" / "pr" / "x").is_symlink()
    assert stored_bytes(store) == {"bls/pr/x": b"ours"}
    _untouched(outside)


def test_a_linked_metadata_sidecar_is_neither_read_nor_written_through(tmp_path, outside):
    store = LocalStore(tmp_path / "store")
    store.put_bytes("k", b"v", _meta(b"v"))
    sidecar = store.root / META_DIR / "k.json"
    sidecar.unlink()
    (outside / "planted.json").write_text('{"sha256": "planted"}')
    os.symlink(outside / "planted.json", sidecar)
    assert store.head("k").metadata == {}
    store.set_metadata("k", {"source-size": "1"})
    assert store.head("k").metadata == {"source-size": "1"}
    assert (outside / "planted.json").read_text() == '{"sha256": "planted"}'


def test_a_sync_into_a_linked_prefix_fails_clearly_and_writes_nothing_outside(
    source, mirror, tmp_path, outside
):
    for name, data in sample_files(3).items():
        source.write(name, data)
    store = LocalStore(tmp_path / "linked-store")
    (store.root / "bls").mkdir(parents=True)
    os.symlink(outside, store.root / "bls" / "pr")
    settings = Settings(store=store.uri, bls_url=mirror.bls_url, contact=CONTACT)
    with pytest.raises(StoreError, match="at bls/pr: a symbolic link is in the way"):
        sync_bls(settings, store=store)
    _untouched(outside)
