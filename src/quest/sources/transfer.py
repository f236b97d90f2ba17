"""One URL fetched whole and verified, or refused with the reason and what to do.

A body counts only when the answer is `200` (or `304` to a conditional request), its bytes equal
the `Content-Length`, its content encoding (gzip or deflate) decodes to the end of the stream, and
the decoded size equals the size the listing shows (when it shows one). Redirects are followed
only within the first URL's host and folder. Every request is bounded: a deadline and a
low-speed limit (`Watchdog`), a cap on the body's size, and a budget of tries shared by every
transient failure (connection errors, timeouts, 429, 5xx, a body that breaks off).
"""

from __future__ import annotations

import logging
import posixpath
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, urljoin, urlsplit

import requests
import urllib3

from quest.config import Settings
from quest.errors import (
    ConfigError,
    HostNotFound,
    NothingListens,
    SourceCutOff,
    SourceError,
    SourceUnavailable,
)
from quest.redaction import hide_userinfo
from quest.sources.body import (
    BROKEN_BODY_FIX,
    CHUNK_SIZE,
    Decoder,
    Download,
    Limit,
    Sink,
    refusal,
    safe_url,
)
from quest.sources.http import (
    RETRY_STATUSES,
    Attempts,
    HttpStats,
    Watchdog,
    backoff_wait,
    http_date,
    is_loopback,
)
from quest.sources.names import canonical_path

log = logging.getLogger(__name__)

# How far past the listing's size a body is read before it is cut off (refused either way).
BODY_SLACK = 64 << 10
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_VALIDATOR = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,199}")


class _Retry(Exception):
    """A transient failure: worth another try from the same budget."""

    def __init__(self, problem: str, retry_after: str | None = None) -> None:
        super().__init__(problem)
        self.problem, self.retry_after = problem, retry_after


def brief_error(exc: BaseException, limit: int = 160) -> str:
    """An exception's text on one line, redacted and short enough for an error line."""
    text = " ".join(hide_userinfo(exc).split())
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True)
class Fetch:
    """One body to fetch: where from, what it is, where it goes and what it must be.

    Attributes:
        url: where the body is.
        name: what the body is (a file name), for error messages.
        dest: the file to write it to, or None to keep it in memory.
        headers: extra request headers (the conditional ones make a `304` acceptable).
        expected_size: the size the listing shows, or None when it shows none.
        limit: the most bytes to accept; by default QUEST_MAX_BODY_BYTES (and never more than
            the listing's size plus `BODY_SLACK`).
        cut_short: for a body kept in memory, what says it ended where it should, whatever
            says where the answer ends (a `Content-Length`, chunks, the connection's close):
            given the whole answer, it returns why the body looks cut short (retried, as a body
            that broke off), or None.
        same_path: a file asked for by its name: a redirect may change the URL's query, never
            its path (a redirect to another file of the folder would store that file's bytes
            under this one's name).
        listed: a URL a listing page named moments before (a BLS file or sub-folder): a 404
            or 410 says it was removed or renamed since, not that a setting is wrong.
    """

    url: str
    name: str
    dest: Path | None = None
    headers: dict[str, str] = field(default_factory=dict)
    expected_size: int | None = None
    limit: Limit | None = None
    cut_short: Callable[[Download], str | None] | None = None
    same_path: bool = False
    listed: bool = False


@dataclass(frozen=True)
class _Call:
    """What one try carries through the request, its redirects and its body."""

    session: requests.Session
    settings: Settings
    fetch: Fetch
    watchdog: Watchdog
    stats: HttpStats

    @property
    def name(self) -> str:
        return self.fetch.name


