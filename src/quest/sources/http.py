"""HTTP for the sources: one User-Agent, a timeout on every request, retries with backoff.

BLS refuses requests without a contact e-mail in the User-Agent (403), and both sources throttle
(429) or fail transiently (5xx); `get` turns all of that into either a good response or a
`SourceError` that says what happened and how to fix it.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from quest import __version__
from quest.config import Settings, validate_contact
from quest.errors import SourceError
from quest.store.base import Hasher

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
CHUNK_SIZE = 1 << 20
_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


@dataclass
class HttpStats:
    """What a run cost on the wire: every attempt counts as a request."""

    requests: int = 0
    bytes_down: int = 0


def user_agent(contact: str) -> str:
    return f"quest/{__version__} (+{contact})" if contact else f"quest/{__version__}"


def make_session(settings: Settings, *, require_contact: bool = True) -> requests.Session:
    """A Session whose every request names the project and its contact.

    Raises:
        ConfigError: when `require_contact` and QUEST_CONTACT is not an e-mail (before any request).
    """
    contact = validate_contact(settings) if require_contact else settings.contact.strip()
    session = requests.Session()
    session.headers["User-Agent"] = user_agent(contact)
    return session


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: either a number or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_wait(settings: Settings, attempt: int, retry_after: str | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0-based).

    A server's `Retry-After` wins over the exponential backoff but never beyond
    `retry_after_cap`, so a hostile or confused server cannot park a run for hours.
    """
    asked = retry_after_seconds(retry_after)
    wait = (
        min(asked, settings.retry_after_cap)
        if asked is not None
        else (settings.http_backoff * (2**attempt))
    )
    return wait * settings.retry_wait_scale


def _forbidden(url: str, session: requests.Session) -> SourceError:
    agent = session.headers.get("User-Agent", "")
    return SourceError(
        f"403 Forbidden from {url}: the server refused the User-Agent {agent!r}. BLS requires a "
        "contact e-mail in the User-Agent; set QUEST_CONTACT=you@example.org (or --contact)."
    )


class Attempts:
    """The tries one URL may cost, shared by every kind of failure: a body that breaks off after
    a 500 does not start a fresh round of retries, so `http_retries` bounds the requests."""

    def __init__(self, settings: Settings) -> None:
        self.total = max(1, settings.http_retries + 1)
        self.used = 0

    def take(self) -> int | None:
        """The 0-based number of the next try, or None when none is left."""
        if self.used >= self.total:
            return None
        self.used += 1
        return self.used - 1

    @property
    def left(self) -> int:
        return self.total - self.used


def get(
    session: requests.Session,
    url: str,
    settings: Settings,
    *,
    headers: dict[str, str] | None = None,
    stream: bool = False,
    stats: HttpStats | None = None,
    attempts: Attempts | None = None,
) -> requests.Response:
    """GET `url`, retrying connection errors, timeouts, 429 and 5xx with exponential backoff.

    Args:
        attempts: the budget of tries to draw from (a download shares one across its body
            retries); a fresh one of `http_retries + 1` when None.

    Returns:
        A response with a 2xx or 304 status (with `stream=True` its body is still unread).

    Raises:
        SourceError: on 403 (naming QUEST_CONTACT), another 4xx, or when retries run out.
    """
    attempts = attempts or Attempts(settings)
    problem = "no try left"
    while (attempt := attempts.take()) is not None:
        if stats is not None:
            stats.requests += 1
        retry_after = None
        try:
            response = session.get(
                url, headers=headers, stream=stream, timeout=settings.http_timeout
            )
        except _TRANSIENT as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            status = response.status_code
            if status < 300 or status == 304:
                return response
            retry_after = response.headers.get("Retry-After")
            response.close()
            if status == 403:
                raise _forbidden(url, session)
            if status not in RETRY_STATUSES:
                raise SourceError(f"{url} answered {status} {response.reason}; not retried")
            problem = f"HTTP {status} {response.reason}"
        if attempts.left:
            wait = backoff_wait(settings, attempt, retry_after)
            log.warning(
                "%s: %s; retry %d/%d in %.2fs", url, problem, attempt + 1, attempts.total - 1, wait
            )
            time.sleep(wait)
    raise SourceError(
        f"{url} failed after {attempts.used} attempts ({problem}); nothing was changed for it. "
        "Retry later, or raise QUEST_HTTP_RETRIES / QUEST_HTTP_TIMEOUT."
    )


@dataclass(frozen=True)
class Download:
    """A body streamed to a local file, with what the server said about it."""

    path: Path
    status: int
    size: int
    sha256: str
    md5: str
    etag: str
    last_modified: str
    content_type: str = ""


def download(
    session: requests.Session,
    url: str,
    dest: Path,
    settings: Settings,
    *,
    headers: dict[str, str] | None = None,
    stats: HttpStats | None = None,
    on_chunk: Callable[[bytes], None] | None = None,
) -> Download:
    """Stream `url` into `dest` chunk by chunk, hashing it; memory stays flat at any size.

    A body that breaks off (fewer bytes than `Content-Length`, a dropped connection) is retried
    like any transient failure, from the same budget of `http_retries + 1` requests as the
    status retries; `dest` is removed when the download does not complete.

    Returns:
        The download; on 304 Not Modified its `status` is 304 and `dest` is not written.

    Raises:
        SourceError: when no complete body arrived within the retries.
    """
    attempts = Attempts(settings)
    problem = ""
    while attempts.left:
        response = get(
            session, url, settings, headers=headers, stream=True, stats=stats, attempts=attempts
        )
        if response.status_code == 304:
            response.close()
            return Download(
                dest,
                304,
                0,
                "",
                "",
                response.headers.get("ETag", ""),
                response.headers.get("Last-Modified", ""),
            )
        hasher = Hasher()
        try:
            with response, open(dest, "wb") as out:
                for chunk in response.iter_content(CHUNK_SIZE):
                    out.write(chunk)
                    hasher.update(chunk)
                    if stats is not None:
                        stats.bytes_down += len(chunk)
                    if on_chunk is not None:
                        on_chunk(chunk)
            promised = response.headers.get("Content-Length")
            if (
                promised is not None
                and response.headers.get("Content-Encoding") in (None, "identity")
                and int(promised) != hasher.size
            ):
                raise requests.exceptions.ChunkedEncodingError(
                    f"body ended after {hasher.size} of {promised} bytes"
                )
        except _TRANSIENT as exc:
            dest.unlink(missing_ok=True)
            problem = f"{type(exc).__name__}: {exc}"
            if attempts.left:
                wait = backoff_wait(settings, attempts.used - 1)
                log.warning(
                    "%s: body broke off (%s); retry %d/%d in %.2fs",
                    url,
                    problem,
                    attempts.used,
                    attempts.total - 1,
                    wait,
                )
                time.sleep(wait)
            continue
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        return Download(
            dest,
            response.status_code,
            hasher.size,
            hasher.sha256,
            hasher.md5,
            response.headers.get("ETag", ""),
            response.headers.get("Last-Modified", ""),
            response.headers.get("Content-Type", ""),
        )
    raise SourceError(
        f"{url}: the body broke off; no complete body in {attempts.used} attempts "
        f"(the last: {problem}); "
        "the stored copy was left untouched. Retry later."
    )
