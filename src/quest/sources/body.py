"""A body on its way to the store: where it goes, how it is decoded, and how it is refused.

`Sink` writes a body to a file (or memory) while hashing it, never past its `Limit`. `Decoder`
undoes a gzip or deflate `Content-Encoding` chunk by chunk, with bounded output, and refuses a
stream that is corrupt or stops before its end. `refusal` is the one shape of the error for an
answer quest will not store.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from quest.errors import ConfigError, SourceError
from quest.redaction import hide_userinfo
from quest.store.base import Hasher

CHUNK_SIZE = 64 << 10
# How much of a deflate body may arrive before it decodes for quest still to try it as raw
# deflate (a wrong zlib header fails within its first two bytes).
RAW_DEFLATE_GUESS = 64 << 10
BROKEN_BODY_FIX = "rerun later; if it persists, the source is serving broken files"
ACCEPTED = "gzip, deflate or no encoding"


@dataclass(frozen=True)
class Download:
    """A whole body (in `path`, or in `body` when fetched to memory) and what the server said.

    A `304` answer has `status` 304, no body, and the validators the server sent with it.
    `etag` and `last_modified` are "" unless the server sent well-formed ones.
    """

    path: Path | None
    status: int
    size: int
    sha256: str
    md5: str
    etag: str
    last_modified: str
    content_type: str = ""
    url: str = ""
    body: bytes | None = None
    # The answer's `Date` (the server's clock, the one its `Last-Modified` comes from), "" when
    # it sent none that parses.
    date: str = ""


@dataclass(frozen=True)
class Limit:
    """The most bytes a body may have, what sets that bound (for the error), and the fix."""

    size: int
    what: str
    fix: str


def safe_url(url: str) -> str:
    return hide_userinfo(url)


def refusal(name: str, url: str, problem: str, fix: str) -> SourceError:
    """The error for an answer we will not store: the file, its URL, what was wrong, the fix."""
    fix = fix[:1].upper() + fix[1:]
    return SourceError(f"{name}: {safe_url(url)} {problem}; nothing was stored from it. {fix}")


class Decoder:
    """Content-Encoding undone chunk by chunk, with bounded output (no decompression bomb
    ever sits in memory) and a check that the stream reached its end."""

    def __init__(self, encoding: str, url: str, name: str) -> None:
        self.encoding = encoding.strip().lower()
        self.url, self.name = url, name
        self.identity = self.encoding in ("", "identity")
        # Only a deflate stream marks the end of the body: gzip may hold further members, so
        # a body cut where one ended decodes cleanly (RFC 1952, 2.2).
        self.ends_itself = self.encoding == "deflate"
        if self.identity:
            self._z = None
        elif self.encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.encoding == "deflate":
            self._z = zlib.decompressobj(zlib.MAX_WBITS + 32)  # zlib-wrapped (or gzip)
        else:
            raise refusal(
                name,
                url,
                f"sent Content-Encoding {encoding[:40]!r}, which quest does not decode",
                f"the client asks for {ACCEPTED}; the source should honour that",
            )
        # A deflate body's first bytes, kept until it decodes, to start again as raw deflate.
        self._head: bytearray | None = bytearray() if self.encoding == "deflate" else None

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._z is None:
            yield data
            return
        if self._head is not None:
            # Past that many bytes without output, a failure is no header's fault; the bytes of
            # this read are kept whatever its size: its first bytes may be the second of all.
            self._head = None if len(self._head) > RAW_DEFLATE_GUESS else self._head + data
        try:
            while True:
                if self._z.eof:
                    if not data:
                        break
                    self._next_member()
                piece = self._decode(data)
                if piece is None:  # starting again, from the first byte, as raw deflate
                    data, self._head = bytes(self._head or b""), None
                    continue
                if piece:
                    self._head = None  # it decodes: no going back
                    yield piece
                data = self._z.unconsumed_tail or self._z.unused_data
                # A full chunk out may leave more output inside the decoder with no input left
                # (a raw deflate stream has no trailer to hold it back): ask again until less.
                if not data and len(piece) < CHUNK_SIZE:
                    break
        except zlib.error as exc:
            raise self._broken(f"is not a valid {self.encoding} stream ({exc})") from None

    def _next_member(self) -> None:
        """Input after the end of the stream: a further gzip member, or an error."""
        if self.encoding == "deflate":
            raise zlib.error("data after the end of the deflate stream")
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _decode(self, data: bytes) -> bytes | None:
        """At most a chunk of output; None when the body turns out to be raw deflate, which
        must be decoded again from its first byte."""
        try:
            return self._z.decompress(data, CHUNK_SIZE)
        except zlib.error:
            if self._head is None:
                raise
            # Some servers send raw deflate without the zlib wrapper RFC 9110 asks for.
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)
            return None

    def finish(self) -> None:
        if self._z is None:
            return
        if not self._z.eof:
            raise self._broken(f"sent a {self.encoding} stream that stops before its end")

    def _broken(self, problem: str) -> SourceError:
        return refusal(self.name, self.url, problem, BROKEN_BODY_FIX)


class Sink:
    """Where a body goes (a file, or memory), hashed as it is written, never past `limit`."""

    def __init__(self, dest: Path | None, limit: Limit) -> None:
        self.dest, self.limit = dest, limit
        self.hasher = Hasher()
        self._file: BinaryIO | None = None
        self._memory = bytearray()
        self._done = False

    def open(self) -> None:
        if self.dest is not None:
            try:
                self._file = open(self.dest, "wb")  # noqa: SIM115 - closed by close()
            except OSError as exc:
                raise self._scratch_error(exc) from None

    def write(self, data: bytes) -> bool:
        """Take `data`; False (and nothing written) when it would pass the limit."""
        if self.hasher.size + len(data) > self.limit.size:
            return False
        if self._file is not None:
            try:
                self._file.write(data)
            except OSError as exc:
                raise self._scratch_error(exc) from None
        else:
            self._memory += data
        self.hasher.update(data)
        return True

    def _scratch_error(self, exc: OSError) -> ConfigError:
        folder = self.dest.parent if self.dest is not None else "the temporary folder"
        return ConfigError(
            f"a download could not be written to {folder} ({exc.strerror or exc}); the store was "
            "not touched. Free some space there, or point TMPDIR at a writable folder with room "
            "for every file a run downloads (a sync keeps them there until it publishes them)"
        )

    def result(
        self, status: int, etag: str, modified: str, content_type: str, url: str, date: str = ""
    ) -> Download:
        if self._file is not None:
            self._file.close()
        self._done = True
        return Download(
            self.dest if self.dest is not None else None,
            status,
            self.hasher.size,
            self.hasher.sha256,
            self.hasher.md5,
            etag,
            modified,
            content_type,
            url,
            None if self.dest is not None else bytes(self._memory),
            date,
        )

    def close(self) -> None:
        """Close; an unfinished body is removed, never left to be taken for a whole one."""
        if self._file is not None and not self._file.closed:
            self._file.close()
        if not self._done and self.dest is not None:
            with contextlib.suppress(FileNotFoundError):
                self.dest.unlink()
