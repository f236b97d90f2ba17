"""Mirror the BLS `pr` directory into the store: new files uploaded, changed ones replaced,
unchanged ones skipped (without a download where the source allows it), gone ones deleted
once the source confirms them gone.

The run has four phases so a failure never costs a good copy:
1. list the source, map every listed name to one safe key (or refuse it), and decide deletions;
   the guard refuses an implausible listing here, before anything is touched;
2. fetch what may have changed into a private temporary folder; each body is verified whole
   (`quest.sources.transfer`) or refused, and a refused file never stops the others;
3. publish the verified bodies: upload new and changed files atomically, refresh metadata of
   unchanged ones;
4. delete what the source no longer lists, only when nothing was refused (a run that refused
   something cannot be sure what the source holds, so it leaves the deletions to a clean run),
   and only once the source says each such file is gone (404, 410, or a redirect elsewhere).
A run that refused anything ends with `IncompleteSyncError` naming each file and what was wrong.
"""

from __future__ import annotations

import bisect
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import requests

from quest.config import (
    Settings,
    validate_contact,
    validate_source_url,
    validate_store_layout,
)
from quest.errors import (
    IncompleteSyncError,
    LockError,
    SourceCutOff,
    SourceError,
    SourceUnavailable,
    StoreError,
    SyncGuardError,
)
from quest.sources.body import Download, safe_url
from quest.sources.http import HttpStats, Watchdog, http_date, make_session
from quest.sources.listing import Listing, RemoteFile, crawl, folder_url
from quest.sources.names import SHOWN_LIMIT, shown
from quest.sources.scratch import scratch_folder
from quest.sources.transfer import (
    Fetch,
    compared_path,
    download,
    sendable_date,
    sendable_etag,
)
from quest.store.base import (
    MD5,
    SHA256,
    SOURCE_ETAG,
    SOURCE_MODIFIED,
    SOURCE_SIZE,
    ObjectInfo,
    Store,
)
from quest.store.credentials import open_settings_store

log = logging.getLogger(__name__)
# The setting a BLS URL comes from, as its errors name it (`sync_bls` and `quest run` check it).
URL_SETTING = "QUEST_BLS_URL (--source-url, --bls-url)"

# The server's own `Last-Modified` header, kept for `If-Modified-Since` (the listing date is in
# SOURCE_MODIFIED: it has minute precision and no time zone, so it cannot be sent back).
SOURCE_LAST_MODIFIED = "source-last-modified"

# Files in a row whose every try failed (an outage, a source refusing this client with 429 or
# 503 after the listing): the source is taken for unavailable, and the run's other files are
# not asked, instead of each spending its retries and backoff on it.
UNAVAILABLE_IN_A_ROW = 3

# How long after a file's new listing date an answer that is still the stored copy is taken for
# a stale cache, and the file asked for again (`_confirms_listing_date`).
STALE_CACHE_WINDOW = timedelta(days=2)

# A listing date has minute precision: a file saved again within the minute its stored copy was
# fetched in lists the same date, and most often the same size (BLS's values are fixed-width).
# A body served less than this long after its own `Last-Modified` (that minute, and a margin)
# is marked with when it was asked (`SOURCE_ASKED`), and the next run asks for it again,
# conditionally, instead of skipping it by its listing; the mark goes once an answer comes this
# long after that `Last-Modified`.
SAME_MINUTE_WINDOW = timedelta(minutes=5)
SOURCE_ASKED = "source-asked-at"

UPLOADED, REPLACED, SKIPPED, DELETED, FAILED = (
    "uploaded",
    "replaced",
    "skipped",
    "deleted",
    "failed",
)
_SHOWN_FAILURES = 5


@dataclass
class SyncSummary:
    """What one BLS sync did; `files` lists every file with its action and why."""

    files_seen: int = 0
    uploaded: int = 0
    replaced: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: int = 0
    requests: int = 0
    bytes_down: int = 0
    bytes_up: int = 0
    seconds: float = 0.0
    files: list[dict[str, object]] = field(default_factory=list)

    def record(self, name: str, key: str, action: str, reason: str, size: int = 0) -> None:
        self.files.append(
            {"name": name, "key": key, "action": action, "reason": reason, "bytes": size}
        )
        setattr(self, action, getattr(self, action) + 1)

    def failures(self) -> list[str]:
        return [str(f["reason"]) for f in self.files if f["action"] == FAILED]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class _Fetched:
    remote: RemoteFile
    key: str
    download: Download
    asked_at: datetime  # when the source served it (`_served_at`)


def _listing_matches(remote: RemoteFile, stored: ObjectInfo | None) -> bool:
    """The listing shows the same date and size we stored: unchanged, no request needed."""
    if stored is None or not stored.sha256 or remote.modified is None or remote.size is None:
        return False
    meta = stored.metadata
    return (
        meta.get(SOURCE_MODIFIED) == remote.modified
        and meta.get(SOURCE_SIZE) == str(remote.size)
        and stored.size == remote.size
        and SOURCE_ASKED not in meta  # fetched within its listed minute: asked again
    )


