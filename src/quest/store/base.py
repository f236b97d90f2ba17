"""The store interface: a flat namespace of immutable-looking objects with small metadata.

The store is the source of truth for everything downstream, so every write is all-or-nothing:
an object is either its old bytes or its complete new bytes, never a prefix of them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

# Metadata keys every republished object carries (lower-case: S3 lower-cases user metadata).
SHA256 = "sha256"
MD5 = "md5"
SOURCE_MODIFIED = "source-modified"
SOURCE_ETAG = "source-etag"
SOURCE_SIZE = "source-size"
CONTENT_SHA256 = "content-sha256"


# Spark's file readers take every path they are given for a Hadoop glob pattern: a store folder
# named `quest [old]` or `runs{2}` matched other folders or none ("Path does not exist"), and
# `pr.*` would read every file it matches. A backslash before each of these makes it itself.
_GLOB_CHARACTERS = re.compile(r"([\\*?\[\]{}])")


def literal_path(path: str) -> str:
    """`path` as a Hadoop glob pattern matching that path alone."""
    return _GLOB_CHARACTERS.sub(r"\\\1", path)


@dataclass(frozen=True)
class ObjectInfo:
    """What the store knows of one object without reading its body."""

    key: str
    size: int
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def sha256(self) -> str | None:
        return self.metadata.get(SHA256)


class Store(Protocol):
    """A place objects are republished to: a local folder or an S3 prefix."""

    uri: str

    def list(self, prefix: str = "") -> dict[str, ObjectInfo]:
        """Every object under `prefix`, keyed by its full key, with its metadata."""

    def head(self, key: str) -> ObjectInfo | None:
        """One object's info, or None when it does not exist."""

    def put_file(self, key: str, path: str, metadata: dict[str, str]) -> ObjectInfo:
        """Publish a complete local file as `key`, atomically, verified by its checksum."""

    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str]) -> ObjectInfo:
        """Publish `data` as `key`, atomically."""

    def set_metadata(self, key: str, metadata: dict[str, str]) -> None:
        """Replace an object's metadata without rewriting its body."""

    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the object's body."""

    def delete(self, key: str) -> None:
        """Remove an object; removing a missing object is not an error."""

    def spark_path(self, key: str) -> str:
        """The path Spark reads the object from (a local path, or `s3://bucket/key`), escaped
        so that Spark reads that object alone (`literal_path`)."""

    def lock(self, name: str, timeout: float = 0.0):
        """A context manager holding an exclusive lock named `name` on this store."""

    def key_problem(self, key: str) -> str | None:
        """Why `key` cannot be stored here (too long for this store, ...), or None."""

    def clean_temp(self, prefix: str) -> int:
        """Remove what a killed writer left under `prefix` (temporary files, unfinished
        uploads); returns how many. Call it only while holding the lock of that prefix."""


# Names starting with this are the store's own (metadata, locks, temporary files).
RESERVED_PREFIX = ".quest-"


def folder_of(key: str) -> str:
    """The folder holding `key`, with its trailing '/' ("" for a key at the store's root)."""
    folder = key.rpartition("/")[0]
    return f"{folder}/" if folder else ""


def key_segments(key: str) -> list[str]:
    """The '/'-separated segments of a key, or an error for a key that is not plain.

    Raises:
        ValueError: naming what is wrong (an empty, '.' or '..' segment, a NUL).
    """
    segments = key.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise ValueError(f"key {key!r} has an empty, '.' or '..' segment")
        if "\x00" in segment:
            raise ValueError(f"key {key!r} holds a NUL character")
    return segments


class Hasher:
    """sha256 and md5 of a stream, fed chunk by chunk (memory stays flat)."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._md5 = hashlib.md5()  # noqa: S324 - an integrity fingerprint, not security
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._sha.update(chunk)
        self._md5.update(chunk)
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()


def hash_stream(handle: BinaryIO, chunk_size: int = 1 << 20) -> Hasher:
    """Hash a readable binary stream in chunks."""
    hasher = Hasher()
    while chunk := handle.read(chunk_size):
        hasher.update(chunk)
    return hasher


def hash_file(path: str, chunk_size: int = 1 << 20) -> Hasher:
    """Hash a local file in chunks."""
    with open(path, "rb") as handle:
        return hash_stream(handle, chunk_size)


def hash_object(store: Store, key: str, chunk_size: int = 1 << 20) -> Hasher:
    """Hash a stored object in chunks (for an object whose metadata lacks its sha256)."""
    with store.open(key) as handle:
        return hash_stream(handle, chunk_size)


def stored_sha256(store: Store, info: ObjectInfo) -> str:
    """An object's sha256: from its metadata, else hashed from its body (metadata a killed run
    did not write)."""
    return info.sha256 or hash_object(store, info.key).sha256


def read_up_to(handle, limit: int) -> bytes:
    """`limit` bytes from `handle`, fewer only at its end: a stream's `read(n)` may return fewer
    bytes than it still holds (a socket's answer, as botocore's body may pass on)."""
    parts, got = [], 0
    while got < limit:
        part = handle.read(limit - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def read_head(store: Store, key: str, limit: int = 65536) -> bytes:
    """The first `limit` bytes of an object (enough for a header line): all of them when the
    object is that long."""
    with store.open(key) as handle:
        return read_up_to(handle, limit)
