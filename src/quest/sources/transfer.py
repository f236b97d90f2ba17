"""One URL fetched whole and verified, or refused with the reason and what to do.

A body counts only when the answer is `200` (or `304` to a conditional request), its bytes equal
the `Content-Length`, its content encoding (gzip or deflate) decodes to the end of the stream, and
the decoded size equals the size the listing shows (when it shows one). Redirects are followed
only within the first URL's host and folder. Every request is bounded: a deadline and a
low-speed limit (`Watchdog`), a cap on the body's size, and a budget of tries shared by every
transient failure (connection errors, timeouts, 429, 5xx, a body that breaks off).
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urljoin, urlsplit

import requests
import urllib3

from quest.config import Settings
from quest.errors import SourceError, SourceUnavailable
from quest.redaction import hide_userinfo
from quest.sources.http import (
    RETRY_STATUSES,
    Attempts,
    HttpStats,
    Watchdog,
    backoff_wait,
)
from quest.store.base import Hasher

log = logging.getLogger(__name__)

CHUNK_SIZE = 64 << 10
# How far past the listing's size a body is read before it is cut off (refused either way).
BODY_SLACK = 64 << 10
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_VALIDATOR = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,199}")
_BROKEN_BODY_FIX = "rerun later; if it persists, the source is serving broken files"


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


@dataclass(frozen=True)
class Limit:
    """The most bytes a body may have, what sets that bound (for the error), and the fix."""

    size: int
    what: str
    fix: str


class _Retry(Exception):
    """A transient failure: worth another try from the same budget."""

    def __init__(self, problem: str, retry_after: str | None = None) -> None:
        super().__init__(problem)
        self.problem, self.retry_after = problem, retry_after


def safe_url(url: str) -> str:
    return hide_userinfo(url)


def _brief(exc: BaseException, limit: int = 160) -> str:
    """An exception's text on one line, redacted and short enough for an error line."""
    text = " ".join(hide_userinfo(exc).split())
    return text if len(text) <= limit else text[:limit] + "..."


def refusal(name: str, url: str, problem: str, fix: str) -> SourceError:
    """The error for an answer we will not store: the file, its URL, what was wrong, the fix."""
    fix = fix[:1].upper() + fix[1:]
    return SourceError(f"{name}: {safe_url(url)} {problem}; nothing was stored from it. {fix}")


def download(
    session: requests.Session,
    url: str,
    settings: Settings,
    *,
    name: str,
    dest: Path | None = None,
    headers: dict[str, str] | None = None,
    expected_size: int | None = None,
    limit: Limit | None = None,
    stats: HttpStats | None = None,
) -> Download:
    """Fetch `url` whole into `dest` (or into memory when None), verified as the module says.

    Args:
        name: what the body is (a file name), for error messages.
        expected_size: the size the listing shows, or None when it shows none.
        limit: the most bytes to accept; by default QUEST_MAX_BODY_BYTES (and never more than
            the listing's size plus `BODY_SLACK`).
        headers: extra request headers (the conditional ones make a `304` acceptable).

    Raises:
        SourceError: the answer was refused (wrong status, size or encoding, a redirect off the
            folder, a body too big); not retried.
        SourceUnavailable: no whole body within the retries, the deadline or the low-speed limit.
    """
    stats = stats if stats is not None else HttpStats()
    limit = limit or Limit(
        settings.max_body_bytes,
        "QUEST_MAX_BODY_BYTES",
        "raise QUEST_MAX_BODY_BYTES if the file is really that big",
    )
    if expected_size is not None:
        if expected_size > limit.size:
            raise refusal(
                name,
                url,
                f"is listed at {expected_size} bytes, more than {limit.what} ({limit.size})",
                limit.fix,
            )
        if expected_size + BODY_SLACK < limit.size:
            limit = Limit(
                expected_size + BODY_SLACK, "the size the listing shows", _BROKEN_BODY_FIX
            )
    attempts = Attempts(settings)
    problem, retry_after = "no try left", None
    while (attempt := attempts.take()) is not None:
        sink = _Sink(dest, limit)
        try:
            with Watchdog(settings) as watchdog:
                return _attempt(
                    session,
                    url,
                    settings,
                    headers or {},
                    watchdog,
                    sink,
                    expected_size,
                    stats,
                    name,
                )
        except _Retry as retry:
            problem, retry_after = retry.problem, retry.retry_after
        finally:
            sink.close()
        if attempts.left:
            wait = backoff_wait(settings, attempt, retry_after)
            log.warning(
                "%s: %s: %s; retry %d/%d in %.2fs",
                name,
                safe_url(url),
                problem,
                attempt + 1,
                attempts.total - 1,
                wait,
            )
            time.sleep(wait)
    raise SourceUnavailable(
        f"{name}: {safe_url(url)} failed after {attempts.used} attempts (the last: {problem}); "
        "nothing was stored from it. Retry later, or raise QUEST_HTTP_RETRIES / QUEST_HTTP_TIMEOUT."
    )


