"""DataUSA faults: each bad answer is refused with a clear error and the stored copy is kept."""

from __future__ import annotations

import json

import pytest

from quest.errors import SourceError
from quest.sources.datausa import sync_datausa
from tests.realdata import shared_data
from tests.sources.support import stored_bytes

PATH = "/tesseract/data.jsonrecords"
KEY = "datausa/population.json"


def _record(year: int, population: float) -> dict:
    return {
        "Nation ID": "01000US",
        "Nation": "United States",
        "Year": year,
        "Population": population,
    }


def _answer(*records: dict) -> bytes:
    return json.dumps(
        {"columns": ["Nation ID", "Nation", "Year", "Population"], "data": list(records)}
    ).encode()


BAD_ANSWERS = {
    "html page": (b"<!DOCTYPE html><html><body>Service Unavailable</body></html>", "not JSON"),
    "empty data": (_answer(), "'data' is empty"),
    "duplicate year": (_answer(_record(2019, 3.0e8), _record(2019, 3.1e8)), "2019 appears twice"),
    "missing year": (
        json.dumps({"data": [{"Nation": "United States", "Population": 3.0e8}]}).encode(),
        "record 0: field 'Year' is missing",
    ),
    "zero population": (_answer(_record(2019, 0.0)), "field 'Population' is 0"),
    "negative population": (_answer(_record(2019, -1.0)), "field 'Population' is -1"),
    "truncated json": (b'{"data": [{"Nation": "United States", "Year": 20', "not JSON"),
}


@pytest.fixture
def synced(settings, source, store, mirror):
    """A store holding a good population copy, served from the sample's real-shaped answer."""
    target = source.root / "datausa" / "population.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(shared_data("datausa", "population.tesseract.json").read_bytes())
    assert sync_datausa(settings, store=store).changed
    return stored_bytes(store)


@pytest.mark.parametrize("case", sorted(BAD_ANSWERS))
def test_a_bad_answer_is_refused_and_the_previous_copy_kept(case, synced, settings, store, mirror):
    body, message = BAD_ANSWERS[case]
    mirror.faults.add(PATH, "body", body=body)
    with pytest.raises(SourceError, match=message):
        sync_datausa(settings, store=store)
    assert stored_bytes(store) == synced


def test_the_state_level_answer_is_refused(synced, settings, store, mirror):
    states = shared_data("datausa", "population.states.tesseract.json").read_bytes()
    mirror.faults.add(PATH, "body", body=states)
    with pytest.raises(SourceError, match="State-level answer, not national population"):
        sync_datausa(settings, store=store)
    assert stored_bytes(store) == synced


@pytest.mark.parametrize(
    ("status", "message"), [(500, "failed after 3 attempts"), (404, "answered 404")]
)
def test_an_error_status_is_refused_and_the_previous_copy_kept(
    status, message, synced, settings, store, mirror
):
    mirror.faults.add(PATH, "status", status=status, times=10)
    with pytest.raises(SourceError, match=message):
        sync_datausa(settings, store=store)
    assert stored_bytes(store) == synced


def test_an_answer_cut_once_is_fetched_again(synced, settings, store, mirror):
    mirror.faults.add(PATH, "cut", after=100)
    summary = sync_datausa(settings, store=store)
    assert (summary.changed, summary.requests) == (False, 2)
    assert stored_bytes(store) == synced


def test_an_answer_cut_every_time_is_refused_and_the_previous_copy_kept(
    synced, settings, store, mirror
):
    mirror.faults.add(PATH, "cut", after=100, times=10)
    with pytest.raises(SourceError, match="broke off"):
        sync_datausa(settings, store=store)
    assert stored_bytes(store) == synced
    mirror.faults.clear()
    assert sync_datausa(settings, store=store).changed is False