def download(
    session: requests.Session,
    fetch: Fetch,
    settings: Settings,
    stats: HttpStats | None = None,
) -> Download:
    """Fetch `fetch.url` whole into `fetch.dest` (or into memory), verified as the module says.

    Args:
        stats: counts of requests and bytes, added to (a fresh one when None).

    Raises:
        SourceError: the answer was refused (wrong status, size or encoding, a redirect off the
            folder, a body too big); not asked again (its `retryable` says whether the task
            may be).
        SourceUnavailable: no whole body within the retries, the deadline or the low-speed limit.
    """
    stats = stats if stats is not None else HttpStats()
    url, name, expected_size = fetch.url, fetch.name, fetch.expected_size
    limit = fetch.limit or Limit(
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
            limit = Limit(expected_size + BODY_SLACK, "the size the listing shows", BROKEN_BODY_FIX)
    attempts = Attempts(settings)
    problem, retry_after = "no try left", None
    while (attempt := attempts.take()) is not None:
        sink = Sink(fetch.dest, limit)
        try:
            with Watchdog(settings) as watchdog:
                return _attempt(_Call(session, settings, fetch, watchdog, stats), sink)
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
    failed = (
        f"{name}: {safe_url(url)} failed after {attempts.used} "
        f"attempt{'' if attempts.used == 1 else 's'} (the last: {problem}); "
        "nothing was stored from it."
    )
    if problem.startswith(REFUSED) and is_loopback(url):
        # Most often a `quest mirror` stopped while QUEST_BLS_URL / QUEST_DATAUSA_URL still
        # name it: more retries, here or by the task, would only wait longer.
        raise NothingListens(
            f"{failed} Nothing listens at that address on this machine: start the server it "
            "names (such as `quest mirror`), or leave out the URL given (QUEST_BLS_URL / "
            "QUEST_DATAUSA_URL, or the option that gave it) to reach the real sources"
        )
    raise SourceUnavailable(
        f"{failed} Check the URL, retry later, or raise QUEST_HTTP_RETRIES / QUEST_HTTP_TIMEOUT."
    )


# How `_connection_problem` words a connection the other end refused.
REFUSED = "ConnectionRefusedError"


def _attempt(call: _Call, sink: Sink) -> Download:
    name, expected_size = call.name, call.fetch.expected_size
    response, final = _follow(call)
    with response:
        _check_status(response, final, call.fetch.headers, name, listed=call.fetch.listed)
        etag = sendable_etag(response.headers.get("ETag"))
        modified = sendable_date(response.headers.get("Last-Modified"))
        date = sendable_date(response.headers.get("Date"))
        if response.status_code == 304:
            return Download(None, 304, 0, "", "", etag, modified, url=final, date=date)
        _check_transfer_coding(response, final, name)
        length = _content_length(response, final, name)
        decoder = Decoder(response.headers.get("Content-Encoding", ""), final, name)
        if decoder.identity and length is not None:
            if expected_size is not None and length != expected_size:
                raise refusal(
                    name,
                    final,
                    f"promises {length} bytes (Content-Length) but the listing shows "
                    f"{expected_size}",
                    BROKEN_BODY_FIX,
                )
            if length > sink.limit.size:
                raise _too_big(name, final, sink.limit)
        sink.open()
        _read(call, response, decoder, sink, final)
        if expected_size is not None and sink.hasher.size != expected_size:
            raise refusal(
                name,
                final,
                f"sent {sink.hasher.size} bytes but the listing shows {expected_size}",
                BROKEN_BODY_FIX,
            )
        got = sink.result(
            response.status_code,
            etag,
            modified,
            response.headers.get("Content-Type", ""),
            final,
            date,
        )
        # A page is checked whatever its framing: a Content-Length or a chunked stream says
        # where the answer ends, not that the page in it is whole (a proxy that buffered a body
        # which broke off sends what it got with a length of its own, or chunked).
        if call.fetch.cut_short is not None and (problem := call.fetch.cut_short(got)):
            raise _Retry(problem)
        # Only a body that ended where the connection closed can be cut short unseen: a
        # Content-Length, a chunked body and a deflate stream each say where they end (a gzip
        # stream does not: another member may follow the one that ended).
        unbounded = length is None and not decoder.ends_itself and not _chunked(response)
        if unbounded and expected_size is None and call.fetch.dest is not None:
            # A file with no size in the listing either: a connection closed early would pass
            # for the whole file, and replace a good copy with its first bytes.
            raise refusal(
                name,
                final,
                "sent a body that nothing bounds (no Content-Length, not chunked, plain or "
                "gzip) while the listing shows no size: where it should end cannot be told",
                "a listing without sizes and answers without a length come from a changed or "
                "broken source: check what it serves, then rerun",
            )
        return got


def _follow(call: _Call) -> tuple[requests.Response, str]:
    """The first answer that is not a redirect, following redirects within the URL's folder."""
    url, name = call.fetch.url, call.name
    current, seen = url, {url}
    for _ in range(MAX_REDIRECTS + 1):
        call.stats.requests += 1
        try:
            response = call.session.get(
                current,
                headers=call.fetch.headers,
                stream=True,
                allow_redirects=False,
                timeout=call.settings.http_timeout,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            _unavailable_if_tripped(call.watchdog, name, current)
            if _name_not_resolved(exc):
                raise HostNotFound(
                    f"{name}: the host of {hide_userinfo(current)} does not exist (the name "
                    "server knows no such name): check the URL, or whether this machine resolves "
                    "public names (a network with no internet, or one reached through a proxy: "
                    "HTTPS_PROXY); not retried"
                ) from None
            raise _Retry(_connection_problem(exc)) from None
        except requests.RequestException as exc:
            raise refusal(
                name,
                current,
                f"cannot be fetched, or answered with invalid HTTP ({type(exc).__name__}: "
                f"{brief_error(exc)})",
                "check the URL; if it is right, the source is sending broken answers: rerun later",
            ) from None
        except OSError as exc:
            if "CA certificate bundle" not in str(exc):
                raise
            # requests' own OSError, before any request: REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE
            # names no file (it was "unexpected OSError ... a bug in quest").
            raise ConfigError(
                f"{name}: {brief_error(exc)}: REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE names a "
                "certificate bundle that is not there; point it at one, or unset it"
            ) from None
        except ValueError as exc:
            # Not one of requests' own (those are RequestExceptions too): it parses a
            # redirect's Location even when it does not follow it, and `http://[bad/` is no URL.
            raise refusal(
                name,
                current,
                f"answered a redirect whose Location is not a URL ({brief_error(exc)})",
                "check the URL; if it is right, the source is sending broken answers: rerun later",
            ) from None
        if response.status_code not in _REDIRECTS:
            return response, current
        location = response.headers.get("Location", "")
        response.close()
        # A Location that is no URL never gets here: requests refused it (ValueError, above).
        target = urljoin(current, location.strip()) if location.strip() else ""
        problem = _redirect_problem(url, target, same_path=call.fetch.same_path)
        if problem is None and target in seen:
            problem = "back to a URL already visited (a redirect loop)"
        if problem is not None:
            raise refusal(
                name,
                current,
                f"redirects {problem}",
                "only redirects within the same host and folder (for a file, to that file) are "
                "followed; check the URL",
            )
        seen.add(target)
        current = target
    raise refusal(
        name,
        url,
        f"redirects more than {MAX_REDIRECTS} times",
        "check the URL; the source may be misconfigured",
    )


_DEFAULT_PORTS = {"http": 80, "https": 443}


def site_origin(parsed: SplitResult) -> str:
    """`scheme://host[:port]` as listing links and redirects are compared: scheme and host in
    lower case, the scheme's default port left out (`HTTPS://Download.BLS.gov:443` is
    `https://download.bls.gov`), user information dropped. A port that does not parse keeps the
    netloc as written, so the link or redirect reads as going to another site."""
    scheme = parsed.scheme.lower()
    try:
        port = parsed.port
    except ValueError:
        return f"{scheme}://{parsed.netloc}"
    host = parsed.hostname or ""
    host = f"[{host}]" if ":" in host else host
    shown_port = "" if port is None or port == _DEFAULT_PORTS.get(scheme) else f":{port}"
    return f"{scheme}://{host}{shown_port}"


def _redirect_problem(origin: str, target: str, *, same_path: bool = False) -> str | None:
    """Why a redirect from `origin` to `target` is not followed, or None. With `same_path`, one
    to another path (another file) is not followed either."""
    if not target:
        return "without a Location"
    was, to = urlsplit(origin), urlsplit(target)
    if to.scheme.lower() != was.scheme.lower():
        return f"to {safe_url(target)}, a {to.scheme or 'scheme-less'}: URL"
    if site_origin(to) != site_origin(was):
        return f"to {safe_url(target)}, another host"
    # Both sides in one spelling: a file asked for in a folder whose name is escaped
    # (`my%20dir/`) may be answered with a Location that spells it otherwise.
    folder = compared_path(was.path[: was.path.rfind("/") + 1])
    path = compared_path(to.path)
    if not path.startswith(folder):
        return f"to {safe_url(target)}, outside the folder {folder}"
    if same_path and path != compared_path(was.path):
        return f"to {safe_url(target)}, another file"
    return None


def compared_path(path: str) -> str:
    """A URL path as redirects are judged: in its canonical spelling (`canonical_path`: `%73ub`
    is `sub`, an encoded '/' stays encoded), dot segments resolved, its trailing slash kept
    (`pr/x/` is a folder, not the file `pr/x`)."""
    resolved = posixpath.normpath(canonical_path(path) or "/")
    return resolved + ("/" if path.endswith("/") and resolved != "/" else "")


# Client errors that say "later": Request Timeout, Too Early (429 is in RETRY_STATUSES).
_TRANSIENT_CLIENT_ERRORS = frozenset({408, 425})


def _check_status(
    response: requests.Response,
    url: str,
    headers: dict[str, str],
    name: str,
    listed: bool = False,
) -> None:
    """Refuse any answer but a 200 (or a 304 to a conditional request). `listed`: the URL is a
    file or folder a listing named a moment before, which a 404 or 410 says has gone since."""
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
            BROKEN_BODY_FIX,
        )
    if status in RETRY_STATUSES:
        raise _Retry(f"HTTP {status} {reason}", response.headers.get("Retry-After"))
    if status == 403:
        agent = response.request.headers.get("User-Agent", "") if response.request else ""
        if "@" not in agent:
            raise SourceError(
                f"{name}: 403 Forbidden from {safe_url(url)}: the server refused the User-Agent "
                f"{agent!r}. BLS requires a contact e-mail in the User-Agent; set "
                "QUEST_CONTACT=you@example.org (or --contact)."
            )
        # The contact is there: the refusal is of this client or its network, not of its name.
        raise SourceError(
            f"{name}: 403 Forbidden from {safe_url(url)}, although the User-Agent {agent!r} "
            "names a contact: the server refuses this client or its network (some sites block "
            "cloud addresses). Check that the URL is the source's and that the source can be "
            "reached from where quest runs."
        )
    if 200 <= status < 300:
        raise refusal(
            name,
            url,
            f"answered {status} {reason}, not 200 with the whole body",
            BROKEN_BODY_FIX,
        )
    fix = (
        "check the URL (QUEST_BLS_URL or QUEST_DATAUSA_URL, or `quest sync --source-url`) and "
        "that the source is up"
    )
    if listed and status in (404, 410):
        fix = (
            "the listing named it when the run began: it was removed or renamed at the source "
            "since (a release in progress?); the next run's listing says whether it is gone"
        )
    refused = refusal(name, url, f"answered {status} {reason}", fix)
    # Not asked again here. A client error (400, 404...) is not retried as a task either: another
    # attempt minutes later asks the same URL the same question; 5xx answers may pass, and 408
    # and 425 say "later". A BLS file or sub-folder that vanished after the listing named it is
    # retried (`quest.sources.bls`, `crawl`), so the error itself never says "not retried": the
    # runner says whether the task is ("retrying in ...", or "not retried: ..." and why).
    refused.retryable = not (400 <= status < 500 and status not in _TRANSIENT_CLIENT_ERRORS)
    raise refused


def _chunked(response: requests.Response) -> bool:
    return response.headers.get("Transfer-Encoding", "").lower() == "chunked"


def _check_transfer_coding(response: requests.Response, url: str, name: str) -> None:
    """A `Transfer-Encoding` other than plain `chunked` (or `identity`, no coding at all) is
    refused: Python's http.client undoes that one alone (the very value; `chunked `,
    `gzip, chunked` and the like are read as they come, by their `Content-Length` or until the
    connection closes), so the chunks' framing, or a body cut short, would be taken for the
    file."""
    value = response.headers.get("Transfer-Encoding")
    if value is None or _chunked(response) or value.strip().lower() == "identity":
        return
    raise refusal(
        name,
        url,
        f"sent Transfer-Encoding {value[:40]!r}, which is not plain `chunked`: its body "
        "cannot be read back as it was sent",
        BROKEN_BODY_FIX,
    )


def _content_length(response: requests.Response, url: str, name: str) -> int | None:
    """The promised length; a header that is not one whole number is refused."""
    value = response.headers.get("Content-Length")
    if value is None:
        return None
    values = {part.strip() for part in value.split(",")}
    if len(values) != 1 or not all(part.isascii() and part.isdigit() for part in values):
        raise refusal(name, url, f"sent a malformed Content-Length {value[:40]!r}", BROKEN_BODY_FIX)
    return int(values.pop())


def sendable_etag(value: str | None) -> str:
    """An ETag worth sending back: printable ASCII of sane length, else none. Also applied to
    the one a stored copy's metadata holds, which a hand may have edited."""
    return value if value and _VALIDATOR.fullmatch(value) else ""


def sendable_date(value: str | None) -> str:
    """An HTTP date worth sending back (`If-Modified-Since`), as `sendable_etag`."""
    if not value or not _VALIDATOR.fullmatch(value):
        return ""
    return value if http_date(value) is not None else ""


def _encoded_bound(size: int) -> int:
    """The most bytes a body of at most `size` bytes can take on the wire, encoded: deflate
    stores incompressible data with 5 bytes per 64 KiB block, a gzip member adds 18."""
    return size + size // 64 + (64 << 10)


def _too_big(name: str, url: str, limit: Limit) -> SourceError:
    return refusal(
        name,
        url,
        f"sent more than {limit.size} bytes, past {limit.what} (cut off there)",
        limit.fix,
    )


def _causes(exc: BaseException):
    """`exc` and every exception it was raised from or wraps (requests wraps urllib3's, which
    wraps the socket's)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo += [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]


def _connection_problem(exc: BaseException) -> str:
    """A failed connection in a few words: the socket's own error when there is one
    (`ConnectionRefusedError: Connection refused`), not the pool's internal names; a proxy's
    failure says it is the proxy's."""
    via = "the proxy: " if isinstance(exc, requests.exceptions.ProxyError) else ""
    for item in _causes(exc):
        if isinstance(item, OSError) and item.strerror:
            return f"{via}{type(item).__name__}: {item.strerror}"
    return f"{via}{type(exc).__name__}: {brief_error(exc)}"


# getaddrinfo's answers that a wait cannot change: no such name, or no address for it (not
# EAI_AGAIN, "temporary failure in name resolution", which a resolver hiccup also returns).
_NO_SUCH_NAME = {
    code for code in (getattr(socket, n, None) for n in ("EAI_NONAME", "EAI_NODATA")) if code
}


def _name_not_resolved(exc: BaseException) -> bool:
    """Whether a connection failed because the host name has no address (offline, or a typo):
    retrying cannot help."""
    if isinstance(exc, requests.exceptions.ProxyError):
        return False  # the proxy's host, not the source's
    return any(
        isinstance(item, socket.gaierror) and item.errno in _NO_SUCH_NAME for item in _causes(exc)
    )


def _unavailable_if_tripped(watchdog: Watchdog, name: str, url: str) -> None:
    if watchdog.tripped is not None:
        raise SourceCutOff(
            f"{name}: {safe_url(url)} was cut off: {watchdog.tripped}; nothing was stored from "
            "it. Rerun later, or raise QUEST_HTTP_DEADLINE / lower QUEST_HTTP_LOW_SPEED_LIMIT "
            "for a slow source."
        )


def _read(call: _Call, response: requests.Response, decoder: Decoder, sink: Sink, url: str) -> None:
    """Stream the raw body (answered from `url`) through the decoder into the sink, bounded."""
    name, watchdog, stats = call.name, call.watchdog, call.stats
    raw = response.raw
    received = 0
    # What it decodes to stays under the limit: empty gzip members without end.
    bound = _encoded_bound(sink.limit.size)
    while True:
        try:
            chunk = raw.read1(CHUNK_SIZE, decode_content=False)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            _unavailable_if_tripped(watchdog, name, url)
            raise _Retry(
                f"the body broke off after {received} bytes ({type(exc).__name__}: {brief_error(exc)})"
            ) from None
        if not chunk:
            break
        received += len(chunk)
        stats.bytes_down += len(chunk)
        watchdog.progress(len(chunk))
        if received > bound:
            raise refusal(
                name,
                url,
                f"sent more than {bound} bytes of {decoder.encoding} "
                f"for a body of at most {sink.limit.size} bytes, past {sink.limit.what}, more "
                "than any compression makes of it (cut off there)",
                BROKEN_BODY_FIX,
            )
        for piece in decoder.feed(chunk):
            if not sink.write(piece):
                raise _too_big(name, url, sink.limit)
        _unavailable_if_tripped(watchdog, name, url)
    _unavailable_if_tripped(watchdog, name, url)
    decoder.finish()