def _asked_early(asked_at: datetime, last_modified: str | None) -> bool:
    """Whether a body served at `asked_at` may have been saved again within the minute of its
    `Last-Modified` after that (`SAME_MINUTE_WINDOW`). False when the body has no date to tell
    by (its listing date alone cannot be placed in time: it has no time zone), and for a date
    further ahead than the window (a server clock's error, which would keep the mark for good)."""
    modified = _instant(last_modified)
    return modified is not None and abs(asked_at - modified) < SAME_MINUTE_WINDOW


def _served_at(got: Download, sent_at: datetime) -> datetime:
    """When the source served `got`: its `Date`, from the clock its `Last-Modified` comes from;
    without one, `sent_at` (this machine's clock, before the request)."""
    return _instant(got.date) or sent_at


def _conditional_headers(remote: RemoteFile, stored: ObjectInfo | None) -> dict[str, str]:
    """The validators of the stored copy, to be answered 304 if it is still the source's.

    A date alone is not asked with when the listing shows an earlier date than the stored one:
    `If-Modified-Since` is answered 304 by any file no newer than the stored copy, so a file
    replaced by an older one of the same size (restored from a backup, copied keeping its date)
    would be taken for the stored body on every run. Without an ETag that body is fetched and
    compared by sha256 (so is every file once when a server's listing goes back an hour for
    daylight saving time). A stored body whose size is not the one recorded with it (a copy
    damaged in the store) is asked for whole: a 304 would keep it. So is a file the listing
    shows at another size than the stored copy's: a 304 cannot be the file then, and a server
    judging by date (a file re-issued keeping its time) would answer one to the same validators
    on every run, refused each time. Asked without validators, a 304 is refused as an answer
    to a request that asked for no comparison (`quest.sources.transfer`). A stored validator
    that no source would send (a sidecar edited by hand: a line break, a leading space, text
    outside ASCII) is left out, as a received one is: sent, `requests` refused it, and the file
    failed on every run as if the source were broken."""
    if stored is None or not stored.sha256:
        return {}
    if stored.metadata.get(SOURCE_SIZE, str(stored.size)) != str(stored.size):
        return {}
    if remote.size is not None and remote.size != stored.size:
        return {}
    headers = {}
    etag = sendable_etag(stored.metadata.get(SOURCE_ETAG))
    if etag:
        headers["If-None-Match"] = etag
    modified = sendable_date(stored.metadata.get(SOURCE_LAST_MODIFIED))
    if modified and _clock_error(modified):
        # No file is newer than a date years ahead: every answer would be a 304, for good.
        modified = ""
    if modified and (etag or not _listed_earlier(remote, stored)):
        headers["If-Modified-Since"] = modified
    return headers


def _clock_error(last_modified: str) -> bool:
    """Whether a stored `Last-Modified` is further ahead than `STALE_CACHE_WINDOW`: a server
    clock's error, which no comparison may rest on."""
    when = _instant(last_modified)
    return when is not None and when > datetime.now(UTC) + STALE_CACHE_WINDOW


def _listed_earlier(remote: RemoteFile, stored: ObjectInfo) -> bool:
    """Whether the listing shows an earlier date than the one stored (or one that cannot be
    compared with it: a stored HTTP date, from a run whose listing showed none)."""
    was = stored.metadata.get(SOURCE_MODIFIED)
    if remote.modified is None or not was or was == remote.modified:
        return False
    try:
        return datetime.fromisoformat(remote.modified) < datetime.fromisoformat(was)
    except (ValueError, TypeError):  # not a date; a date with a zone against one without
        return True


def _confirms_listing_date(remote: RemoteFile, got: Download, stored: ObjectInfo | None) -> bool:
    """Whether the answer confirms the date the listing shows for the stored body.

    A listing that shows a new date for a file whose answer is the stored body under the stored
    copy's own `Last-Modified` (a 304, or a 200 of the same bytes and date) contradicts itself.
    Shortly after that date it is most likely a cache still serving the old file: recording
    the new date would skip the file without a request on every later run, so it is recorded
    only once the date is `STALE_CACHE_WINDOW` old. A 200 of the same bytes tells the file
    saved again unchanged only by validators of its own that differ from the stored ones; one
    without them, or with the stored ones spelled another way, is taken the same way. Every
    listing date of an older file moves when the server's clock changes for daylight saving
    time (Windows lists file times with the current offset): those are recorded at once.

    A body whose own `Last-Modified` is well before the listed date (`_dated_before_listing`)
    is an older file than the one listed, whatever the stored copy: a cache serving a version
    between the stored one and the listed one, or any version to a first sync. It is stored,
    but the listed date is not recorded with it within the same window, so the next run asks
    again instead of skipping the file by its listing until it changes once more."""
    confirms_stored = got.status == 304 and stored is not None
    was = stored.metadata.get(SOURCE_MODIFIED) if stored is not None else None
    if not remote.modified or (was is not None and was == remote.modified):
        return True  # no new date to record
    if confirms_stored and _speaks_for_another_body(got, stored):
        return False
    body_date = stored.metadata.get(SOURCE_LAST_MODIFIED) if confirms_stored else got.last_modified
    if _dated_before_listing(remote, body_date):
        return _listed_long_ago(remote)
    if stored is None or not was:
        return True
    if not confirms_stored and (
        not _same_bytes(got, stored) or _speaks_for_another_body(got, stored)
    ):
        # A new body, or the stored bytes under validators of their own (the file saved again
        # unchanged): the source's. The stored bytes with the stored validators, or with none to
        # tell (no `Last-Modified`, or the same instant spelled another way), are the stored copy.
        return True
    return _listed_long_ago(remote)


