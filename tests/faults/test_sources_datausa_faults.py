"""DataUSA faults: each bad answer is refused with a clear error and the stored copy is kept."""

from __future__ import annotations

import gzip
import json

import pytest

from quest.errors import SourceError
from quest.sources.datausa import sync_datausa
from quest.store.local import LocalStore
from tests.sources.support import fast_settings, stored_bytes

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


US = 330_000_000.0
NEEDED = [_record(year, US + year) for year in range(2013, 2019)]


def _deep(levels: int) -> bytes:
    return b'{"data": ' + b"[" * levels + b"]" * levels + b"}"


BAD_ANSWERS = {
    "only 2022": (_answer(_record(2022, US)), "lacks the years 2013, 2014, 2015, 2016, 2017, 2018"),
    # Spark's JSON reader takes no number of over 1,000 digits: before, the sync stored it, and
    # silver read every record holding one as empty, failing the load for the wrong reason.
    "a number of 1,001 digits in a field no check reads": (
        _answer(*[{**record, "Margin": 10**1000} for record in NEEDED]),
        "holds a number of 1,001 digits .*, more than the 1,000 Spark's JSON reader takes",
    ),
    "a population of 1e300": (
        _answer(*NEEDED, _record(2019, 1e300)),
        "record 6: field 'Population' is 1e\\+300, not a plausible US national population",
    ),
    "a state-sized population": (
        _answer(*NEEDED, _record(2019, 39_000_000.0)),
        "field 'Population' is 39000000, not a plausible US national population",
    ),
    "a year in full-width digits": (
        _answer(*NEEDED, _record("\uff12\uff10\uff11\uff19", US)),
        "field 'Year' is '２０１９', not a year in ASCII digits",
    ),
    "a year from another century": (_answer(*NEEDED, _record(1850, US)), "not a plausible year"),
    "another nation": (
        _answer(*NEEDED, {**_record(2019, US), "Nation ID": "01000PR"}),
        "'Nation ID' is '01000PR', not the United States",
    ),
    "another nation, in the old API's shape": (
        _answer(
            *NEEDED,
            {
                "ID Nation": "01000PR",
                "Nation": "Puerto Rico",
                "ID Year": 2019,
                "Year": "2019",
                "Population": US,
            },
        ),
        "'ID Nation' is '01000PR', not the United States",
    ),
    "a year after any plausible one": (_answer(*NEEDED, _record(2099, US)), "not a plausible year"),
    "another nation, named without an ID": (
        json.dumps(
            {
                "data": [
                    {"Nation": "Indonesia", "Year": y, "Population": 270e6}
                    for y in range(2013, 2019)
                ]
            }
        ).encode(),
        "record 0: no field 'Nation ID' .* cannot be told to be the United States",
    ),
    "NaN for a population": (
        _answer(*NEEDED).replace(
            b'"data": [',
            b'"data": [{"Nation ID": "01000US", "Nation": "United States", "Year": 2019, "Population": NaN}, ',
        ),
        "NaN is not a number JSON allows",
    ),
    "Infinity written as a number too large for a double, in a field not checked": (
        _answer(*NEEDED).replace(
            b'"data": [',
            b'"data": [{"Nation ID": "01000US", "Nation": "United States", "Year": 2019, '
            b'"Population": 330000000, "Margin": 1e999}, ',
        ),
        "1e999 is beyond what a double holds",
    ),
    "a lone surrogate": (
        _answer(*NEEDED, {**_record(2019, US), "Nation": "United States \ud800"}),
        r"holds '\\ud800', half of a UTF-16 pair",
    ),
    "nested 40 levels deep": (_deep(40), "nests deeper than 32 levels"),
    "nested past Python's recursion limit": (_deep(100_000), "nests deeper than 32 levels"),
    "html page": (b"<!DOCTYPE html><html><body>Service Unavailable</body></html>", "not JSON"),
    "empty data": (_answer(), "'data' is empty"),
    "duplicate year": (_answer(_record(2019, US), _record(2019, US)), "2019 appears twice"),
    "missing year": (
        json.dumps({"data": [{"Nation ID": "01000US", "Population": US}]}).encode(),
        "record 0: field 'Year' is missing",
    ),
    "zero population": (_answer(_record(2019, 0.0)), "field 'Population' is 0"),
    # A double rounds the fraction away, and bronze and silver read the number through one too:
    # only the answer's digits show it, and it was stored as a whole number.
    "a fraction too small for a double": (
        _answer(*NEEDED).replace(
            b'"Population": 330002013.0', b'"Population": 330002013.0000000000000001', 1
        ),
        "record 0: field 'Population' is 330002013.0000000000000001, not a whole number",
    ),
    # Python's decimal refuses such an exponent: it ended the sync as "a bug in quest".
    "a zero with an exponent past any decimal's": (
        _answer(*NEEDED).replace(
            b'"Population": 330002013.0', b'"Population": 0e-99999999999999999999', 1
        ),
        "0e-99999999999999999999 has an exponent too large to read exactly",
    ),
    # Tesseract counts the records of the answer: short of its count with no limit asked.
    "fewer records than the answer counts": (
        json.dumps(
            {"data": NEEDED, "page": {"limit": 0, "offset": 0, "total": len(NEEDED) + 4}}
        ).encode(),
        "the answer gives 6 records but counts 10 .*; nothing was stored from it.* rerun later",
    ),
    "negative population": (_answer(_record(2019, -1.0)), "field 'Population' is -1"),
    "truncated json": (b'{"data": [{"Nation": "United States", "Year": 20', "not JSON"),
    # Python keeps a repeated key's last value: the first list of records, or the first
    # population of a record, would be lost unseen.
    "the records given twice under one key": (
        _answer(*NEEDED).replace(b'"data": [', b'"data": [], "data": [', 1),
        "the key 'data' is given twice in one object",
    ),
    "a population given twice in one record": (
        _answer(*NEEDED).replace(b'"Population": ', b'"Population": 1, "Population": ', 1),
        "the key 'Population' is given twice in one object",
    ),
}


