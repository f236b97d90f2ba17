"""The local folder store writes all-or-nothing, and locks die with their holder."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import subprocess
import sys

import pytest

from quest.errors import LockError, StoreError
from quest.locking import file_lock
from quest.store import LocalStore


def test_put_bytes_publishes_body_and_metadata(tmp_path):
    store = LocalStore(tmp_path)
    sha = hashlib.sha256(b"abc").hexdigest()
    store.put_bytes("bls/pr/x", b"abc", {"sha256": sha})
    assert (tmp_path / "bls/pr/x").read_bytes() == b"abc"
    assert store.head("bls/pr/x").sha256 == sha
    assert list(store.list("bls/")) == ["bls/pr/x"]


def test_a_body_replaced_but_not_its_metadata_is_never_left_with_the_old_sha256(
    tmp_path, monkeypatch
):
    # The body and its metadata are two renames; a run killed (or a disk full) between them
    # left the new body beside the old sha256, which bronze trusts to skip a file it loaded.
    store = LocalStore(tmp_path)
    store.put_bytes("bls/pr/a", b"old", {"sha256": hashlib.sha256(b"old").hexdigest()})

    def killed(*_args):
        raise StoreError("killed between the body and its metadata")

    monkeypatch.setattr(LocalStore, "_write_meta", killed)
    new = b"a new body"
    with pytest.raises(StoreError, match="killed"):
        store.put_bytes("bls/pr/a", new, {"sha256": hashlib.sha256(new).hexdigest()})
    assert (tmp_path / "bls/pr/a").read_bytes() == new
    assert store.head("bls/pr/a").metadata == {}  # no sha256: computed again where needed


def test_a_body_that_does_not_match_its_checksum_leaves_the_old_object(tmp_path):
    store = LocalStore(tmp_path)
    store.put_bytes("k", b"old", {"sha256": hashlib.sha256(b"old").hexdigest()})
    with pytest.raises(StoreError, match="k: written bytes do not match"):
        store.put_bytes("k", b"new", {"sha256": hashlib.sha256(b"other").hexdigest()})
    assert (tmp_path / "k").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".quest-tmp")] == []


def test_a_delete_whose_metadata_cannot_go_says_the_object_went(tmp_path, monkeypatch):
    # Two unlinks: when the second fails, "deleting bls/pr/a failed" would read as if the
    # object were still there, and a sync's error would hide a file it had removed.
    store = LocalStore(tmp_path)
    store.put_bytes("bls/pr/a", b"old", {"sha256": hashlib.sha256(b"old").hexdigest()})
    unlink = LocalStore._unlink

    def metadata_refused(self, parts):
        if parts == self._meta_parts("bls/pr/a"):
            raise PermissionError(errno.EACCES, "Permission denied", "meta")
        return unlink(self, parts)

    monkeypatch.setattr(LocalStore, "_unlink", metadata_refused)
    with pytest.raises(
        StoreError,
        match=r"bls/pr/a was deleted, but deleting its metadata file \.quest-meta/bls/pr/a\.json "
        ".*permission",
    ):
        store.delete("bls/pr/a")
    assert store.head("bls/pr/a") is None
    assert list(store.list("bls/")) == []
    with pytest.raises(StoreError, match=r"bls/pr/a was not there, but deleting its metadata"):
        store.delete("bls/pr/a")
    monkeypatch.undo()
    # The leftover metadata is replaced when the key is written again.
    store.put_bytes("bls/pr/a", b"new", {"sha256": hashlib.sha256(b"new").hexdigest()})
    assert store.head("bls/pr/a").sha256 == hashlib.sha256(b"new").hexdigest()


def test_the_path_spark_reads_matches_the_object_alone_whatever_its_folder_is_named(tmp_path):
    # Spark globs every path it reads: `[1]` matched a folder `1` (or none), `*` every file.
    from quest.store.s3 import S3Store

    root = tmp_path / "quest [1]" / "store{a,b}*?"
    local = LocalStore(root).spark_path("bls/pr/pr.data.0.Current")
    assert local == f"{tmp_path}/quest \\[1\\]/store\\{{a,b\\}}\\*\\?/bls/pr/pr.data.0.Current"
    s3 = S3Store("bucket", "runs[2]/{x}", endpoint_url="http://127.0.0.1:9")
    assert s3.spark_path("bls/pr/pr.class") == "s3://bucket/runs\\[2\\]/\\{x\\}/bls/pr/pr.class"
    assert S3Store("bucket", "plain").spark_path("a b/c.d") == "s3://bucket/plain/a b/c.d"


def test_keys_cannot_escape_the_store_folder(tmp_path):
    with pytest.raises(StoreError, match="escape"):
        LocalStore(tmp_path / "s").put_bytes("../evil", b"x", {})


def test_listing_hides_metadata_and_lock_folders(tmp_path):
    store = LocalStore(tmp_path)
    store.put_bytes("a", b"1", {})
    with store.lock("sync"):
        assert list(store.list()) == ["a"]


def test_listing_hides_a_file_a_sync_is_still_writing(tmp_path):
    # Bronze lists the store without the sync's lock: a half-written file is no BLS file.
    store = LocalStore(tmp_path)
    store.put_bytes("bls/pr/a", b"1", {})
    (tmp_path / "bls" / "pr" / ".quest-tmp-a.123").write_bytes(b"half")
    assert list(store.list("bls/")) == ["bls/pr/a"]


def test_second_holder_of_a_lock_is_refused_clearly(tmp_path):
    with file_lock(tmp_path / "run.lock", "run lock on test"):
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "from quest.locking import file_lock\n"
                f"with file_lock({str(tmp_path / 'run.lock')!r}, 'run lock on test'): pass",
            ],
            capture_output=True,
            text=True,
        )
    assert child.returncode != 0
    assert "run lock on test is held by another run" in child.stderr


def test_lock_is_free_again_after_its_holder_is_killed(tmp_path):
    lock = tmp_path / "run.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nfrom quest.locking import file_lock\n"
            f"with file_lock({str(lock)!r}, 'x'):\n    print('held', flush=True)\n    time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(LockError), file_lock(lock, "x"):
        pass
    holder.kill()
    holder.wait()
    with file_lock(lock, "x", timeout=5):
        pass


# Every "point QUEST_STORE elsewhere" says where the store is when it is unset.
UNSET = re.escape("; unset, the store is <home>/store, which QUEST_HOME (or --home) moves")


@pytest.mark.parametrize("call", ["fsync", "open"])
def test_a_write_that_fails_names_its_folder_not_its_temporary_file(tmp_path, monkeypatch, call):
    # It said "failed at .quest-tmp-3f9c...: permission denied", a name the user never sees, or
    # (no space left, found by a write or an fsync, which name no file) nothing of where.
    store = LocalStore(tmp_path / "store")
    store.put_bytes("bls/pr/pr.series", b"old", {})
    real_open = os.open

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    def open_(path, *args, **kwargs):
        if str(path).startswith(".quest-tmp-"):
            raise OSError(errno.EACCES, "Permission denied", path)
        return real_open(path, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(os, call, fsync if call == "fsync" else open_)
        with pytest.raises(StoreError) as raised:
            store.put_bytes("bls/pr/pr.series", b"new", {})
    reason = "no space left" if call == "fsync" else "permission denied"
    folder = tmp_path / "store" / "bls" / "pr"
    assert (
        f"writing bls/pr/pr.series in the local store {tmp_path / 'store'} failed in the "
        f"folder {folder}: {reason}" in str(raised.value)
    )
    assert ".quest-tmp" not in str(raised.value)
    with store.open("bls/pr/pr.series") as handle:
        assert handle.read() == b"old"


def test_a_new_folder_that_cannot_be_made_is_named_under_the_store(tmp_path, monkeypatch):
    # The first write under a new prefix on a full disk said "failed at new", the bare name.
    store = LocalStore(tmp_path / "store")
    store.put_bytes("bls/pr/pr.series", b"old", {})

    real_mkdir = os.mkdir

    def full(path, *args, **kwargs):
        if path != "new":
            return real_mkdir(path, *args, **kwargs)  # "bls" is there: FileExistsError
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(os, "mkdir", full)
    with pytest.raises(StoreError, match="failed at bls/new: no space left on the device"):
        store.put_bytes("bls/new/pr.series", b"new", {})


def test_a_file_copied_in_that_cannot_be_read_is_named_not_the_store_folder(tmp_path):
    # A read error of the file being copied (no name of its own) was laid at the store's door.
    store = LocalStore(tmp_path / "store")
    with pytest.raises(StoreError) as raised:
        store.put_file("bls/pr/pr.series", "/proc/self/mem", {})  # reading it fails: EIO
    assert "failed at /proc/self/mem: Input/output error" in str(raised.value)
    assert "in the folder" not in str(raised.value)
    assert not (tmp_path / "store" / "bls" / "pr" / "pr.series").exists()


def test_a_store_folder_on_a_read_only_file_system_is_a_store_error(tmp_path, monkeypatch):
    # `mkdir` there raises EROFS, not PermissionError: it was an "unexpected OSError" (exit 1),
    # then "permission denied; make the folder writable", which no chmod mends.
    from pathlib import Path

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(StoreError, match="failed at .*/store: the file system is mounted read-"):
        LocalStore(tmp_path / "store").check(write=True)
    with pytest.raises(StoreError, match=f"{UNSET}$"):  # a home's store, QUEST_STORE unset
        LocalStore(tmp_path / "store").check(write=True)


def test_check_refuses_a_store_folder_that_cannot_be_written(tmp_path):
    # `quest run` checks the store before any task starts: a read-only folder is one error
    # (status 3) at once, not a sync task failing and retried.
    if os.geteuid() == 0:
        folder = "/sys/kernel"  # sysfs refuses even root a new file
    else:
        folder = str(tmp_path / "locked")
        os.mkdir(folder, mode=0o500)
    with pytest.raises(StoreError, match=f"cannot be written .*folder you can write{UNSET}$"):
        LocalStore(folder).check(write=True)
    LocalStore(folder).check()  # the notebooks only read the store: a read-only one serves them
    # A store folder that does not exist yet is created, so its parent is what gets checked.
    with pytest.raises(
        StoreError, match=f"cannot be opened or created: permission denied.*{UNSET}$"
    ):
        LocalStore(f"{folder}/store").check(write=True)
    writable = LocalStore(tmp_path / "store")
    writable.check(write=True)
    writable.put_bytes("bls/pr/pr.txt", b"prose", {})
    writable.check(write=True)
    assert list(writable.list("")) == ["bls/pr/pr.txt"]
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == [".quest-meta", "bls"]