def _listed_at(remote: RemoteFile) -> datetime | None:
    """The listed date read as UTC (it is the server's local time, without a zone)."""
    try:
        return datetime.fromisoformat(remote.modified or "").replace(tzinfo=UTC)
    except ValueError:
        return None


def _listed_long_ago(remote: RemoteFile) -> bool:
    """Whether the listed date is `STALE_CACHE_WINDOW` old (a date that does not parse counts
    as old): a cache serving an older file has been refreshed by then. The listing's date is
    the server's local time: the window is far wider than any offset."""
    listed = _listed_at(remote)
    return listed is None or datetime.now(UTC) - listed > STALE_CACHE_WINDOW


# How far before its listed date a body's `Last-Modified` may be and still be the listed file:
# the listed date is the server's local time (an offset of up to 14 hours), to the minute.
LISTING_OFFSET_MARGIN = timedelta(days=1)


def _dated_before_listing(remote: RemoteFile, last_modified: str | None) -> bool:
    """Whether a body's `Last-Modified` is more than `LISTING_OFFSET_MARGIN` before the date the
    listing shows for its file: the listed file is newer than the body (an IIS listing shows
    the same file time its `Last-Modified` does)."""
    listed, sent = _listed_at(remote), _instant(last_modified)
    return listed is not None and sent is not None and listed - sent > LISTING_OFFSET_MARGIN


def _speaks_for_another_body(got: Download, stored: ObjectInfo) -> bool:
    """Whether a 304 carries validators other than the stored ones it was asked with: a newer
    file's, from a server or cache that judged the request by date (or matched a weak ETag).
    It confirms nothing then, not even an old listing date: recorded beside the old body, that
    date would skip the file without a request from then on; when it is dated after the stored
    copy (`_newer_body_behind`), `_fetch_changed` asks for the whole file at once. (A weak form
    of the same ETag, `W/"x"`, is the same.)"""
    if got.etag and stored.metadata.get(SOURCE_ETAG) and not _same_etag(got, stored):
        return True
    before = stored.metadata.get(SOURCE_LAST_MODIFIED)
    if got.last_modified and before and got.last_modified != before:
        return _instant(got.last_modified) != _instant(before)
    return False


def _newer_body_behind(got: Download, stored: ObjectInfo) -> bool:
    """Whether a 304 says that whoever answered has a newer file than the stored copy: its
    `Last-Modified` is later than the stored copy's, and it does not carry the stored copy's
    strong ETag (which promises the same bytes; a weak one, `W/"x"`, only an equivalent body,
    and a server that matched one would answer the same 304 on every run). An older date is a
    stale cache's (the stored copy is kept), and the stored strong ETag under a later date is
    a server that dates its answers as it sends them."""
    sent_at = _instant(got.last_modified)
    before = _instant(stored.metadata.get(SOURCE_LAST_MODIFIED))
    if sent_at is None or before is None or not sent_at > before:
        return False
    return not _strong_same_etag(got, stored)


def _same_bytes(got: Download, stored: ObjectInfo) -> bool:
    """Whether the answer's body is the stored copy's: the same sha256 and size."""
    return (got.sha256, got.size) == (stored.sha256, stored.size)


def _strong_same_etag(got: Download, stored: ObjectInfo) -> bool:
    """Whether the answer carries the stored copy's ETag, and it is a strong one: the same
    bytes (a weak one, `W/"x"`, promises only an equivalent body)."""
    etag = stored.metadata.get(SOURCE_ETAG)
    return bool(etag and got.etag == etag and not etag.startswith("W/"))


def _instant(value: str | None) -> datetime | None:
    """An HTTP date header's value as an instant, None when it does not parse: `email.utils`
    gives one written `-0000` no zone, and HTTP dates are all UTC."""
    when = http_date(value)
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def _older_than_stored(remote: RemoteFile, got: Download, stored: ObjectInfo) -> str | None:
    """Why a new body is not published: the listing shows a later date than the stored copy's,
    but the answer's `Last-Modified` is earlier than the stored copy's (a stale cache serving an
    older file). None when nothing says so (a source that really went back to an older file
    lists an older date too)."""
    was, before = stored.metadata.get(SOURCE_MODIFIED), stored.metadata.get(SOURCE_LAST_MODIFIED)
    if got.status == 304 or not (was and before and got.last_modified and remote.modified):
        return None
    if remote.modified <= was:
        return None
    sent_at, stored_at = _instant(got.last_modified), _instant(before)
    if sent_at is None or stored_at is None:
        return None
    # A stored date far in the future is one a server clock got wrong: against it every genuine
    # update would read as older, and the file would never update again.
    if not sent_at < stored_at or _clock_error(before):
        return None
    return (
        f"{remote.name}: {safe_url(remote.url)} sent a copy last modified {got.last_modified}, "
        f"older than the stored copy's ({before}) though the listing shows a later date; the "
        "stored copy was kept. A cache is serving an old file: rerun later"
    )