@pytest.fixture
def synced(settings, source, store, mirror, real_data):
    """A store holding a good population copy: the real tesseract answer, through the mirror."""
    target = source.root / "datausa" / "population.json"
    target.parent.mkdir(parents=True)
    target.write_bytes((real_data / "datausa" / "population.tesseract.json").read_bytes())
    assert sync_datausa(settings, store=store).changed
    return stored_bytes(store)


@pytest.mark.parametrize("case", sorted(BAD_ANSWERS))
def test_a_bad_answer_is_refused_and_the_previous_copy_kept(
    case, synced, settings, source, store, mirror
):
    body, message = BAD_ANSWERS[case]
    mirror.faults.add(PATH, "body", body=body)
    with pytest.raises(SourceError, match=message) as refused:
        sync_datausa(settings, store=store)
    assert refused.value.exit_status == 5
    assert stored_bytes(store) == synced
    assert sync_datausa(settings, store=store).changed is False, "the healed source is the copy"
    assert stored_bytes(store)[KEY] == (source.root / "datausa" / "population.json").read_bytes()


BROKEN_TRANSFERS = {
    "an endless answer": ({"kind": "endless", "length": "", "chunk": 65536}, "past the 4194304"),
    "gzip cut short": (
        {
            "kind": "body",
            "body": gzip.compress(b'{"data": []}' * 50)[:-10],
            "headers": {"Content-Encoding": "gzip"},
        },
        "stops before its end",
    ),
    "a malformed Content-Length": ({"kind": "body", "length": "-5"}, "malformed Content-Length"),
    "a redirect to file://": (
        {"kind": "status", "status": 302, "headers": {"Location": "file:///etc/passwd"}},
        "a file: URL",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_TRANSFERS))
def test_a_broken_transfer_is_refused_and_the_previous_copy_kept(
    case, synced, settings, store, mirror
):
    fault, message = BROKEN_TRANSFERS[case]
    mirror.faults.add(PATH, times=10, **fault)
    with pytest.raises(SourceError, match=f"DataUSA population: .*{message}"):
        sync_datausa(settings, store=store)
    assert stored_bytes(store) == synced


def test_an_answer_that_drops_a_stored_year_is_refused_unless_a_setting_allows_it(
    synced, settings, source, store, mirror
):
    target = source.root / "datausa" / "population.json"
    payload = json.loads(target.read_bytes())
    payload["data"] = [r for r in payload["data"] if r["Year"] != 2023]
    payload["page"]["total"] = len(payload["data"])  # as the source counts its answer
    target.write_text(json.dumps(payload))
    with pytest.raises(SourceError, match="lacks the year 2023, which the stored copy has"):
        sync_datausa(settings, store=store)
    assert stored_bytes(store) == synced
    allowed = settings.with_overrides(datausa_allow_dropped_years=True)
    assert sync_datausa(allowed, store=store).years[-1] == 2022
    assert stored_bytes(store)[KEY] == target.read_bytes()


