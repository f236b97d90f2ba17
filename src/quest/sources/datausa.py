"""US national population from DataUSA: fetched, validated, stored only when its content changed.

Only a plausible national answer replaces the stored one (`quest.sources.population`): it must
cover the years the analysis needs (QUEST_START_YEAR to QUEST_END_YEAR) and keep every year the
stored copy has (unless QUEST_DATAUSA_ALLOW_DROPPED_YEARS). The API's key order varies between
calls, so "changed" compares a hash of the canonical JSON, never the raw bytes; the raw body is
what gets stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import requests

from quest.config import Settings, validate_source_url, validate_store_layout
from quest.errors import LockError, QuestError, SourceError
from quest.sources.body import Download, Limit, safe_url
from quest.sources.http import HttpStats, make_session
from quest.sources.population import (
    PopulationRecord,
    check_years,
    decode_answer,
    one_year_estimates,
    parse_population,
)
from quest.sources.transfer import Fetch, download
from quest.store.base import (
    CONTENT_SHA256,
    MD5,
    SHA256,
    SOURCE_ETAG,
    SOURCE_MODIFIED,
    SOURCE_SIZE,
    ObjectInfo,
    Store,
    folder_of,
    read_up_to,
)
from quest.store.credentials import open_settings_store

log = logging.getLogger(__name__)
# The setting the DataUSA URL comes from, as its errors name it (`sync_datausa`, `quest run`).
URL_SETTING = "QUEST_DATAUSA_URL (--source-url, --datausa-url)"

# A national population answer is a few kB; anything this big is not one.
MAX_ANSWER_BYTES = 4 << 20
# Beside the population, a new small file for each change: a trigger on new files (Databricks'
# file arrival) never fires on a file overwritten under its own name.
ARRIVALS = "arrivals/"

__all__ = ["DataUsaSummary", "PopulationRecord", "parse_population", "sync_datausa"]


@dataclass
class DataUsaSummary:
    """What one DataUSA sync did."""

    changed: bool = False
    records: int = 0
    years: list[int] = field(default_factory=list)
    bytes_down: int = 0
    bytes_up: int = 0
    requests: int = 0
    seconds: float = 0.0
    key: str = ""
    arrival: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _canonical_text(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_sha256(payload: object) -> str:
    """A hash of the content that ignores key order, spacing and the order of the records
    (the legacy API lists years newest first, tesseract oldest first, and neither promises it)."""
    if isinstance(payload, dict) and isinstance(payload.get("data"), list):
        payload = {**payload, "data": sorted(payload["data"], key=_canonical_text)}
    elif isinstance(payload, list):
        payload = sorted(payload, key=_canonical_text)
    return _ordered_sha256(payload)


def _ordered_sha256(payload: object) -> str:
    """The hash an older quest kept, in which the records' order counted: a stored copy that
    carries it is not rewritten for want of the new one."""
    return hashlib.sha256(_canonical_text(payload).encode("utf-8")).hexdigest()


def arrivals_folder(key: str) -> str:
    """Where each change of the population stored at `key` is announced (`_announce`)."""
    return folder_of(key) + ARRIVALS


# Metadata of the stored population: the name of the arrival file announcing it.
ARRIVAL = "arrival"


def _arrival_name(content: str) -> str:
    """A name no earlier change had: the UTC time, then the content's sha256 (12 digits)."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{content[:12]}.json"


def _stored_at(name: str) -> datetime:
    """When the population an arrival file announces was stored: the time its name starts
    with (a file written late says when the population was stored, not when it was written)."""
    return datetime.strptime(name.split("-", 1)[0], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)


def _unannounced(store: Store, key: str, stored) -> str:
    """The arrival file named in the stored population's metadata when it is not in the store
    (a run stopped between the two, or could not write it); "" when it is there, or when the
    population was stored before quest named its arrival file."""
    name = stored.metadata.get(ARRIVAL, "")
    if not name:
        return ""
    try:
        return "" if store.head(arrivals_folder(key) + name) is not None else name
    except LockError:
        raise
    except QuestError as exc:
        log.warning("could not check that the population's arrival file %s exists (%s)", name, exc)
        return ""


def _announce(
    store: Store, key: str, sha256: str, content: str, years: list[int], name: str
) -> str:
    """The arrival file `name`, naming the population stored at `key`: the store's change log,
    and what a trigger on new files (`quest_reports`) sees. The population is stored already
    (its metadata names this file) and the run loads it either way, so a failure here is a
    warning, not a failed sync; the next run writes it then. Returns its key ("" when it could
    not be written)."""
    arrival = arrivals_folder(key) + name
    body = json.dumps(
        {
            "key": key,
            "sha256": sha256,
            "content_sha256": content,
            "years": years,
            "stored_at": _stored_at(name).isoformat(timespec="seconds"),
        },
        indent=1,
    ).encode()
    try:
        store.put_bytes(arrival, body, {SHA256: hashlib.sha256(body).hexdigest()})
    except LockError:
        raise
    except QuestError as exc:
        log.warning("the population was stored, but its arrival file %s was not (%s)", arrival, exc)
        return ""
    return arrival