def _metadata(
    remote: RemoteFile,
    got: Download,
    stored: ObjectInfo | None,
    confirmed: bool,
    asked_at: datetime,
) -> dict[str, str]:
    """Object metadata after a fetch. The validators (ETag, Last-Modified) come only from the
    answer that produced the stored body: a 304 confirms the stored ones, a 200 replaces them
    with its own (or with none), so a later conditional request can never confirm a body the
    validators do not belong to. A 304 that carries validators of its own keeps the stored ones:
    when they differ from those sent, they belong to a body this answer did not send (a newer
    file's, from a server or cache that judged the request by date), and stored beside the old
    body they would have the source confirm that body on every later run. The listing's date is
    kept only when `confirmed` (`_confirms_listing_date`); otherwise the stored one stays, and
    the next run asks again. A body `asked_at` early in its minute is marked so
    (`SOURCE_ASKED`); a 304 keeps the mark until it comes after that minute."""
    confirms_stored = got.status == 304 and stored is not None
    if confirms_stored:
        base = dict(stored.metadata)
        # A 304 that speaks for a newer file (`_speaks_for_another_body`) confirms nothing:
        # the mark stays, and the next run asks again. The stored strong ETag sent back names
        # the stored bytes whatever date comes with it (a server that dates its answers as it
        # sends them would otherwise keep the mark for good); a weak one, an equivalent body
        # only, so the mark stays.
        late = not _asked_early(asked_at, base.get(SOURCE_LAST_MODIFIED))
        confirmed_body = _strong_same_etag(got, stored) or not _speaks_for_another_body(got, stored)
        if SOURCE_ASKED in base and late and confirmed_body:
            del base[SOURCE_ASKED]
    else:
        base = {SHA256: got.sha256, MD5: got.md5}
        if got.etag:
            base[SOURCE_ETAG] = got.etag
        if got.last_modified:
            base[SOURCE_LAST_MODIFIED] = got.last_modified
        if _asked_early(asked_at, got.last_modified) and not _redated(got, stored):
            base[SOURCE_ASKED] = asked_at.astimezone(UTC).isoformat(timespec="seconds")
    if got.status != 304:
        base[SOURCE_SIZE] = str(remote.size if remote.size is not None else got.size)
    elif remote.size is not None:
        base[SOURCE_SIZE] = str(remote.size)
    if remote.modified:
        kept = stored.metadata.get(SOURCE_MODIFIED) if stored is not None else None
        base[SOURCE_MODIFIED] = remote.modified if confirmed else kept
    elif got.last_modified and not confirms_stored:
        # A 304's own date is not the stored body's (see above): the stored one stays.
        base[SOURCE_MODIFIED] = got.last_modified
    return {k: v for k, v in base.items() if v}


def _same_etag(got: Download, stored: ObjectInfo) -> bool:
    """Whether the answer carries the stored copy's ETag (`W/"x"` and `"x"` alike)."""
    sent = stored.metadata.get(SOURCE_ETAG)
    return bool(got.etag and sent and got.etag.removeprefix("W/") == sent.removeprefix("W/"))


# How close an answer's `Last-Modified` and `Date` are for the server to have dated the body as
# it sent it (`_redated`).
_DATED_AS_SENT = timedelta(seconds=2)


def _redated(got: Download, stored: ObjectInfo | None) -> bool:
    """Whether `got` is the marked stored body (`SOURCE_ASKED`) sent again by a server that
    dates its answers as it sends them: the same bytes, a `Last-Modified` another instant than
    the stored one and within `_DATED_AS_SENT` of the answer's `Date`. Such a server would keep
    the mark, and a download, on every run. The same bytes saved again at the source, dated
    before the answer, keep it: a third save in that minute may follow."""
    if stored is None or SOURCE_ASKED not in stored.metadata:
        return False
    if not _same_bytes(got, stored):
        return False
    dated = _instant(got.last_modified)
    before = _instant(stored.metadata.get(SOURCE_LAST_MODIFIED))
    sent = _instant(got.date)
    if dated is None or sent is None or dated == before:
        return False
    return abs(sent - dated) <= _DATED_AS_SENT


# How the reason of a listed name QUEST_BLS_EXCLUDE leaves out begins (the task's line names them).
EXCLUDED = "excluded by QUEST_BLS_EXCLUDE"


def excluding_pattern(settings: Settings, name: str) -> str | None:
    """The first QUEST_BLS_EXCLUDE pattern that matches `name` (relative to the BLS URL, as the
    summary names it: `pr.txt`, `sub/pr.x`; `*` crosses `/`, case counts), or None. A name
    is also matched as an error shows it (`quest.sources.names.shown`: escaped, and past 80
    characters cut short with `...`), without the quotes, so that it can be copied from there."""
    if not settings.bls_exclude:  # (asked of every stored key on every run)
        return None
    escaped = _unquoted(shown(name, limit=len(name)))
    return _matching(settings, name, escaped, _unquoted(shown(name)))