def _attempt(
    session: requests.Session,
    url: str,
    settings: Settings,
    headers: dict[str, str],
    watchdog: Watchdog,
    sink: _Sink,
    expected_size: int | None,
    stats: HttpStats,
    name: str,
) -> Download:
    response, final = _follow(session, url, settings, headers, watchdog, stats, name)
    with response:
        _check_status(response, final, headers, name)
        etag = _validator(response.headers.get("ETag"))
        modified = _http_date(response.headers.get("Last-Modified"))
        if response.status_code == 304:
            return Download(None, 304, 0, "", "", etag, modified, url=final)
        length = _content_length(response, final, name)
        decoder = _Decoder(response.headers.get("Content-Encoding", ""), final, name)
        if decoder.identity and length is not None:
            if expected_size is not None and length != expected_size:
                raise refusal(
                    name,
                    final,
                    f"promises {length} bytes (Content-Length) but the listing shows "
                    f"{expected_size}",
                    _BROKEN_BODY_FIX,
                )
            if length > sink.limit.size:
                raise _too_big(name, final, sink.limit)
        sink.open()
        _read(response, decoder, sink, watchdog, stats, final, name)
        if expected_size is not None and sink.hasher.size != expected_size:
            raise refusal(
                name,
                final,
                f"sent {sink.hasher.size} bytes but the listing shows {expected_size}",
                _BROKEN_BODY_FIX,
            )
        return sink.result(
            response.status_code,
            etag,
            modified,
            response.headers.get("Content-Type", ""),
            final,
        )


