"""DataUSA: both answer shapes from the real snapshots, stored only when the content changes."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from quest.errors import ConfigError, SourceError
from quest.mirror.server import MirrorServer
from quest.sources.bls import sync_bls
from quest.sources.datausa import ARRIVAL, _stored_years, parse_population, sync_datausa
from quest.sources.population import decode_answer
from quest.store.base import CONTENT_SHA256
from tests.stores import ShortReads

from .support import stored_bytes

KEY = "datausa/population.json"


@pytest.fixture
def real(real_data) -> Path:
    """The real DataUSA answers of the shipped snapshot."""
    return real_data / "datausa"


def _serve(tmp_path, name: str, real: Path):
    """A mirror whose DataUSA answer is a copy of the real snapshot file `real` saved as `name`."""
    target = tmp_path / "data" / "datausa" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(real, target)
    return MirrorServer(tmp_path / "data"), target


def test_tesseract_answer_is_stored_byte_for_byte_and_not_rewritten(
    settings, store, tmp_path, real
):
    server, original = _serve(tmp_path, "population.json", real / "population.tesseract.json")
    with server:
        first = sync_datausa(settings.with_overrides(datausa_url=server.datausa_url), store=store)
        second = sync_datausa(settings.with_overrides(datausa_url=server.datausa_url), store=store)
    assert first.changed and first.records == 10 and 2020 not in first.years
    assert stored_bytes(store)[KEY] == original.read_bytes()
    assert (second.changed, second.bytes_up) == (False, 0)


def test_the_stored_years_are_read_whole_from_a_store_answering_short_reads(tmp_path, real):
    # One read took the first bytes of the stored answer for all of it: the copy did not parse,
    # and the years guard let any answer replace it.
    store = ShortReads(tmp_path / "store")
    body = (real / "population.tesseract.json").read_bytes()
    assert len(body) > ShortReads.most
    store.put_bytes(KEY, body, {})
    years = _stored_years(store, KEY, store.head(KEY))
    assert years == [r.year for r in parse_population(json.loads(body), KEY)]
    assert len(years) == 10


def test_legacy_answer_is_accepted_and_stored(settings, store, tmp_path, real):
    server, original = _serve(
        tmp_path, "legacy/population_data.json", real / "legacy" / "population_data.json"
    )
    with server:
        summary = sync_datausa(
            settings.with_overrides(datausa_url=server.datausa_legacy_url), store=store
        )
    assert summary.changed and summary.years == list(range(2013, 2023))
    assert stored_bytes(store)[KEY] == original.read_bytes()


def test_same_content_in_another_key_order_and_spacing_is_not_rewritten(
    settings, store, tmp_path, real
):
    server, original = _serve(tmp_path, "population.json", real / "population.tesseract.json")
    with server:
        url = settings.with_overrides(datausa_url=server.datausa_url)
        sync_datausa(url, store=store)
        # The API's key order varies between calls: the other real copy differs only so.
        shutil.copyfile(real / "tesseract" / "us_population.json", original)
        again = sync_datausa(url, store=store)
    assert again.changed is False
    assert stored_bytes(store)[KEY] == (real / "population.tesseract.json").read_bytes()


def test_the_same_records_in_another_order_are_not_rewritten_nor_announced(
    settings, store, tmp_path, real
):
    # Each rewrite announces an arrival, which starts quest_reports on Databricks.
    server, served = _serve(tmp_path, "population.json", real / "population.tesseract.json")
    answer = json.loads(served.read_bytes())
    with server:
        url = settings.with_overrides(datausa_url=server.datausa_url)
        first = sync_datausa(url, store=store)
        served.write_text(json.dumps({**answer, "data": answer["data"][::-1]}))
        again = sync_datausa(url, store=store)
    assert first.changed and not again.changed and again.arrival == ""
    assert stored_bytes(store)[KEY] == (real / "population.tesseract.json").read_bytes()


def test_a_copy_stored_by_an_older_quest_is_not_rewritten_for_its_older_hash(
    settings, store, tmp_path, real
):
    server, served = _serve(tmp_path, "population.json", real / "population.tesseract.json")
    answer = json.loads(served.read_bytes())
    # Newest year first: the order in which the older hash differs from the new one.
    served.write_text(json.dumps({**answer, "data": answer["data"][::-1]}))
    with server:
        url = settings.with_overrides(datausa_url=server.datausa_url)
        sync_datausa(url, store=store)
        body = stored_bytes(store)[KEY]
        meta = store.head(KEY).metadata
        older = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        older_sha = hashlib.sha256(older.encode()).hexdigest()
        store.put_bytes(KEY, body, {**meta, CONTENT_SHA256: older_sha})
        again = sync_datausa(url, store=store)
    assert not again.changed and again.arrival == ""
    assert store.head(KEY).metadata[CONTENT_SHA256] == older_sha


def test_changed_content_replaces_the_stored_copy(settings, store, tmp_path, real):
    server, original = _serve(tmp_path, "population.json", real / "population.tesseract.json")
    with server:
        url = settings.with_overrides(datausa_url=server.datausa_url)
        sync_datausa(url, store=store)
        payload = json.loads(original.read_text())
        payload["data"].append(
            {
                "Nation ID": "01000US",
                "Nation": "United States",
                "Year": 2024,
                "Population": 340110990.0,
            }
        )
        original.write_text(json.dumps(payload))
        again = sync_datausa(url, store=store)
    assert again.changed and again.years[-1] == 2024
    assert stored_bytes(store)[KEY] == original.read_bytes()


def test_each_change_adds_a_new_arrival_file_and_no_change_adds_none(
    settings, store, tmp_path, real
):
    # Databricks' file-arrival trigger starts no run for a file overwritten under its own
    # name: each change of the population is announced by a file with a new name.
    server, original = _serve(tmp_path, "population.json", real / "population.tesseract.json")
    with server:
        url = settings.with_overrides(datausa_url=server.datausa_url)
        first = sync_datausa(url, store=store)
        unchanged = sync_datausa(url, store=store)
        payload = json.loads(original.read_text())
        payload["data"] = payload["data"][:-1]
        payload["page"]["total"] = len(payload["data"])  # as the source counts its answer
        original.write_text(json.dumps(payload))
        dropped = settings.with_overrides(
            datausa_url=server.datausa_url, datausa_allow_dropped_years=True
        )
        changed = sync_datausa(dropped, store=store)
    arrivals = {k: v for k, v in stored_bytes(store).items() if k.startswith("datausa/arrivals/")}
    assert sorted(arrivals) == sorted([first.arrival, changed.arrival]) and not unchanged.arrival
    announced = json.loads(arrivals[changed.arrival])
    assert announced["key"] == KEY and announced["years"] == changed.years
    assert announced["sha256"] == store.head(KEY).sha256
    assert stored_bytes(store)[KEY] == original.read_bytes()


def test_a_change_whose_arrival_file_was_not_written_is_announced_by_the_next_run(
    settings, store, tmp_path, real
):
    # A run stopped between storing the population and announcing it (killed, or the arrival
    # file could not be written: a warning) left a change no trigger would ever see: the next
    # runs found the content unchanged and wrote nothing.
    server, _ = _serve(tmp_path, "population.json", real / "population.tesseract.json")
    with server:
        url = settings.with_overrides(datausa_url=server.datausa_url)
        first = sync_datausa(url, store=store)
        store.delete(first.arrival)
        late = sync_datausa(url, store=store)
        quiet = sync_datausa(url, store=store)
        arrivals = [k for k in stored_bytes(store) if k.startswith("datausa/arrivals/")]
        announced = json.loads(stored_bytes(store)[late.arrival])
        # A population stored before quest named its arrival file is not announced again.
        older = {k: v for k, v in store.head(KEY).metadata.items() if k != ARRIVAL}
        store.set_metadata(KEY, older)
        store.delete(late.arrival)
        upgraded = sync_datausa(url, store=store)
    # The name the stored population's metadata gave its arrival file, written late.
    assert not late.changed and late.arrival == first.arrival and not quiet.arrival
    assert arrivals == [late.arrival]
    assert announced["sha256"] == store.head(KEY).sha256 and announced["years"] == first.years
    # When the population was stored, which the name says, not when the file was written.
    assert announced["stored_at"].replace("-", "").replace(":", "")[:15] == late.arrival[17:32]
    assert not upgraded.changed and not upgraded.arrival


def test_garbage_body_is_refused_and_the_previous_copy_kept(
    settings, store, mirror, tmp_path, real
):
    server, original = _serve(tmp_path, "population.json", real / "population.tesseract.json")
    with server:
        url = settings.with_overrides(datausa_url=server.datausa_url)
        sync_datausa(url, store=store)
        server.faults.add("/tesseract/data.jsonrecords", "body", body=b"\x00garbage{]")
        with pytest.raises(SourceError, match="not JSON"):
            sync_datausa(url, store=store)
    assert stored_bytes(store)[KEY] == original.read_bytes()


def test_a_403_from_datausa_says_nothing_of_bls(settings, store, mirror, tmp_path, real):
    server, original = _serve(tmp_path, "population.json", real / "population.tesseract.json")
    with server:
        url = settings.with_overrides(datausa_url=server.datausa_url)
        sync_datausa(url, store=store)
        server.faults.add("/tesseract/data.jsonrecords", "status", status=403)
        with pytest.raises(SourceError, match="403 Forbidden") as refused:
            sync_datausa(url, store=store)
    assert "BLS" not in str(refused.value) and "QUEST_CONTACT" not in str(refused.value)
    assert stored_bytes(store)[KEY] == original.read_bytes()


@pytest.mark.parametrize("contact", ["ops@пример.рф", "ops@example.org\r\nX-Injected: 1"])
def test_a_contact_no_header_can_carry_is_refused_before_any_request(
    settings, store, mirror, contact
):
    with pytest.raises(ConfigError, match="QUEST_CONTACT"):
        sync_datausa(settings.with_overrides(contact=contact), store=store)
    with pytest.raises(ConfigError, match="QUEST_CONTACT"):
        sync_bls(settings.with_overrides(contact=contact), store=store)
    assert mirror.log == [] and store.list() == {}


def test_both_real_national_snapshots_parse_to_their_years(real):
    tesseract = json.loads((real / "population.tesseract.json").read_text())
    legacy = json.loads((real / "legacy" / "population_data.json").read_text())
    got = parse_population(tesseract, "tesseract")
    assert [r.year for r in got] == [2013, 2014, 2015, 2016, 2017, 2018, 2019, 2021, 2022, 2023]
    assert got[0].population == 316128839
    old = parse_population(legacy, "legacy")
    assert [r.year for r in old] == list(range(2013, 2023))
    assert old[-1].population == 331097593


def test_the_state_level_answer_is_refused_as_national_population(real):
    states = json.loads((real / "population.states.tesseract.json").read_text())
    with pytest.raises(
        SourceError, match="record 0 has a 'State' field: a State-level answer, not national"
    ):
        parse_population(states, "states.json")


def _record(year=2019, population=328239523.0, **extra):
    return {
        "Nation ID": "01000US",
        "Nation": "United States",
        "Year": year,
        "Population": population,
        **extra,
    }


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("a string", "expected a JSON object or list"),
        ({"rows": []}, "no 'data' field"),
        ({"data": []}, "'data' is empty"),
        ({"data": {"a": 1}}, "not a list of records"),
        ({"data": [_record(), "x"]}, "record 1 is a str"),
        ({"data": [_record(2019), _record(2019)]}, "record 1: field 'Year' 2019 appears twice"),
        (
            {"data": [{"Nation ID": "01000US", "Population": 5.0}]},
            "record 0: field 'Year' is missing",
        ),
        (
            {"data": [{"ID Year": None, "Year": "2019", "Nation ID": "01000US"}]},
            "record 0: field 'ID Year' is None, not a year",
        ),
        ({"data": [_record(population=None)]}, "record 0: field 'Population' is null"),
        (
            {"data": [{k: v for k, v in _record().items() if k != "Population"}]},
            "record 0: field 'Population' is missing",
        ),
        ({"data": [_record(population=0.0)]}, "record 0: field 'Population' is 0"),
        ({"data": [_record(population=-5.0)]}, "record 0: field 'Population' is -5"),
        ({"data": [_record(population=3.5)]}, "not a whole number"),
        ({"data": [_record(population="many")]}, "not a number"),
        (
            {"data": [{"Nation": "United States", "Year": 2019, "Population": 330e6}]},
            "record 0: no field 'Nation ID' \\(or 'ID Nation'\\)",
        ),
        ({"data": [_record(year="twenty")]}, "record 0: field 'Year' is 'twenty'"),
        # silver's year rule reads the JSON text: these would pass a lenient sync, then
        # have every record quarantined
        ({"data": [_record(year=2013.0)]}, r"record 0: field 'Year' is 2013\.0, not a year"),
        ({"data": [_record(year=" 2013")]}, "record 0: field 'Year' is ' 2013', not a year"),
        ({"data": [_record(year="2013.0")]}, "record 0: field 'Year' is '2013.0', not a year"),
        ({"data": [{"Year": 2019, "Population": 5.0}]}, "record 0: no field 'Nation ID'"),
        # Before, both accepted: a first page stored as the whole answer, and a record stored
        # under its `ID Year` whatever its `Year` said.
        (
            {
                "page": {"limit": 6, "offset": 0, "total": 10},
                "data": [_record(year) for year in range(2013, 2019)],
            },
            "the answer is one page of 6 records of 10",
        ),
        (
            {
                "data": [
                    {"ID Nation": "01000US", "ID Year": 2013, "Year": "2099", "Population": 3e8}
                ]
            },
            "record 0: field 'ID Year' is 2013 but field 'Year' is '2099'",
        ),
    ],
)
def test_malformed_population_answers_are_refused_naming_record_and_field(payload, message):
    with pytest.raises(SourceError, match=message):
        parse_population(payload, "answer.json")


def test_numbers_are_read_up_to_the_digits_spark_reads():
    # Spark's JSON reader takes 1,000 digits, an exponent's included (its sign, point and `e`
    # aside), no more.
    within = b'{"data": [], "a": -%s, "b": 0.%se-5}' % (b"9" * 1000, b"1" * 998)
    assert decode_answer(within, "x")["b"] > 0
    for beyond in (b"1" * 1001, b"0." + b"1" * 1000, b"1." + b"0" * 998 + b"e10"):
        with pytest.raises(SourceError, match="holds a number of 1,001 digits"):
            decode_answer(b'{"data": [], "a": %s}' % beyond, "x")


def test_a_bare_list_of_records_is_accepted():
    assert parse_population([_record(2013, 316128839.0)], "x")[0].population == 316128839