def _matching(settings: Settings, *names: str) -> str | None:
    return next((p for p in settings.bls_exclude if any(fnmatchcase(n, p) for n in names)), None)


def _unquoted(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text


def _without_excluded(settings: Settings, listing: Listing, summary: SyncSummary) -> Listing:
    """`listing` without the names QUEST_BLS_EXCLUDE matches, each recorded as skipped: such a
    name is never fetched, and a name the store could not hold no longer fails the run."""
    if not settings.bls_exclude:
        return listing
    left = Listing()
    for remote in listing.files:
        if (pattern := excluding_pattern(settings, remote.name)) is None:
            left.files.append(remote)
        else:
            reason = f"{EXCLUDED} ({pattern!r}): not fetched; a stored copy is left as it is"
            # (named as its error would name it when it is long or unprintable)
            plain = remote.name.isprintable() and len(remote.name) <= SHOWN_LIMIT
            name = remote.name if plain else shown(remote.name)
            summary.record(name, settings.bls_prefix + remote.name, SKIPPED, reason)
    for refused in listing.refused:
        # Refused names are kept as shown (`quest.sources.names.shown`): matched without quotes.
        if (pattern := _matching(settings, _unquoted(refused.name))) is None:
            left.refused.append(refused)
        else:
            reason = f"{EXCLUDED} ({pattern!r}); the listed name {refused.reason}"
            summary.record(refused.name, "", SKIPPED, reason)
    return left


def _guard(
    settings: Settings,
    listing: Listing,
    stored: dict[str, ObjectInfo],
    doomed: list[str],
) -> None:
    if not listing.files and not listing.refused:
        left = " that QUEST_BLS_EXCLUDE leaves in" if settings.bls_exclude else ""
        raise SyncGuardError(
            f"{safe_url(settings.bls_url)} lists no files{left}; refusing to mirror an empty "
            f"directory (that would delete all {len(stored)} stored objects). Nothing was changed. "
            "Check QUEST_BLS_URL and that the source is up."
        )
    if stored and len(doomed) > settings.max_delete_fraction * len(stored):
        raise SyncGuardError(
            f"{safe_url(settings.bls_url)} lists {len(listing.files)} files; mirroring it would "
            f"delete {len(doomed)} of {len(stored)} stored objects (more than "
            f"QUEST_MAX_DELETE_FRACTION={settings.max_delete_fraction}). Nothing was changed. "
            "If the source really shrank, raise QUEST_MAX_DELETE_FRACTION for one run."
        )


def sync_bls(
    settings: Settings, store: Store | None = None, session: requests.Session | None = None
) -> SyncSummary:
    """Mirror `settings.bls_url` into `store` under `settings.bls_prefix`.

    Returns:
        The run summary (also logged).

    Raises:
        ConfigError: QUEST_CONTACT missing, before any request.
        SyncGuardError: an empty listing, or one that would delete too much; nothing changed.
        SourceError: a listing that cannot be fetched or is refused; nothing changed.
        IncompleteSyncError: some files were refused or could not be fetched (each named); the
            others were synced, the stored copies of the failed ones kept, nothing deleted.
        StoreError: the store could not be read or written.
        LockError: another sync of the same store is running.
    """
    validate_contact(settings)
    validate_source_url(settings.bls_url, URL_SETTING)
    validate_store_layout(settings)
    started = time.monotonic()
    store = store if store is not None else open_settings_store(settings)
    session = session if session is not None else make_session(settings)
    summary, stats = SyncSummary(), HttpStats()
    try:
        with store.lock("sync-bls", settings.lock_timeout):
            if cleaned := store.clean_temp(settings.bls_prefix):
                log.info("removed %d temporary file(s) a killed run left in the store", cleaned)
            _sync(settings, store, session, summary, stats)
    except (StoreError, LockError):
        _say_what_was_done(summary)
        raise
    finally:
        summary.requests, summary.bytes_down = stats.requests, stats.bytes_down
        summary.seconds = round(time.monotonic() - started, 3)
    log.info(
        "BLS sync of %s into %s: %d seen, %d uploaded, %d replaced, %d skipped, %d deleted, "
        "%d failed; %d requests, %d bytes down, %d bytes up, %.1fs",
        safe_url(settings.bls_url),
        store.uri,
        summary.files_seen,
        summary.uploaded,
        summary.replaced,
        summary.skipped,
        summary.deleted,
        summary.failed,
        summary.requests,
        summary.bytes_down,
        summary.bytes_up,
        summary.seconds,
    )
    if summary.failed:
        raise IncompleteSyncError(_incomplete_message(summary), summary)
    return summary


def _say_what_was_done(summary: SyncSummary) -> None:
    """Before a store error ends the run: what it already changed in the store, which its error
    (about one key) does not say and no summary will."""
    done = [f"{f['name']} {f['action']}" for f in summary.files if f["action"] in _CHANGES]
    if done:
        log.warning(
            "the BLS sync stopped on a store error after changing %d file(s) in the store: %s",
            len(done),
            ", ".join(done),
        )


_CHANGES = (UPLOADED, REPLACED, DELETED)


def _incomplete_message(summary: SyncSummary) -> str:
    failures = [reason.rstrip(". ") for reason in summary.failures()]
    shown_ = "; ".join(failures[:_SHOWN_FAILURES])
    more = len(failures) - _SHOWN_FAILURES
    rest = f"; and {more} more (see the summary's files)" if more > 0 else ""
    return (
        f"{len(failures)} of {summary.files_seen} listed files were not synced: {shown_}{rest}. "
        "The other files were synced; the stored copy of each failed file was kept and nothing "
        "was deleted. Rerun once the source serves them whole (where a reason names a setting, "
        "change it first)."
    ).replace("\n", " ")


def _sync(
    settings: Settings,
    store: Store,
    session: requests.Session,
    summary: SyncSummary,
    stats: HttpStats,
) -> None:
    prefix = settings.bls_prefix
    listing = crawl(session, settings.bls_url, settings, stats)
    summary.files_seen = len(listing.files) + len(listing.refused)
    listing = _without_excluded(settings, listing, summary)
    for refused in listing.refused:
        summary.record(
            refused.name, "", FAILED, f"{refused.name}: the listed name {refused.reason}"
        )
    wanted: list[RemoteFile] = []
    for remote in listing.files:
        problem = store.key_problem(prefix + remote.name)
        if problem is None:
            wanted.append(remote)
        else:
            name = shown(remote.name)
            summary.record(name, "", FAILED, f"{name}: cannot be stored: {problem}")
    # A stored copy of an excluded name is not the sync's to delete.
    stored = {
        key: info
        for key, info in store.list(prefix).items()
        if excluding_pattern(settings, key[len(prefix) :]) is None
    }
    keys = {prefix + remote.name for remote in wanted}
    doomed = sorted(key for key in stored if key not in keys)
    if not summary.failed:  # a run that refused a name deletes nothing: nothing to guard
        _guard(settings, listing, stored, doomed)

    with scratch_folder("bls") as work:
        fetched = _fetch_changed(
            settings, session, stats, summary, wanted=wanted, stored=stored, work=Path(work)
        )
        may_delete = not summary.failed
        for item in fetched:
            _publish(store, item, stored.get(item.key), doomed, may_delete, summary)
    if not summary.failed:
        _delete_gone(settings, store, session, stats, summary, doomed)


def _fetch_changed(
    settings: Settings,
    session: requests.Session,
    stats: HttpStats,
    summary: SyncSummary,
    *,
    wanted: list[RemoteFile],
    stored: dict[str, ObjectInfo],
    work: Path,
) -> list[_Fetched]:
    """Download into `work` each wanted file its listing does not show unchanged, checked
    against the listing and the stored copy; a file refused is recorded as failed. After
    `UNAVAILABLE_IN_A_ROW` files in a row failed every try, the others are not asked."""
    fetched: list[_Fetched] = []
    unavailable: list[str] = []  # the files failed in a row, every try of each
    for index, remote in enumerate(wanted):
        key = settings.bls_prefix + remote.name
        old = stored.get(key)
        if _listing_matches(remote, old):
            summary.record(remote.name, key, SKIPPED, "listing date and size unchanged")
            continue
        if len(unavailable) >= UNAVAILABLE_IN_A_ROW:
            summary.record(remote.name, key, FAILED, _not_asked(remote.name, unavailable))
            continue
        fetch = Fetch(
            remote.url,
            remote.name,
            dest=work / f"{index}.part",
            headers=_conditional_headers(remote, old),
            expected_size=remote.size,
            same_path=True,
            listed=True,
        )
        asked_at = datetime.now(UTC)
        try:
            got = download(session, fetch, settings, stats)
            if got.status == 304 and old is not None and _newer_body_behind(got, old):
                got, asked_at = _asked_whole(session, stats, settings, fetch, (got, asked_at), old)
            _check_answer(remote, got, old)
        except SourceError as exc:
            summary.record(remote.name, key, FAILED, str(exc))
            unavailable = [*unavailable, remote.name] if _unavailable(exc) else []
            continue
        unavailable = []
        fetched.append(_Fetched(remote, key, got, _served_at(got, asked_at)))
    return fetched


def _asked_whole(
    session: requests.Session,
    stats: HttpStats,
    settings: Settings,
    fetch: Fetch,
    answered: tuple[Download, datetime],
    old: ObjectInfo,
) -> tuple[Download, datetime]:
    """After a 304 dated after the stored copy (`_newer_body_behind`: whoever answered has a
    newer file), the whole body asked without validators (it is compared by sha256), and when.
    A body not dated after the stored copy (no later, or without a date) may be another cache's
    older copy: the 304 stands, the stored copy is kept, and, as for any 304 that speaks for
    another body, no new listing date is recorded and no mark is dropped, so the next run asks
    again."""
    log.info(
        "%s: a 304 dated after the stored copy; asked again for the whole file", shown(fetch.name)
    )
    asked_at = datetime.now(UTC)
    again = download(session, replace(fetch, headers={}), settings, stats)
    sent_at = _instant(again.last_modified)
    before = _instant(old.metadata.get(SOURCE_LAST_MODIFIED))
    if not _same_bytes(again, old) and (sent_at is None or before is None or sent_at <= before):
        log.warning(
            "%s: asked again after a 304 dated after the stored copy, %s sent a copy last "
            "modified %s, not after the stored copy's (%s); the stored copy was kept",
            shown(fetch.name),
            safe_url(fetch.url),
            again.last_modified or "(no date)",
            old.metadata.get(SOURCE_LAST_MODIFIED),
        )
        return answered
    return again, asked_at


def _unavailable(exc: SourceError) -> bool:
    """Whether a file failed for want of any answer from the source (every try failed, or its
    host has no address), not for what the source answered, nor for one slow answer cut off
    (`SourceCutOff`: a big file on a slow line says nothing of the next one)."""
    return isinstance(exc, SourceUnavailable) and not isinstance(exc, SourceCutOff)


def _not_asked(name: str, unavailable: list[str]) -> str:
    return (
        f"{name}: not asked: the {len(unavailable)} files asked before it "
        f"({', '.join(shown(n) for n in unavailable[:UNAVAILABLE_IN_A_ROW])}) each failed for "
        "want of an answer, so the source looks unavailable; nothing was stored from it. Rerun "
        "later"
    )


def _delete_gone(
    settings: Settings,
    store: Store,
    session: requests.Session,
    stats: HttpStats,
    summary: SyncSummary,
    doomed: list[str],
) -> None:
    """Delete each stored file the listing no longer names once the source confirms it gone."""
    prefix = settings.bls_prefix
    for key in doomed:
        name = key[len(prefix) :]
        gone, why = _still_served(session, settings, stats, name)
        if not gone:
            log.warning("%s: %s", shown(name), why)
            summary.record(name, key, SKIPPED, why)
            continue
        store.delete(key)
        summary.record(
            name, key, DELETED, f"no longer listed by the source, and gone from it ({why})"
        )


def _file_url(settings: Settings, name: str) -> str:
    """The URL a stored file's name was fetched from: under the listing's folder, its segments
    in their canonical percent-encoding (`quest.sources.names`)."""
    parts = urlsplit(folder_url(settings.bls_url))
    return urlunsplit(parts._replace(path=parts.path + quote(name, safe="/"), query=""))


# How the reason of a stored file kept though no longer listed begins (the task's line counts them).
KEPT_UNLISTED = "no longer listed by the source, but"


def _still_served(
    session: requests.Session, settings: Settings, stats: HttpStats, name: str
) -> tuple[bool, str]:
    """Whether a stored file the listing no longer names is gone from the source, and why. Gone:
    a 404 or 410, or a redirect away from the file (`_redirected_away`: an IIS custom error
    page, a file turned into a folder), which serves something else under its name. Kept: the
    source still serves it, or did not say it is gone (a listing that left it out though whole,
    a sub-folder answered by a page that looks like its listing, a refusal or an outage).

    A HEAD, or where the server refuses HEAD (405, 501) a GET whose body is not read; each
    bounded like a download (`QUEST_HTTP_TIMEOUT`, `QUEST_HTTP_DEADLINE`)."""
    url = ""
    try:
        url = _file_url(settings, name)
        with Watchdog(settings):
            stats.requests += 1
            answer = session.head(url, timeout=settings.http_timeout, allow_redirects=False)
            if answer.status_code in (405, 501):
                stats.requests += 1
                with session.get(
                    url, timeout=settings.http_timeout, allow_redirects=False, stream=True
                ) as answer:
                    pass
        status = answer.status_code
        away = _redirected_away(url, answer) if answer.is_redirect else ""
    except (requests.RequestException, ValueError) as exc:  # a bad Location, a bad name
        return False, (
            f"{KEPT_UNLISTED} asking {safe_url(url) or 'it'} whether the "
            f"file is gone failed ({type(exc).__name__}): kept, asked again on the next run"
        )
    if status in (404, 410):
        return True, f"it answers {status}"
    if away:
        return True, f"it answers {status}, a redirect to {shown(safe_url(away))}"
    why = (
        "a listing that left it out"
        if 200 <= status < 300
        else "not a sign it is gone: asked again on the next run"
    )
    return False, (
        f"{KEPT_UNLISTED} {safe_url(url)} still answers {status}: kept "
        f"until it answers 404 or 410, or redirects away ({why})"
    )


def _redirected_away(url: str, answer: requests.Response) -> str:
    """Where a redirect sends the file's URL if away from the file ("" if not): to another path
    of the same server (an IIS custom error page, a file turned into a folder), or for good (301,
    308) to anywhere else. Paths are compared in their canonical spelling, as downloads judge
    redirects (`%2b` is `%2B`); a redirect that only changes the query is the file still served,
    and a temporary one to another server (a maintenance or sign-in page) says nothing of the
    file."""
    where = urljoin(url, answer.headers.get("Location", ""))
    here, target = urlsplit(url), urlsplit(where)
    if compared_path(target.path) == compared_path(here.path):
        return ""
    return where if target.hostname == here.hostname or answer.status_code in (301, 308) else ""


def _check_answer(remote: RemoteFile, got: Download, old: ObjectInfo | None) -> None:
    """Every check of an answer against the listing and the stored copy, made before anything
    is published: a run that refuses a file deletes nothing, not even a stored file in the way
    of one that became a folder (before, a stale copy was refused while publishing, after such
    a deletion, and the run still said nothing was deleted)."""
    _check_not_a_page(remote, got)
    stale = None if old is None or _same_body(got, old) else _older_than_stored(remote, got, old)
    if stale:
        raise SourceError(stale)


def _check_not_a_page(remote: RemoteFile, got: Download) -> None:
    """A file the listing shows without a size has nothing to check its body against: an HTML
    page answered for it (an error or login page sent with a 200) is refused, unless the file
    is named as a page itself."""
    if remote.size is not None or got.status == 304 or "html" not in got.content_type.lower():
        return
    if remote.name.lower().endswith((".htm", ".html")):
        return
    raise SourceError(
        f"{remote.name}: {safe_url(remote.url)} answered an HTML page (Content-Type "
        f"{got.content_type[:60]!r}) for a file the listing shows without a size: an error "
        "page, not the file; nothing was stored from it. Rerun later; if it persists, check "
        "QUEST_BLS_URL and the listing's format"
    )


def _in_the_way(key: str, doomed: list[str]) -> list[str]:
    """Doomed keys that block `key`: a file where one of its folders goes, or files inside a
    folder where it goes (a source turned a file into a folder, or back)."""
    parts = key.split("/")
    ancestors = {"/".join(parts[:depth]) for depth in range(1, len(parts))}
    blocking = [k for k in ancestors if _contains(doomed, k)]
    start = bisect.bisect_left(doomed, key + "/")
    end = bisect.bisect_left(doomed, key + "0")  # '0' sorts right after '/'
    return sorted(blocking + doomed[start:end])


def _contains(ordered: list[str], key: str) -> bool:
    at = bisect.bisect_left(ordered, key)
    return at < len(ordered) and ordered[at] == key


def _same_body(got: Download, old: ObjectInfo) -> bool:
    """Whether the answer is the stored body: a 304, or the same sha256 and size."""
    return got.status == 304 or (old.sha256 == got.sha256 and old.size == got.size)


def _publish(
    store: Store,
    item: _Fetched,
    old: ObjectInfo | None,
    doomed: list[str],
    may_delete: bool,
    summary: SyncSummary,
) -> None:
    remote, key, got = item.remote, item.key, item.download
    confirmed = _confirms_listing_date(remote, got, old)
    metadata = _metadata(remote, got, old, confirmed, item.asked_at)
    if old is not None and _same_body(got, old):
        reason = "not modified (304)" if got.status == 304 else "same sha256 as stored"
        if not confirmed:
            reason += (
                f", though the listing shows a new date ({remote.modified}); the answer is the "
                "stored copy's (a stale cache?): asked again on the next run"
            )
            log.warning("%s: %s", remote.name, reason)
        if metadata != old.metadata:
            store.set_metadata(key, metadata)
        summary.record(remote.name, key, SKIPPED, reason)
        return
    blocking = _in_the_way(key, doomed) if old is None else []
    if blocking and not may_delete:
        summary.record(
            remote.name,
            key,
            FAILED,
            f"{remote.name}: replaces {len(blocking)} stored file(s) of another shape (a file "
            "became a folder, or back), and this run deletes nothing because other files "
            "failed; it is published by the next clean run",
        )
        return
    prefix = key[: len(key) - len(remote.name)]
    deleted: list[str] = []
    try:
        for gone in blocking:
            store.delete(gone)
            deleted.append(name := gone[len(prefix) :])
            doomed.remove(gone)
            summary.record(
                name,
                gone,
                DELETED,
                f"in the way of {remote.name}: the source turned a file into a folder, or back",
            )
        store.put_file(key, str(got.path), metadata)
    except (StoreError, LockError) as exc:
        if not deleted:
            raise
        # The store's own message speaks of one key alone: say what this run already removed.
        raise type(exc)(
            f"{exc}; before it, the run deleted the stored file(s) in the way of {remote.name}, "
            f"which the listing no longer has ({', '.join(deleted)}): a later run that can write "
            f"publishes {remote.name}"
        ) from None
    summary.bytes_up += got.size
    reason = "new in the source" if old is None else "content changed"
    if not confirmed:
        reason += (
            f", though last modified {got.last_modified}, well before the date the listing "
            f"shows ({remote.modified}): an older file than listed (a stale cache?), asked "
            "again on the next run"
        )
        log.warning("%s: %s", remote.name, reason)
    summary.record(remote.name, key, UPLOADED if old is None else REPLACED, reason, got.size)
