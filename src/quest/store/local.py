"""A local folder as the store: the default for local runs and the offline demo.

Bodies live at `<root>/<key>`, byte for byte as republished, so the folder can be compared with
the source directly. Metadata lives beside them in `<root>/.quest-meta/<key>.json`. Writes go to
a temporary file in the same folder, are flushed to disk, then renamed over the old object:
a reader sees the old bytes or the new ones, never a prefix.

Below the root nothing is reached through a symbolic link: every folder is opened relative to its
parent with `O_NOFOLLOW`, and so are bodies, metadata, locks and temporary files. A link planted
in the store (at `.quest-meta`, at a lock, at an object) is refused or ignored, never written
through. The root itself may be a link: that is where the user pointed the store.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from quest.errors import StoreError
from quest.locking import file_lock
from quest.store.base import (
    MD5,
    RESERVED_PREFIX,
    SHA256,
    Hasher,
    ObjectInfo,
    key_segments,
    literal_path,
)

META_DIR = ".quest-meta"
LOCK_DIR = ".quest-locks"
_TMP_PREFIX = ".quest-tmp-"
_HIDDEN = (META_DIR, LOCK_DIR)
_META_SUFFIX = ".json"
# NAME_MAX is 255 bytes on the usual file systems; the metadata sidecar adds its suffix.
MAX_SEGMENT_BYTES = 255 - len(_META_SUFFIX)
# PATH_MAX (4096) for tools that open the whole path (Spark reads `spark_path`).
_MAX_PATH_BYTES = 4095
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20
# Said with every "point QUEST_STORE at another folder": a user who never set it has the store
# under the home, which a read-only or misplaced home explains.
_UNSET = "; unset, the store is <home>/store, which QUEST_HOME (or --home) moves"


def _located(exc: OSError, folder: int, parts: list[str]) -> OSError:
    """`exc` naming the store-relative path, and ELOOP when a link is what stood in the way
    (Linux answers ENOTDIR to opening a linked folder without following it)."""
    code = exc.errno
    with contextlib.suppress(OSError):
        if stat.S_ISLNK(os.stat(parts[-1], dir_fd=folder, follow_symlinks=False).st_mode):
            code = errno.ELOOP
    return OSError(code, os.strerror(code or 0), "/".join(parts))


class LocalStore:
    """A folder on the local disk."""

    def __init__(self, root: str | Path) -> None:
        try:
            self.root = Path(root).expanduser().resolve()
        except RuntimeError:  # Python 3.12: a loop of symbolic links ("Symlink loop from ...")
            raise StoreError(
                f"QUEST_STORE={str(root)!r} runs into a loop of symbolic links; point "
                f"QUEST_STORE (or --store) at a folder{_UNSET}"
            ) from None
        self.uri = str(self.root)

    # -- paths, never through a link ------------------------------------------------------------

    def _segments(self, key: str) -> list[str]:
        try:
            return key_segments(key)
        except ValueError as exc:
            raise StoreError(f"{exc}: it would escape the store folder {self.root}") from None

    def _problem(self, what: str, exc: OSError, folder: list[str] | None = None) -> StoreError:
        """The error of a failed `what`; `folder`: the segments of the folder a write's
        temporary file is in, named where the error names that file (a name the user never
        sees) or no file (a write or an fsync that failed: no space left)."""
        if exc.errno == errno.ELOOP:
            reason = "a symbolic link is in the way; the store never follows links for its files"
            fix = "remove the link"
        elif exc.errno in (errno.ENOTDIR, errno.EISDIR, errno.EEXIST):
            reason = "a file stands where a folder should be, or a folder where a file should be"
            fix = "move it out of the store"
        elif exc.errno == errno.EROFS:
            reason = "the file system is mounted read-only"
            fix = "point QUEST_STORE at a folder on a writable one" + _UNSET
        elif exc.errno in (errno.EACCES, errno.EPERM):
            reason = "permission denied"
            fix = "make the folder writable, or point QUEST_STORE at one that is" + _UNSET
        elif exc.errno == errno.ENOSPC:
            reason, fix = "no space left on the device", "free some space"
        else:
            reason, fix = exc.strerror or str(exc), "check the folder"
        where = f" at {exc.filename}" if isinstance(exc.filename, str) else ""
        if folder is not None and (
            exc.filename is None or Path(str(exc.filename)).name.startswith(_TMP_PREFIX)
        ):
            where = f" in the folder {self.root.joinpath(*folder)}"
        return StoreError(f"{what} in the local store {self.root} failed{where}: {reason}; {fix}")

    def _root_fd(self, create: bool) -> int | None:
        try:
            if create:
                self.root.mkdir(parents=True, exist_ok=True)
            return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            if create:
                raise
            return None
        except FileExistsError:
            raise StoreError(
                f"QUEST_STORE={self.uri!r} is a file, not a folder; point QUEST_STORE (or "
                f"--store) at a folder{_UNSET}"
            ) from None
        except NotADirectoryError:
            raise StoreError(
                f"QUEST_STORE={self.uri!r} is a file, not a folder (or lies under one); point "
                f"QUEST_STORE (or --store) at a folder{_UNSET}"
            ) from None
        except PermissionError:
            raise StoreError(
                f"QUEST_STORE={self.uri!r} cannot be opened or created: permission denied; point "
                f"QUEST_STORE (or --store) at a folder you can write{_UNSET}"
            ) from None
        except OSError as exc:  # a read-only file system, no space, a link loop...
            raise self._problem("opening or creating the folder", exc) from None

    @contextlib.contextmanager
    def _folders(self, parts: list[str], create: bool) -> Iterator[list[int] | None]:
        """File descriptors of the root and of each folder of `parts` below it, opened without
        following links (None when a folder is missing and `create` is false)."""
        root = self._root_fd(create)
        if root is None:
            yield None
            return
        fds = [root]
        try:
            for depth, part in enumerate(parts):
                if create:
                    try:
                        os.mkdir(part, 0o777, dir_fd=fds[-1])
                    except FileExistsError:
                        pass
                    except OSError as exc:  # no space, a read-only file system
                        raise _located(exc, fds[-1], parts[: depth + 1]) from None
                try:
                    fds.append(os.open(part, _DIR_FLAGS, dir_fd=fds[-1]))
                except FileNotFoundError:
                    if create:
                        raise
                    yield None
                    return
                except OSError as exc:
                    raise _located(exc, fds[-1], parts[: depth + 1]) from None
            yield fds
        finally:
            for fd in fds:
                os.close(fd)

    def _open_file(self, parts: list[str], flags: int) -> int | None:
        """An fd of the file at `parts` (None when missing); its folders created for writes."""
        create = bool(flags & os.O_CREAT)
        with self._folders(parts[:-1], create) as fds:
            if fds is None:
                return None
            try:
                return os.open(
                    parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=fds[-1]
                )
            except FileNotFoundError:
                if create:
                    raise
                return None
            except OSError as exc:
                raise _located(exc, fds[-1], parts) from None

    def _meta_parts(self, key: str) -> list[str]:
        parts = self._segments(key)
        return [META_DIR, *parts[:-1], parts[-1] + _META_SUFFIX]

    # -- the Store interface ----------------------------------------------------------------

    def check(self, write: bool = False) -> None:
        """Raise StoreError now when the store's folder cannot be one (a file is in the way) or,
        with `write`, cannot be created or written (read-only, no permission)."""
        fd = self._root_fd(create=write)
        if fd is None:
            return
        try:
            if write:
                probe = f"{_TMP_PREFIX}probe-{secrets.token_hex(8)}"  # (listings skip these)
                os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=fd))
                os.unlink(probe, dir_fd=fd)
        except OSError as exc:
            raise StoreError(
                f"QUEST_STORE={self.uri!r} cannot be written ({exc.strerror or exc}); point "
                f"QUEST_STORE (or --store) at a folder you can write{_UNSET}"
            ) from None
        finally:
            os.close(fd)

    def key_problem(self, key: str) -> str | None:
        try:
            parts = key_segments(key)
        except ValueError as exc:
            return str(exc)
        clash = next((p for p in parts[:-1] if p.endswith(_META_SUFFIX)), None)
        if clash is not None:
            # The metadata of an object `x` is the file `x.json` of the metadata tree, where
            # the metadata of `x.json/...` would need a folder.
            return (
                f"a folder named {clash!r} would take the place of the local store's metadata "
                f"of an object named {clash[: -len(_META_SUFFIX)]!r}"
            )
        longest = max(len(p.encode("utf-8", "surrogatepass")) for p in parts)
        if longest > MAX_SEGMENT_BYTES:
            return (
                f"a path segment of {longest} bytes is longer than the local store's limit of "
                f"{MAX_SEGMENT_BYTES}"
            )
        whole = len(os.fsencode(self.root)) + 1 + len(META_DIR) + 1 + len(key.encode()) + 5
        if whole > _MAX_PATH_BYTES:
            return f"the path would be {whole} bytes, longer than the system's {_MAX_PATH_BYTES}"
        return None

    def _read_meta(self, key: str) -> dict[str, str]:
        try:
            fd = self._open_file(self._meta_parts(key), os.O_RDONLY)
        except OSError:
            # A damaged or planted sidecar only costs a re-download: the body stays the truth.
            return {}
        if fd is None:
            return {}
        try:
            with os.fdopen(fd, "rb") as handle:
                meta = json.loads(handle.read(1 << 20))
        except (OSError, ValueError):
            return {}
        if not isinstance(meta, dict):
            return {}
        # Metadata is text, as S3's: a value of another type (`null`, a number) was no quest's.
        return {str(k): v for k, v in meta.items() if isinstance(v, str)}

    def list(self, prefix: str = "") -> dict[str, ObjectInfo]:
        found: dict[str, ObjectInfo] = {}
        if not self.root.is_dir():
            return found
        try:
            for key, size in self._walk(self.root, ""):
                if key.startswith(prefix):
                    found[key] = ObjectInfo(key=key, size=size, metadata=self._read_meta(key))
        except OSError as exc:
            raise self._problem(f"listing {prefix or 'the store'}", exc) from None
        return dict(sorted(found.items()))

    def _walk(self, folder: Path, rel: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every regular file below `folder`; links and our own files skipped."""
        with os.scandir(folder) as entries:
            for entry in entries:
                if not rel and entry.name in _HIDDEN or entry.name.startswith(_TMP_PREFIX):
                    continue
                key = f"{rel}{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    yield from self._walk(Path(entry.path), key + "/")
                elif entry.is_file(follow_symlinks=False):
                    yield key, entry.stat(follow_symlinks=False).st_size

    def head(self, key: str) -> ObjectInfo | None:
        parts = self._segments(key)
        try:
            with self._folders(parts[:-1], create=False) as fds:
                if fds is None:
                    return None
                info = os.stat(parts[-1], dir_fd=fds[-1], follow_symlinks=False)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
        except OSError as exc:
            raise self._problem(f"reading {key}", exc) from None
        if not stat.S_ISREG(info.st_mode):
            return None  # a folder or a planted link is not an object
        return ObjectInfo(key=key, size=info.st_size, metadata=self._read_meta(key))

    def put_file(self, key: str, path: str, metadata: dict[str, str]) -> ObjectInfo:
        def fill(out: BinaryIO) -> None:
            with open(path, "rb") as src:
                while True:
                    try:
                        chunk = src.read(_CHUNK)
                    except OSError as exc:  # the file being copied, not the store (no name)
                        raise OSError(exc.errno, exc.strerror, path) from None
                    if not chunk:
                        break
                    out.write(chunk)

        return self._put(key, fill, metadata)

    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str]) -> ObjectInfo:
        return self._put(key, lambda out: out.write(data), metadata)

    def _put(
        self, key: str, fill: Callable[[BinaryIO], object], metadata: dict[str, str]
    ) -> ObjectInfo:
        """The body, then its metadata: two renames, which no file system makes one. The old
        metadata goes just before the new body takes the old one's place, so a run killed
        between the two leaves a body without metadata (its sha256 is computed again where it
        is needed, and the sync fetches it again), never a body beside another's sha256."""

        def drop_meta() -> None:
            self._unlink(self._meta_parts(key))

        size = self._write(self._segments(key), fill, metadata, key, before_replace=drop_meta)
        self._write_meta(key, metadata)
        return ObjectInfo(key=key, size=size, metadata=dict(metadata))

    def _write(
        self,
        parts: list[str],
        fill: Callable[[BinaryIO], object],
        metadata: dict[str, str],
        key: str,
        before_replace: Callable[[], None] | None = None,
    ) -> int:
        """Write a temporary file beside the target, check it, rename it over the target
        (calling `before_replace` once it is checked, just before)."""
        tmp = f"{_TMP_PREFIX}{secrets.token_hex(8)}"
        try:
            with self._folders(parts[:-1], create=True) as fds:
                folder = fds[-1]
                fd = os.open(
                    tmp,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o666,
                    dir_fd=folder,
                )
                try:
                    with os.fdopen(fd, "wb") as out:
                        fill(out)
                        out.flush()
                        os.fsync(out.fileno())
                    size = self._verify(folder, tmp, metadata, key)
                    if before_replace is not None:
                        before_replace()
                    os.replace(tmp, parts[-1], src_dir_fd=folder, dst_dir_fd=folder)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp, dir_fd=folder)
                    raise
        except OSError as exc:
            raise self._problem(f"writing {key}", exc, folder=parts[:-1]) from None
        return size

    @staticmethod
    def _verify(folder: int, tmp: str, metadata: dict[str, str], key: str) -> int:
        """The local twin of S3's checksum check: refuse bytes that differ from their digest."""
        hasher = Hasher()
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
        with os.fdopen(fd, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                hasher.update(chunk)
        expected = metadata.get(SHA256)
        if expected and (
            hasher.sha256 != expected or (MD5 in metadata and hasher.md5 != metadata[MD5])
        ):
            raise StoreError(
                f"{key}: written bytes do not match their sha256; object left as it was"
            )
        return hasher.size

    def _write_meta(self, key: str, metadata: dict[str, str]) -> None:
        text = json.dumps(dict(sorted(metadata.items()))).encode()
        self._write(self._meta_parts(key), lambda out: out.write(text), {}, key + " metadata")

    def set_metadata(self, key: str, metadata: dict[str, str]) -> None:
        if self.head(key) is None:
            raise StoreError(f"{key}: cannot set metadata of a missing object")
        self._write_meta(key, metadata)

    def open(self, key: str) -> BinaryIO:
        try:
            fd = self._open_file(self._segments(key), os.O_RDONLY)
        except OSError as exc:
            raise self._problem(f"reading {key}", exc) from None
        if fd is None:
            raise StoreError(f"{key}: no such object in {self.uri}")
        return os.fdopen(fd, "rb")

    def delete(self, key: str) -> None:
        """Remove the object and its metadata, then the folders that left empty (a folder may
        become a file at the source); the store's top-level folders stay.

        Raises:
            StoreError: naming what is gone when the object went but its metadata did not (a
                leftover metadata file is harmless: nothing reads it without its object, and
                writing the key again replaces it).
        """
        try:
            removed = self._unlink(self._segments(key))
        except OSError as exc:
            raise self._problem(f"deleting {key}", exc) from None
        meta = self._meta_parts(key)
        try:
            self._unlink(meta)
        except OSError as exc:
            done = "was deleted" if removed else "was not there"
            raise self._problem(
                f"{key} {done}, but deleting its metadata file {'/'.join(meta)}", exc
            ) from None

    def _unlink(self, parts: list[str]) -> bool:
        """Remove the file at `parts`, then the folders it leaves empty; whether it was there."""
        with self._folders(parts[:-1], create=False) as fds:
            if fds is None:
                return False
            try:
                os.unlink(parts[-1], dir_fd=fds[-1])
            except (FileNotFoundError, IsADirectoryError):
                return False
            except PermissionError:
                # Linux answers EPERM/EISDIR to unlinking a folder: it is not an object.
                if not stat.S_ISDIR(
                    os.stat(parts[-1], dir_fd=fds[-1], follow_symlinks=False).st_mode
                ):
                    raise
                return False
            for depth in range(len(parts) - 1, 1, -1):
                try:
                    os.rmdir(parts[depth - 1], dir_fd=fds[depth - 1])
                except OSError:
                    break
        return True

    def clean_temp(self, prefix: str) -> int:
        """Remove temporary files a killed writer left under `prefix` and its metadata."""
        removed = 0
        for top in (prefix, f"{META_DIR}/{prefix}"):
            parts = [p for p in top.split("/") if p]
            try:
                with self._folders(parts, create=False) as fds:
                    if fds is not None:
                        removed += _remove_temp(fds[-1])
            except OSError as exc:
                raise self._problem(f"cleaning {top}", exc) from None
        return removed

    def spark_path(self, key: str) -> str:
        return literal_path(str(self.root.joinpath(*self._segments(key))))

    def lock(self, name: str, timeout: float = 0.0):
        """An exclusive lock on `<root>/.quest-locks/<name>.lock`, released on exit or death."""
        if "/" in name or name.startswith(".") or not name:
            raise StoreError(f"lock name {name!r} is not a plain name")

        def opener(_path: str, flags: int) -> int:
            try:
                fd = self._open_file([LOCK_DIR, f"{name}.lock"], flags | os.O_CREAT)
            except OSError as exc:
                raise self._problem(f"taking the {name} lock", exc) from None
            assert fd is not None  # created
            return fd

        return file_lock(
            self.root / LOCK_DIR / f"{name}.lock",
            f"{name} lock on {self.uri}",
            timeout,
            opener=opener,
            error=StoreError,
        )


def _remove_temp(folder: int) -> int:
    """Unlink our temporary files in the folder `folder` and below it, never entering a link."""
    removed = 0
    with os.scandir(folder) as entries:
        names = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
    for name, is_dir in names:
        if is_dir:
            sub = os.open(name, _DIR_FLAGS, dir_fd=folder)
            try:
                removed += _remove_temp(sub)
            finally:
                os.close(sub)
        elif name.startswith(_TMP_PREFIX):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=folder)
                removed += 1
    return removed


__all__ = ["LocalStore", "META_DIR", "LOCK_DIR", "RESERVED_PREFIX"]