def _follow(
    session: requests.Session,
    url: str,
    settings: Settings,
    headers: dict[str, str],
    watchdog: Watchdog,
    stats: HttpStats,
    name: str,
) -> tuple[requests.Response, str]:
    """The first answer that is not a redirect, following redirects within `url`'s folder."""
    current, seen = url, {url}
    for _ in range(MAX_REDIRECTS + 1):
        stats.requests += 1
        try:
            response = session.get(
                current,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=settings.http_timeout,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            _unavailable_if_tripped(watchdog, name, current)
            raise _Retry(f"{type(exc).__name__}: {_brief(exc)}") from None
        except requests.RequestException as exc:
            raise refusal(
                name,
                current,
                f"gave an answer that is not valid HTTP ({type(exc).__name__}: {_brief(exc)})",
                _BROKEN_BODY_FIX,
            ) from None
        if response.status_code not in _REDIRECTS:
            return response, current
        location = response.headers.get("Location", "")
        response.close()
        target = urljoin(current, location.strip()) if location.strip() else ""
        problem = _redirect_problem(url, target)
        if problem is None and target in seen:
            problem = "back to a URL already visited (a redirect loop)"
        if problem is not None:
            raise refusal(
                name,
                current,
                f"redirects {problem}",
                "only redirects within the same host and folder are followed; check the URL",
            )
        seen.add(target)
        current = target
    raise refusal(
        name,
        url,
        f"redirects more than {MAX_REDIRECTS} times",
        "check the URL; the source may be misconfigured",
    )


def _redirect_problem(origin: str, target: str) -> str | None:
    """Why a redirect from `origin` to `target` is not followed, or None."""
    if not target:
        return "without a Location"
    was, to = urlsplit(origin), urlsplit(target)
    if to.scheme.lower() != was.scheme.lower():
        return f"to {safe_url(target)}, a {to.scheme or 'scheme-less'}: URL"
    if to.netloc.lower() != was.netloc.lower():
        return f"to {safe_url(target)}, another host"
    folder = was.path[: was.path.rfind("/") + 1] or "/"
    path = posixpath.normpath(unquote(to.path) or "/")
    if not (path + ("/" if to.path.endswith("/") else "")).startswith(folder):
        return f"to {safe_url(target)}, outside the folder {folder}"
    return None


def _check_status(
    response: requests.Response, url: str, headers: dict[str, str], name: str
) -> None:
    status, reason = response.status_code, response.reason or ""
    if status == 200:
        return
    if status == 304:
        if "If-None-Match" in headers or "If-Modified-Since" in headers:
            return
        raise refusal(
            name,
            url,
            "answered 304 Not Modified to a request that asked for no comparison",
            _BROKEN_BODY_FIX,
        )
    if status in RETRY_STATUSES:
        raise _Retry(f"HTTP {status} {reason}", response.headers.get("Retry-After"))
    if status == 403:
        agent = response.request.headers.get("User-Agent", "") if response.request else ""
        raise SourceError(
            f"{name}: 403 Forbidden from {safe_url(url)}: the server refused the User-Agent "
            f"{agent!r}. BLS requires a contact e-mail in the User-Agent; set "
            "QUEST_CONTACT=you@example.org (or --contact)."
        )
    if 200 <= status < 300:
        raise refusal(
            name,
            url,
            f"answered {status} {reason}, not 200 with the whole body",
            _BROKEN_BODY_FIX,
        )
    raise refusal(
        name,
        url,
        f"answered {status} {reason}; not retried",
        "check the URL (QUEST_BLS_URL, QUEST_DATAUSA_URL) and that the source is up",
    )


def _content_length(response: requests.Response, url: str, name: str) -> int | None:
    """The promised length; a header that is not one whole number is refused."""
    value = response.headers.get("Content-Length")
    if value is None:
        return None
    values = {part.strip() for part in value.split(",")}
    if len(values) != 1 or not all(part.isascii() and part.isdigit() for part in values):
        raise refusal(
            name, url, f"sent a malformed Content-Length {value[:40]!r}", _BROKEN_BODY_FIX
        )
    return int(values.pop())


def _validator(value: str | None) -> str:
    """An ETag worth sending back: printable ASCII of sane length, else none."""
    return value if value and _VALIDATOR.fullmatch(value) else ""


def _http_date(value: str | None) -> str:
    import email.utils

    if not value or not _VALIDATOR.fullmatch(value):
        return ""
    try:
        email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return ""
    return value


def _too_big(name: str, url: str, limit: Limit) -> SourceError:
    return refusal(
        name,
        url,
        f"sent more than {limit.size} bytes, past {limit.what} (cut off there)",
        limit.fix,
    )


def _unavailable_if_tripped(watchdog: Watchdog, name: str, url: str) -> None:
    if watchdog.tripped is not None:
        raise SourceUnavailable(
            f"{name}: {safe_url(url)} was cut off: {watchdog.tripped}; nothing was stored from "
            "it. Rerun later, or raise QUEST_HTTP_DEADLINE / lower QUEST_HTTP_LOW_SPEED_LIMIT "
            "for a slow source."
        )


def _read(
    response: requests.Response,
    decoder: _Decoder,
    sink: _Sink,
    watchdog: Watchdog,
    stats: HttpStats,
    url: str,
    name: str,
) -> None:
    """Stream the raw body through the decoder into the sink, bounded all the way."""
    raw = response.raw
    received = 0
    try:
        while chunk := raw.read1(CHUNK_SIZE, decode_content=False):
            received += len(chunk)
            stats.bytes_down += len(chunk)
            watchdog.progress(len(chunk))
            for piece in decoder.feed(chunk):
                if not sink.write(piece):
                    raise _too_big(name, url, sink.limit)
            watchdog.check()
            _unavailable_if_tripped(watchdog, name, url)
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
        _unavailable_if_tripped(watchdog, name, url)
        raise _Retry(
            f"the body broke off after {received} bytes ({type(exc).__name__}: {_brief(exc)})"
        ) from None
    _unavailable_if_tripped(watchdog, name, url)
    decoder.finish()


class _Decoder:
    """Content-Encoding undone chunk by chunk, with bounded output (no decompression bomb
    ever sits in memory) and a check that the stream reached its end."""

    def __init__(self, encoding: str, url: str, name: str) -> None:
        self.encoding = encoding.strip().lower()
        self.url, self.name = url, name
        self.identity = self.encoding in ("", "identity")
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
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._z is None:
            yield data
            return
        try:
            while data:
                if self._z.eof:
                    if self.encoding == "deflate":
                        raise zlib.error("data after the end of the deflate stream")
                    self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)  # a further gzip member
                try:
                    piece = self._z.decompress(data, CHUNK_SIZE)
                except zlib.error:
                    if self._started or self.encoding != "deflate":
                        raise
                    # Some servers send raw deflate without the zlib wrapper RFC 9110 asks for.
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    piece = self._z.decompress(data, CHUNK_SIZE)
                self._started = True
                if piece:
                    yield piece
                data = self._z.unconsumed_tail or self._z.unused_data
        except zlib.error as exc:
            raise self._broken(f"is not a valid {self.encoding} stream ({exc})") from None

    def finish(self) -> None:
        if self._z is None:
            return
        if not self._started or not self._z.eof:
            raise self._broken(f"sent a {self.encoding} stream that stops before its end")

    def _broken(self, problem: str) -> SourceError:
        return refusal(self.name, self.url, problem, _BROKEN_BODY_FIX)


ACCEPTED = "gzip, deflate or no encoding"


class _Sink:
    """Where a body goes (a file, or memory), hashed as it is written, never past `limit`."""

    def __init__(self, dest: Path | None, limit: Limit) -> None:
        self.dest, self.limit = dest, limit
        self.hasher = Hasher()
        self._file: BinaryIO | None = None
        self._memory = bytearray()
        self._done = False

    def open(self) -> None:
        if self.dest is not None:
            self._file = open(self.dest, "wb")  # noqa: SIM115 - closed by close()

    def write(self, data: bytes) -> bool:
        """Take `data`; False (and nothing written) when it would pass the limit."""
        if self.hasher.size + len(data) > self.limit.size:
            return False
        if self._file is not None:
            self._file.write(data)
        else:
            self._memory += data
        self.hasher.update(data)
        return True

    def result(
        self, status: int, etag: str, modified: str, content_type: str, url: str
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
        )

    def close(self) -> None:
        """Close; an unfinished body is removed, never left to be taken for a whole one."""
        if self._file is not None and not self._file.closed:
            self._file.close()
        if not self._done and self.dest is not None:
            with contextlib.suppress(FileNotFoundError):
                self.dest.unlink()
