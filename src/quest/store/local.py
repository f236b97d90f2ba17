"""A local folder as the store: the default for local runs and the offline demo.

Bodies live at `<root>/<key>`, byte for byte as republished, so the folder can be compared with
the source directly. Metadata lives beside them in `<root>/.quest-meta/<key>.json`. Writes go to
a temporary file in the same folder, are flushed to disk, then renamed over the old object:
a reader sees the old bytes or the new ones, never a prefix.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from quest.errors import StoreError
from quest.locking import file_lock
from quest.store.base import MD5, SHA256, ObjectInfo, hash_file

META_DIR = ".quest-meta"
LOCK_DIR = ".quest-locks"
_TMP_PREFIX = ".quest-tmp-"
_HIDDEN = (META_DIR, LOCK_DIR)


class LocalStore:
    """A folder on the local disk."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise StoreError(f"key {key!r} escapes the store folder {self.root}")
        return path

    def _meta_path(self, key: str) -> Path:
        return self.root / META_DIR / f"{key}.json"

    def _read_meta(self, key: str) -> dict[str, str]:
        try:
            return json.loads(self._meta_path(key).read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            # A damaged sidecar only costs a re-download: the body stays the truth.
            return {}

    def list(self, prefix: str = "") -> dict[str, ObjectInfo]:
        found: dict[str, ObjectInfo] = {}
        if not self.root.exists():
            return found
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel_dir = Path(dirpath).relative_to(self.root)
            if rel_dir == Path("."):
                dirnames[:] = [d for d in dirnames if d not in _HIDDEN]
            for name in filenames:
                if name.startswith(_TMP_PREFIX):
                    continue
                key = (rel_dir / name).as_posix() if rel_dir != Path(".") else name
                if key.startswith(prefix):
                    info = self.head(key)
                    if info is not None:
                        found[key] = info
        return dict(sorted(found.items()))

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        return ObjectInfo(key=key, size=size, metadata=self._read_meta(key))

    def put_file(self, key: str, path: str, metadata: dict[str, str]) -> ObjectInfo:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            self._verify(tmp, metadata, key)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._write_meta(key, metadata)
        return ObjectInfo(key=key, size=target.stat().st_size, metadata=dict(metadata))

    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str]) -> ObjectInfo:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            self._verify(tmp, metadata, key)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._write_meta(key, metadata)
        return ObjectInfo(key=key, size=len(data), metadata=dict(metadata))

    @staticmethod
    def _verify(tmp: str, metadata: dict[str, str], key: str) -> None:
        """The local twin of S3's checksum check: refuse bytes that differ from their digest."""
        expected = metadata.get(SHA256)
        if not expected:
            return
        got = hash_file(tmp)
        if got.sha256 != expected or (MD5 in metadata and got.md5 != metadata[MD5]):
            raise StoreError(
                f"{key}: written bytes do not match their sha256; object left as it was"
            )

    def _write_meta(self, key: str, metadata: dict[str, str]) -> None:
        meta = self._meta_path(key)
        meta.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=meta.parent)
        with os.fdopen(fd, "w") as out:
            json.dump(dict(sorted(metadata.items())), out)
        os.replace(tmp, meta)

    def set_metadata(self, key: str, metadata: dict[str, str]) -> None:
        if self.head(key) is None:
            raise StoreError(f"{key}: cannot set metadata of a missing object")
        self._write_meta(key, metadata)

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise StoreError(f"{key}: no such object in {self.uri}") from None

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()
        with contextlib.suppress(FileNotFoundError):
            self._meta_path(key).unlink()

    def spark_path(self, key: str) -> str:
        return str(self._path(key))

    def lock(self, name: str, timeout: float = 0.0):
        """An exclusive lock on `<root>/.quest-locks/<name>.lock`, released on exit or death."""
        return file_lock(
            self.root / LOCK_DIR / f"{name}.lock", f"{name} lock on {self.uri}", timeout
        )
