"""US national population from DataUSA: fetched, validated, stored only when its content changed.

Two answer shapes are accepted: the tesseract API's (`Year` an int, `Population` a float) and the
older `datausa.io/api/data` one (`ID Year` an int, `Year` a string, `Population` an int). The
API's key order varies between calls, so "changed" compares a hash of the canonical JSON, never
the raw bytes; the raw body is what gets stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from quest.config import Settings
from quest.errors import SourceError
from quest.sources.http import HttpStats, download, make_session
from quest.store.base import (
    CONTENT_SHA256,
    MD5,
    SHA256,
    SOURCE_ETAG,
    SOURCE_MODIFIED,
    SOURCE_SIZE,
    Store,
)
from quest.store.credentials import open_settings_store

log = logging.getLogger(__name__)

MAX_BODY = 64 << 20  # a national population answer is a few kB; anything huge is not it
_NATION_FIELDS = ("Nation", "Nation ID", "ID Nation")
_SUB_NATIONAL = ("State", "State ID", "ID State", "County", "Place", "Geography")


@dataclass(frozen=True)
class PopulationRecord:
    year: int
    population: int


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

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _whole_number(value: object, where: str, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SourceError(f"{where}: {field_name} is {value!r}, not a number")
    if isinstance(value, float) and not value.is_integer():
        raise SourceError(f"{where}: {field_name} is {value!r}, not a whole number")
    return int(value)


def _year(record: dict, where: str) -> int:
    name = "ID Year" if "ID Year" in record else "Year"
    if name not in record or record[name] in (None, ""):
        raise SourceError(f"{where}: field 'Year' is missing")
    value = record[name]
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    year = _whole_number(value, where, f"field {name!r}")
    if not 1800 <= year <= 2200:
        raise SourceError(f"{where}: field {name!r} is {year}, not a plausible year")
    return year


def _population(record: dict, where: str) -> int:
    if record.get("Population") is None:
        raise SourceError(f"{where}: field 'Population' is missing")
    population = _whole_number(record["Population"], where, "field 'Population'")
    if population <= 0:
        raise SourceError(f"{where}: field 'Population' is {population}, must be positive")
    return population


def parse_population(payload: object, where: str) -> list[PopulationRecord]:
    """National population records, sorted by year, from either DataUSA answer shape.

    Args:
        payload: the decoded JSON answer (a dict with `data`, or the bare list of records).
        where: the URL or file it came from, for error messages.

    Raises:
        SourceError: naming the record index and field for anything that is not one positive,
            whole national population per year.
    """
    if isinstance(payload, dict):
        if "data" not in payload:
            raise SourceError(f"{where}: the answer has no 'data' field (keys: {sorted(payload)})")
        data = payload["data"]
    elif isinstance(payload, list):
        data = payload
    else:
        raise SourceError(f"{where}: expected a JSON object or list, got {type(payload).__name__}")
    if not isinstance(data, list):
        raise SourceError(f"{where}: 'data' is a {type(data).__name__}, not a list of records")
    if not data:
        raise SourceError(f"{where}: 'data' is empty; refusing to replace the stored population")
    records: dict[int, PopulationRecord] = {}
    for index, record in enumerate(data):
        at = f"{where}: record {index}"
        if not isinstance(record, dict):
            raise SourceError(f"{at} is a {type(record).__name__}, not an object")
        sub = next((name for name in _SUB_NATIONAL if name in record), None)
        if sub is not None:
            raise SourceError(
                f"{at} has a {sub!r} field: a {sub}-level answer, not national population "
                "(the URL must ask for drilldowns=Year,Nation)"
            )
        if not any(name in record for name in _NATION_FIELDS):
            raise SourceError(f"{at}: field 'Nation' is missing, so it is not national population")
        year = _year(record, at)
        if year in records:
            raise SourceError(f"{at}: field 'Year' {year} appears twice")
        records[year] = PopulationRecord(year, _population(record, at))
    return [records[year] for year in sorted(records)]


def canonical_sha256(payload: object) -> str:
    """A hash of the content that ignores key order and spacing."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _fetch(session: requests.Session, url: str, settings: Settings, stats: HttpStats):
    """The answer's body and headers; a body that breaks off is fetched again (see `download`)."""

    def too_big(chunk: bytes) -> None:
        if stats.bytes_down > MAX_BODY:
            raise SourceError(f"{url}: the answer exceeds {MAX_BODY} bytes; not a population")

    with tempfile.TemporaryDirectory(prefix="quest-datausa-") as work:
        got = download(session, url, Path(work) / "answer", settings, stats=stats, on_chunk=too_big)
        return got.path.read_bytes(), got


def _decode(body: bytes, url: str, content_type: str) -> object:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        start = body[:60].decode("utf-8", "replace").strip()
        raise SourceError(
            f"{url}: the answer is not JSON (Content-Type {content_type!r}, starts {start!r}); "
            "the stored copy was kept"
        ) from None


def sync_datausa(
    settings: Settings, store: Store | None = None, session: requests.Session | None = None
) -> DataUsaSummary:
    """Fetch `settings.datausa_url`, validate it, and store it at `settings.datausa_key` when its
    content changed.

    Raises:
        SourceError: an error status, a body that is not JSON, or records that fail validation;
            the stored copy is kept.
        LockError: another DataUSA sync of the same store is running.
    """
    started = time.monotonic()
    store = store if store is not None else open_settings_store(settings)
    session = session if session is not None else make_session(settings, require_contact=False)
    url, key = settings.datausa_url, settings.datausa_key
    summary, stats = DataUsaSummary(key=key), HttpStats()
    try:
        with store.lock("sync-datausa", settings.lock_timeout):
            body, got = _fetch(session, url, settings, stats)
            payload = _decode(body, url, got.content_type)
            records = parse_population(payload, url)
            summary.records, summary.years = len(records), [r.year for r in records]
            content = canonical_sha256(payload)
            stored = store.head(key)
            if stored is None or stored.metadata.get(CONTENT_SHA256) != content:
                raw = hashlib.sha256(body).hexdigest()
                metadata = {
                    SHA256: raw,
                    MD5: hashlib.md5(body).hexdigest(),  # noqa: S324 - integrity, not security
                    CONTENT_SHA256: content,
                    SOURCE_SIZE: str(len(body)),
                    SOURCE_ETAG: got.etag,
                    SOURCE_MODIFIED: got.last_modified,
                }
                store.put_bytes(key, body, {k: v for k, v in metadata.items() if v})
                summary.changed, summary.bytes_up = True, len(body)
    finally:
        summary.requests, summary.bytes_down = stats.requests, stats.bytes_down
        summary.seconds = round(time.monotonic() - started, 3)
    log.info(
        "DataUSA sync of %s into %s: %s, %d records (%s), %d bytes down, %d up, %.1fs",
        url,
        store.uri,
        "stored" if summary.changed else "unchanged",
        summary.records,
        f"{summary.years[0]}-{summary.years[-1]}" if summary.years else "none",
        summary.bytes_down,
        summary.bytes_up,
        summary.seconds,
    )
    return summary
