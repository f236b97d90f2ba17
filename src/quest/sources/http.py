"""HTTP for the sources: one User-Agent, bounded requests, retries with backoff.

BLS refuses requests without a contact e-mail in the User-Agent (403), and both sources throttle
(429) or fail transiently (5xx); `quest.sources.transfer` turns all of that into either a whole,
verified body or an error that says what happened and how to fix it. This module holds the
policy pieces: the session, the retry budget and waits, and the `Watchdog` that ends a request
running past its deadline or slower than the low-speed limit (as curl's `--max-time` and
`--speed-limit/--speed-time` do), even while it is blocked reading the socket.
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import ProxyManager

from quest import __version__
from quest.config import Settings, validate_contact

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Encodings we decode (and check) ourselves; anything else is refused.
ACCEPT_ENCODING = "gzip, deflate"


@dataclass
class HttpStats:
    """What a run cost on the wire: every request counts (retries and redirects too)."""

    requests: int = 0
    bytes_down: int = 0


def user_agent(contact: str) -> str:
    return f"quest/{__version__} (+{contact})" if contact else f"quest/{__version__}"


def make_session(settings: Settings, *, require_contact: bool = True) -> requests.Session:
    """A Session whose every request names the project and its contact, and whose sockets a
    `Watchdog` can shut down.

    Raises:
        ConfigError: when QUEST_CONTACT is not an e-mail (before any request): when
            `require_contact`, or when it is set at all (a header cannot carry every text).
    """
    given = require_contact or settings.contact.strip()
    contact = validate_contact(settings) if given else ""
    session = _Session()
    session.headers["User-Agent"] = user_agent(contact)
    session.headers["Accept-Encoding"] = ACCEPT_ENCODING
    for scheme in ("http://", "https://"):
        session.mount(scheme, _WatchedAdapter())
    return session


def is_loopback(url: str) -> bool:
    """Whether `url` names this machine (the local mirror, a test's server)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return address.is_loopback or bool(mapped and mapped.is_loopback)


class _Session(requests.Session):
    """requests' Session, but a URL of this machine never goes through a proxy: an
    `HTTP_PROXY` set for the internet, with no `NO_PROXY`, sent the demo's and the tests'
    requests to the local mirror (127.0.0.1) to the proxy."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if url and is_loopback(url):
            merged["proxies"] = {}
        return merged


def http_date(value: str | None) -> datetime | None:
    """An HTTP date header's value as a datetime, or None when it does not parse: garbage, or
    a year past any clock (`email.utils` raises OverflowError for that, not ValueError)."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: either a number or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    when = http_date(value)
    return None if when is None else max(0.0, when.timestamp() - time.time())


# The longest wait the exponential backoff grows to (a first wait, QUEST_HTTP_BACKOFF, longer
# than it stands).
BACKOFF_CEILING = 300.0


def backoff_wait(settings: Settings, attempt: int, retry_after: str | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0-based).

    A server's `Retry-After` longer than the exponential backoff wins, but never beyond
    `retry_after_cap`, so a hostile or confused server cannot park a run for hours; a shorter
    one (`0`, a date gone by) does not shorten the backoff, or a server answering 503 with
    `Retry-After: 0` would have every try sent back to back. Nor does the backoff grow beyond
    `BACKOFF_CEILING` (`QUEST_HTTP_RETRIES=12` waited over an hour in all, past a job task's
    timeout).
    """
    grown = settings.http_backoff * (2 ** min(attempt, 32))
    wait = min(grown, max(BACKOFF_CEILING, settings.http_backoff))
    asked = retry_after_seconds(retry_after)
    if asked is not None:
        wait = max(wait, min(asked, settings.retry_after_cap))
    return wait * settings.retry_wait_scale


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


class Watchdog:
    """Ends one request that runs past `http_deadline` seconds, or that receives fewer than
    `http_low_speed_limit` bytes a second over `http_low_speed_time` seconds.

    A thread checks the clock and the bytes counted by `progress`; when either bound is broken
    it records why (`tripped`) and shuts the request's socket down, so a read blocked on a
    trickling server returns at once (the reader also stops at its next chunk when `tripped`).
    Use as a context manager around one request.
    """

    def __init__(self, settings: Settings) -> None:
        self.deadline_seconds = settings.http_deadline
        self.speed_limit = max(0, settings.http_low_speed_limit)
        self.speed_time = max(0.0, settings.http_low_speed_time)
        self.received = 0
        self.tripped: str | None = None
        self.connection: HTTPConnection | None = None
        self._started = time.monotonic()
        self._samples: deque[tuple[float, int]] = deque([(self._started, 0)])
        self._stop = threading.Event()
        shortest = min(x for x in (self.deadline_seconds, self.speed_time, 5.0) if x > 0)
        self._tick = max(0.01, min(0.5, shortest / 10))
        self._thread = threading.Thread(target=self._watch, daemon=True, name="quest-watchdog")

    def progress(self, size: int) -> None:
        self.received += size

    def _check(self) -> None:
        """Record a broken bound, if any (the watching thread's only: it owns the samples)."""
        if self.tripped is not None:
            return
        now = time.monotonic()
        elapsed = now - self._started
        if self.deadline_seconds > 0 and elapsed > self.deadline_seconds:
            self.tripped = (
                f"still running after {self.deadline_seconds:g} s (QUEST_HTTP_DEADLINE), "
                f"{self.received} bytes received"
            )
            return
        if not self.speed_limit or not self.speed_time:
            return
        self._samples.append((now, self.received))
        while len(self._samples) > 1 and now - self._samples[1][0] >= self.speed_time:
            self._samples.popleft()
        since, then = self._samples[0]
        window = now - since
        if window >= self.speed_time and (self.received - then) / window < self.speed_limit:
            self.tripped = (
                f"slower than {self.speed_limit} bytes/s for {self.speed_time:g} s "
                f"(QUEST_HTTP_LOW_SPEED_LIMIT / QUEST_HTTP_LOW_SPEED_TIME): "
                f"{self.received - then} bytes in the last {window:.1f} s"
            )

    def _watch(self) -> None:
        while not self._stop.wait(self._tick):
            self._check()
            if self.tripped is not None:
                self._cut()
                return

    def _cut(self) -> None:
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            # The plain socket's shutdown, also under TLS: it wakes the blocked reader.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def __enter__(self) -> Watchdog:
        _current.watchdog = self
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        _current.watchdog = None
        self._stop.set()
        self._thread.join()


_current = threading.local()


def _watch_connection(connection: HTTPConnection) -> None:
    watchdog = getattr(_current, "watchdog", None)
    if watchdog is not None:
        watchdog.connection = connection


class _WatchedHTTPConnection(HTTPConnection):
    def request(self, *args, **kwargs):  # type: ignore[override]
        _watch_connection(self)
        return super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def request(self, *args, **kwargs):  # type: ignore[override]
        _watch_connection(self)
        return super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter whose connections tell the current `Watchdog` which socket to cut."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy, **kwargs):
        manager = super().proxy_manager_for(proxy, **kwargs)
        if type(manager) is ProxyManager:  # a SOCKS manager keeps its own pools
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