def _stored_years(store: Store, key: str, stored: ObjectInfo | None) -> list[int] | None:
    """The years of the stored copy (`stored`, its head); [] when there is none, None when it no
    longer parses (damaged in the store: the new answer replaces it, whatever its recorded hash
    says; the store keeps only what passed these checks)."""
    if stored is None:
        return []
    with store.open(key) as handle:
        body = read_up_to(handle, MAX_ANSWER_BYTES + 1)
    try:
        return [r.year for r in parse_population(decode_answer(body, key), key)]
    except SourceError as exc:
        log.warning("the stored population %s does not parse (%s); it is replaced", key, exc)
        return None


def _store_answer(
    store: Store, summary: DataUsaSummary, got: Download, body: bytes, content: str
) -> None:
    """Store the answer at `summary.key` with its hashes and validators, and announce it."""
    metadata = {
        SHA256: got.sha256,
        MD5: got.md5,
        CONTENT_SHA256: content,
        SOURCE_SIZE: str(len(body)),
        SOURCE_ETAG: got.etag,
        SOURCE_MODIFIED: got.last_modified,
        ARRIVAL: _arrival_name(content),
    }
    store.put_bytes(summary.key, body, {k: v for k, v in metadata.items() if v})
    summary.changed, summary.bytes_up = True, len(body)
    summary.arrival = _announce(
        store, summary.key, got.sha256, content, summary.years, metadata[ARRIVAL]
    )


def sync_datausa(
    settings: Settings, store: Store | None = None, session: requests.Session | None = None
) -> DataUsaSummary:
    """Fetch `settings.datausa_url`, validate it, and store it at `settings.datausa_key` when its
    content changed.

    Raises:
        SourceError: an error status, a body that is not JSON, records that fail validation, or
            years missing; the stored copy is kept.
        SourceUnavailable: the source did not answer within the retries or the bounds.
        LockError: another DataUSA sync of the same store is running.
    """
    validate_source_url(settings.datausa_url, URL_SETTING)
    validate_store_layout(settings)
    started = time.monotonic()
    store = store if store is not None else open_settings_store(settings)
    session = session if session is not None else make_session(settings, require_contact=False)
    url, key = settings.datausa_url, settings.datausa_key
    where = safe_url(url)
    summary, stats = DataUsaSummary(key=key), HttpStats()
    try:
        with store.lock("sync-datausa", settings.lock_timeout):
            if folder := folder_of(key):
                store.clean_temp(folder)
            limit = Limit(
                MAX_ANSWER_BYTES,
                f"the {MAX_ANSWER_BYTES} bytes a national population answer may take",
                "check that QUEST_DATAUSA_URL asks for drilldowns=Year,Nation",
            )
            got = download(session, Fetch(url, "DataUSA population", limit=limit), settings, stats)
            body = got.body or b""
            payload = decode_answer(body, where, got.content_type)
            try:
                records = parse_population(payload, where)
            except SourceError as exc:
                raise SourceError(
                    f"{exc}; nothing was stored from it. Check that QUEST_DATAUSA_URL asks for "
                    "national population (drilldowns=Year,Nation), or rerun later"
                ) from None
            summary.records, summary.years = len(records), [r.year for r in records]
            if got.url and got.url != url:
                log.warning("%s answered from %s (a redirect)", where, safe_url(got.url))
            stored = store.head(key)
            stored_years = _stored_years(store, key, stored)
            check_years(
                summary.years,
                range(settings.start_year, settings.end_year + 1),
                stored_years or [],
                settings.datausa_allow_dropped_years,
                where,
                one_year_estimates(url),
            )
            content = canonical_sha256(payload)
            same = {content, _ordered_sha256(payload)}
            # A stored copy that no longer parses (`None`): its recorded hash is not its bytes'.
            if (
                stored is None
                or stored_years is None
                or stored.metadata.get(CONTENT_SHA256) not in same
            ):
                _store_answer(store, summary, got, body, content)
            elif name := _unannounced(store, key, stored):
                # A run stopped between storing this content and announcing it, or could not
                # write the arrival file: no later run would, and no trigger would ever start.
                log.warning("the population stored at %s was never announced; announcing it", key)
                sha256 = stored.sha256 or got.sha256
                summary.arrival = _announce(store, key, sha256, content, summary.years, name)
    finally:
        summary.requests, summary.bytes_down = stats.requests, stats.bytes_down
        summary.seconds = round(time.monotonic() - started, 3)
    log.info(
        "DataUSA sync of %s into %s: %s, %d records (%s), %d bytes down, %d up, %.1fs",
        where,
        store.uri,
        "stored" if summary.changed else "unchanged",
        summary.records,
        f"{summary.years[0]}-{summary.years[-1]}" if summary.years else "none",
        summary.bytes_down,
        summary.bytes_up,
        summary.seconds,
    )
    return summary