def test_an_answer_missing_a_year_the_analysis_needs_is_refused_whatever_the_setting(
    synced, settings, store, mirror
):
    short = _answer(*[r for r in NEEDED if r["Year"] != 2016])
    mirror.faults.add(PATH, "body", body=short)
    allowed = settings.with_overrides(datausa_allow_dropped_years=True)
    with pytest.raises(SourceError, match="lacks the year 2016, which the analysis needs") as no:
        sync_datausa(allowed, store=store)
    assert no.value.retryable, "the source may answer whole next time"
    assert stored_bytes(store) == synced


def test_a_year_range_holding_2020_is_told_the_source_never_has_it(synced, settings, store):
    # ACS 1-year has no 2020: QUEST_END_YEAR=2021 failed every sync with "rerun later".
    wider = settings.with_overrides(end_year=2021)
    with pytest.raises(SourceError, match="published no 1-year estimates for 2020") as refused:
        sync_datausa(wider, store=store)
    assert refused.value.retryable is False, "quest run does not wait for a year that never comes"
    assert "Rerun later" not in str(refused.value)
    assert stored_bytes(store) == synced


def test_a_source_of_5_year_estimates_lacking_2020_is_not_told_it_never_has_it(
    synced, settings, store, mirror
):
    # The cube the URL asks decides: 5-year estimates have 2020, so its absence is the
    # source's, worth another try, and the 1-year explanation would mislead.
    five = settings.with_overrides(
        end_year=2021, datausa_url=settings.datausa_url.replace("population_1", "population_5")
    )
    assert five.datausa_url != settings.datausa_url
    with pytest.raises(SourceError, match="lacks the year 2020, which the analysis") as refused:
        sync_datausa(five, store=store)
    assert "1-year" not in str(refused.value)
    assert refused.value.retryable, "a source of 5-year estimates may answer with 2020 later"
    assert stored_bytes(store) == synced


def test_a_stored_copy_that_no_longer_parses_may_be_replaced(synced, settings, store):
    store.put_bytes(KEY, b"not json", {})
    replaced = sync_datausa(settings, store=store)
    assert replaced.changed and replaced.arrival  # a change, announced like any other
    assert stored_bytes(store) == {
        **synced,
        replaced.arrival: stored_bytes(store)[replaced.arrival],
    }


def test_a_stored_copy_damaged_under_its_own_metadata_is_replaced(
    tmp_path, source, mirror, real_data
):
    # Before, the sync compared the recorded hash alone: a body changed in the store with its
    # metadata left as it was stayed for good, each run "unchanged", though the log said the
    # copy that no longer parses "may be replaced". (A local store's file alone can be changed
    # behind the store's back: the test takes no `store`, so it runs once.)
    store = LocalStore(tmp_path / "own-store")
    settings = fast_settings(tmp_path / "home", store, mirror)
    target = source.root / "datausa" / "population.json"
    target.parent.mkdir(parents=True)
    target.write_bytes((real_data / "datausa" / "population.tesseract.json").read_bytes())
    sync_datausa(settings, store=store)
    good = stored_bytes(store)[KEY]
    (store.root / KEY).write_bytes(b"<html>oops</html>")
    replaced = sync_datausa(settings, store=store)
    assert replaced.changed
    assert stored_bytes(store)[KEY] == good


def test_an_answer_reached_by_a_redirect_names_where_it_came_from(
    synced, settings, store, mirror, caplog
):
    elsewhere = PATH + "?cube=acs_yg_total_population_5&drilldowns=Year%2CNation"
    mirror.faults.add(PATH, "status", status=302, headers={"Location": elsewhere})
    with caplog.at_level("WARNING", logger="quest.sources.datausa"):
        sync_datausa(settings, store=store)
    assert f"answered from {mirror.datausa_url.split('/tesseract')[0]}{elsewhere}" in caplog.text


def test_the_state_level_answer_is_refused(synced, settings, store, mirror, real_data):
    states = (real_data / "datausa" / "population.states.tesseract.json").read_bytes()
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
