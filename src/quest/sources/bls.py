"""Mirror the BLS `pr` directory into the store: new files uploaded, changed ones replaced,
unchanged ones skipped (without a download where the source allows it), gone ones deleted.

The run has four phases so a failure never leaves a half-done state behind:
1. list the source and decide deletions; the guard refuses an implausible listing here,
   before anything is touched;
2. fetch what may have changed into a private temporary folder (bodies streamed and hashed);
3. publish: upload new and changed files atomically, refresh metadata of unchanged ones;
4. delete what the source no longer lists.
A failure in phase 2 changes nothing; one in phase 3 leaves every object whole (old or new),
and the next run completes the work.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from quest.config import Settings, validate_contact
from quest.errors import ConfigError, SourceError, SyncGuardError
from quest.sources.http import Download, HttpStats, download, make_session
from quest.sources.listing import RemoteFile, crawl
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

# The server's own `Last-Modified` header, kept for `If-Modified-Since` (the listing date is in
# SOURCE_MODIFIED: it has minute precision and no time zone, so it cannot be sent back).
SOURCE_LAST_MODIFIED = "source-last-modified"

UPLOADED, REPLACED, SKIPPED, DELETED = "uploaded", "replaced", "skipped", "deleted"


@dataclass
class SyncSummary:
    """What one BLS sync did; `files` lists every file with its action and why."""

    files_seen: int = 0
    uploaded: int = 0
    replaced: int = 0
    skipped: int = 0
    deleted: int = 0
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

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class _Fetched:
    remote: RemoteFile
    key: str
    download: Download


def _check_prefix(prefix: str) -> None:
    # An empty prefix would make every other object in the store look "gone from the source".
    if not prefix.strip("/") or not prefix.endswith("/") or prefix.startswith("/"):
        raise ConfigError(
            f"QUEST_BLS_PREFIX={prefix!r} must be a folder inside the store ending with '/', "
            "like bls/pr/"
        )


def _listing_matches(remote: RemoteFile, stored: ObjectInfo | None) -> bool:
    """The listing shows the same date and size we stored: unchanged, no request needed."""
    if stored is None or not stored.sha256 or remote.modified is None or remote.size is None:
        return False
    meta = stored.metadata
    return (
        meta.get(SOURCE_MODIFIED) == remote.modified
        and meta.get(SOURCE_SIZE) == str(remote.size)
        and stored.size == remote.size
    )


def _conditional_headers(stored: ObjectInfo | None) -> dict[str, str]:
    if stored is None or not stored.sha256:
        return {}
    headers = {}
    if etag := stored.metadata.get(SOURCE_ETAG):
        headers["If-None-Match"] = etag
    if modified := stored.metadata.get(SOURCE_LAST_MODIFIED):
        headers["If-Modified-Since"] = modified
    return headers


def _metadata(remote: RemoteFile, got: Download, stored: ObjectInfo | None) -> dict[str, str]:
    """Object metadata after a fetch; a 304 keeps the stored hashes."""
    base = dict(stored.metadata) if stored is not None else {}
    if got.status != 304:
        base.update({SHA256: got.sha256, MD5: got.md5})
    base[SOURCE_SIZE] = str(
        remote.size if remote.size is not None else got.size or base.get(SOURCE_SIZE, "")
    )
    if remote.modified:
        base[SOURCE_MODIFIED] = remote.modified
    elif got.last_modified:
        base[SOURCE_MODIFIED] = got.last_modified
    if got.etag:
        base[SOURCE_ETAG] = got.etag
    if got.last_modified:
        base[SOURCE_LAST_MODIFIED] = got.last_modified
    return {k: v for k, v in base.items() if v}


def _guard(
    settings: Settings, listing: list[RemoteFile], stored: dict[str, ObjectInfo], doomed: list[str]
) -> None:
    if not listing:
        raise SyncGuardError(
            f"{settings.bls_url} lists no files; refusing to mirror an empty directory "
            f"(that would delete all {len(stored)} stored objects). Nothing was changed. "
            "Check QUEST_BLS_URL and that the source is up."
        )
    if stored and len(doomed) > settings.max_delete_fraction * len(stored):
        raise SyncGuardError(
            f"{settings.bls_url} lists {len(listing)} files; mirroring it would delete "
            f"{len(doomed)} of {len(stored)} stored objects (more than "
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
        SourceError: a 403, or a request that kept failing after the retries.
        LockError: another sync of the same store is running.
    """
    validate_contact(settings)
    _check_prefix(settings.bls_prefix)
    started = time.monotonic()
    store = store if store is not None else open_settings_store(settings)
    session = session if session is not None else make_session(settings)
    summary, stats = SyncSummary(), HttpStats()
    try:
        with store.lock("sync-bls", settings.lock_timeout):
            _sync(settings, store, session, summary, stats)
    finally:
        summary.requests, summary.bytes_down = stats.requests, stats.bytes_down
        summary.seconds = round(time.monotonic() - started, 3)
    log.info(
        "BLS sync of %s into %s: %d seen, %d uploaded, %d replaced, %d skipped, %d deleted; "
        "%d requests, %d bytes down, %d bytes up, %.1fs",
        settings.bls_url,
        store.uri,
        summary.files_seen,
        summary.uploaded,
        summary.replaced,
        summary.skipped,
        summary.deleted,
        summary.requests,
        summary.bytes_down,
        summary.bytes_up,
        summary.seconds,
    )
    return summary


def _sync(
    settings: Settings,
    store: Store,
    session: requests.Session,
    summary: SyncSummary,
    stats: HttpStats,
) -> None:
    prefix = settings.bls_prefix
    listing = crawl(session, settings.bls_url, settings, stats)
    stored = store.list(prefix)
    keys = {prefix + remote.name for remote in listing}
    doomed = sorted(key for key in stored if key not in keys)
    _guard(settings, listing, stored, doomed)
    summary.files_seen = len(listing)

    with tempfile.TemporaryDirectory(prefix="quest-bls-") as work:
        fetched: list[_Fetched] = []
        for index, remote in enumerate(listing):
            key = prefix + remote.name
            old = stored.get(key)
            if _listing_matches(remote, old):
                summary.record(remote.name, key, SKIPPED, "listing date and size unchanged")
                continue
            got = download(
                session,
                remote.url,
                Path(work) / f"{index}.part",
                settings,
                headers=_conditional_headers(old),
                stats=stats,
            )
            fetched.append(_Fetched(remote, key, got))
        for item in fetched:
            _publish(store, item, stored.get(item.key), summary)
    for key in doomed:
        store.delete(key)
        summary.record(key[len(prefix) :], key, DELETED, "no longer listed by the source")


def _publish(store: Store, item: _Fetched, old: ObjectInfo | None, summary: SyncSummary) -> None:
    remote, key, got = item.remote, item.key, item.download
    if got.status == 304 and old is None:
        raise SourceError(f"{remote.url} answered 304 to an unconditional request; refusing it")
    metadata = _metadata(remote, got, old)
    if old is not None and (
        got.status == 304 or (old.sha256 == got.sha256 and old.size == got.size)
    ):
        reason = "not modified (304)" if got.status == 304 else "same sha256 as stored"
        if metadata != old.metadata:
            store.set_metadata(key, metadata)
        summary.record(remote.name, key, SKIPPED, reason)
        return
    store.put_file(key, str(got.path), metadata)
    summary.bytes_up += got.size
    if old is None:
        summary.record(remote.name, key, UPLOADED, "new in the source", got.size)
    else:
        summary.record(remote.name, key, REPLACED, "content changed", got.size)
