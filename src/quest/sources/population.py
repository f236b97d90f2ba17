"""What counts as a US national population answer from DataUSA, and the checks it must pass.

Two answer shapes are accepted: the tesseract API's (`Year` an int, `Population` a float) and the
older `datausa.io/api/data` one (`ID Year` an int, `Year` a string, `Population` an int).
An answer is refused, naming the record and field, unless it is JSON of modest depth holding one
plausible national population per year: years written in plain ASCII digits between
`FIRST_YEAR` and next year, populations whole and between `US_POPULATION` bounds, no state or
county rows, a nation other than the United States refused.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from quest.errors import SourceError
from quest.text_table import some

_NATION_IDS = ("Nation ID", "ID Nation")
US_NATION_ID = "01000US"
SUB_NATIONAL = ("State", "State ID", "ID State", "County", "Place", "Geography")
_ASCII_YEAR = re.compile(r"[0-9]{4}")
# The year the American Community Survey published no 1-year estimates (the pandemic's 2020).
NO_ACS_YEAR = 2020
# A tesseract cube of 1-year estimates (`acs_yg_total_population_1`, the default URL's); the
# 5-year ones (`..._5`) and the retired `datausa.io/api/data` (5-year, no cube named) have 2020.
_ONE_YEAR_CUBE = re.compile(r"acs_\w*_1")
# The American Community Survey began yearly estimates in 2005; nothing national is older here.
FIRST_YEAR = 2000
# The US had 281 million people in 2000 and no projection reaches 450 million this century.
US_POPULATION = (250_000_000, 450_000_000)
MAX_DEPTH = 32


@dataclass(frozen=True)
class PopulationRecord:
    year: int
    population: int


class RepeatedKey(ValueError):
    """A JSON object that gives one key two values: Python keeps the last, and the first is
    lost unseen (`{"data": [...], "data": [...]}` drops a list of records)."""


def unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """`object_pairs_hook` for `json.loads`: the object, or `RepeatedKey` naming a key given
    twice with different values (a key repeated with its value loses nothing)."""
    found: dict = {}
    for key, value in pairs:
        if key in found and found[key] != value:
            raise RepeatedKey(f"the key {key[:40]!r} is given twice in one object, differently")
        found[key] = value
    return found


# The most digits a JSON number may have for Spark's JSON reader (Jackson's `maxNumberLength`):
# from_json reads a record holding a longer one, in any field, as a record of nulls.
MAX_NUMBER_DIGITS = 1000


class _TooLong(ValueError):
    """A JSON number with more digits than `MAX_NUMBER_DIGITS`."""


def _readable_by_spark(text: str) -> None:
    """Refuse a number whose digits Spark would not read: Jackson counts every digit of a
    number, its exponent's too (its sign, point and `e` aside)."""
    digits = sum(c.isdigit() for c in text)
    if digits > MAX_NUMBER_DIGITS:
        raise _TooLong(f"a number of {digits:,} digits ({text[:20]}...)")


def _json_number(text: str) -> float:
    """A JSON number with a point or an exponent, as `decode_answer` reads it."""
    _readable_by_spark(text)
    # `1e999` is valid JSON that Python reads as Infinity.
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text[:40]} is beyond what a double holds (Infinity)")
    if value.is_integer():
        try:
            exact = Decimal(text)
        except ArithmeticError:  # an exponent past what a decimal holds: `0e-99999999999999999999`
            raise ValueError(f"{text[:40]} has an exponent too large to read exactly") from None
        if exact != exact.to_integral_value():
            # `331097593.0000000000000001`: a double rounds it whole, and bronze and silver read
            # it through one too; only the answer's own digits show the fraction.
            return _RoundedWhole(value, text)
    return value


def decode_answer(body: bytes, where: str, content_type: str = "") -> object:
    """The JSON of an answer, refused when it is not JSON, gives a key twice in one object,
    holds NaN or Infinity, or nests deeper than `MAX_DEPTH` (which a population answer never
    does)."""

    def constant(name: str) -> object:
        raise ValueError(f"{name} is not a number JSON allows")

    def integer(text: str) -> int:
        _readable_by_spark(text)
        return int(text)

    try:
        payload = json.loads(
            body.decode("utf-8-sig"),
            parse_constant=constant,
            parse_float=_json_number,
            parse_int=integer,
            object_pairs_hook=unique_keys,
        )
    except RecursionError:
        raise SourceError(_deep(where)) from None
    except _TooLong as exc:
        raise SourceError(
            f"{where}: the answer holds {exc}, more than the {MAX_NUMBER_DIGITS:,} Spark's JSON "
            "reader takes: silver would read every record holding it as empty; nothing was "
            "stored from it. Rerun later"
        ) from None
    except RepeatedKey as exc:
        raise SourceError(
            f"{where}: the answer is JSON, but {exc}, so one of its values would be lost "
            "unseen; nothing was stored from it. Rerun later"
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        start = body[:60].decode("utf-8", "replace").strip()
        raise SourceError(
            f"{where}: the answer is not JSON ({str(exc)[:80]}; Content-Type "
            f"{content_type[:60]!r}, starts {start!r}); nothing was stored from it. Check "
            "QUEST_DATAUSA_URL, or rerun later"
        ) from None
    if _depth(payload) > MAX_DEPTH:
        raise SourceError(_deep(where))
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        # JSON may escape half of a UTF-16 pair (`"\\ud800"`); no UTF-8 text holds it, and
        # the hash, bronze and Spark would each fail on it later.
        raise SourceError(
            f"{where}: the answer holds {exc.object[exc.start : exc.end]!r}, half of a UTF-16 "
            "pair, which is not text; nothing was stored from it. Rerun later"
        ) from None
    return payload


def _deep(where: str) -> str:
    return (
        f"{where}: the answer nests deeper than {MAX_DEPTH} levels, which no population answer "
        "does; nothing was stored from it. Check QUEST_DATAUSA_URL"
    )


def _depth(payload: object) -> int:
    """How deeply lists and objects nest, without recursion."""
    deepest, stack = 0, [(payload, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return deepest


class _RoundedWhole(float):
    """A JSON number with a fraction that a double rounds to a whole number: `text` as sent."""

    text: str

    def __new__(cls, value: float, text: str) -> _RoundedWhole:
        number = super().__new__(cls, value)
        number.text = text
        return number

    def __reduce__(self) -> tuple:  # copied or pickled with its text
        return (_RoundedWhole, (float(self), self.text))


def _whole_number(value: object, where: str, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SourceError(f"{where}: {field_name} is {_short(value)}, not a number")
    if isinstance(value, _RoundedWhole):
        raise SourceError(f"{where}: {field_name} is {value.text[:40]}, not a whole number")
    if isinstance(value, float) and not value.is_integer():
        raise SourceError(f"{where}: {field_name} is {value!r}, not a whole number")
    return int(value)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def _year(record: dict, where: str) -> int:
    name = "ID Year" if "ID Year" in record else "Year"
    if name not in record:
        raise SourceError(f"{where}: field 'Year' is missing")
    if record[name] in (None, ""):
        raise SourceError(f"{where}: field {name!r} is {_short(record[name])}, not a year")
    value = record[name]
    # Exactly what silver's `year_integer` rule accepts (four ASCII digits, no spaces, not
    # `2013.0`), and within its `year_plausible` (1900 to next year), so that no answer the
    # sync stores has every record quarantined by silver.
    if isinstance(value, str):
        if not _ASCII_YEAR.fullmatch(value):
            raise SourceError(
                f"{where}: field {name!r} is {_short(value)}, not a year in ASCII digits"
            )
        value = int(value)
    if isinstance(value, float):
        raise SourceError(f"{where}: field {name!r} is {value!r}, not a year (an integer)")
    year = _whole_number(value, where, f"field {name!r}")
    last = datetime.now(UTC).year + 1
    if not FIRST_YEAR <= year <= last:
        raise SourceError(
            f"{where}: field {name!r} is {year}, not a plausible year ({FIRST_YEAR}-{last})"
        )
    if name == "ID Year" and "Year" in record and str(record["Year"]) != str(record["ID Year"]):
        # The older shape says each year twice (`"ID Year": 2013, "Year": "2013"`); silver reads
        # `ID Year`, so a record whose two disagree would be loaded under one of them unseen.
        raise SourceError(
            f"{where}: field 'ID Year' is {_short(record['ID Year'])} but field 'Year' is "
            f"{_short(record['Year'])}: the record contradicts itself"
        )
    return year


def _population(record: dict, where: str) -> int:
    if "Population" not in record:
        raise SourceError(f"{where}: field 'Population' is missing")
    if record["Population"] is None:
        raise SourceError(f"{where}: field 'Population' is null, not a number")
    population = _whole_number(record["Population"], where, "field 'Population'")
    if population <= 0:
        raise SourceError(f"{where}: field 'Population' is {population}, must be positive")
    low, high = US_POPULATION
    if not low <= population <= high:
        shown = population if population < 10**12 else _short(record["Population"])
        raise SourceError(
            f"{where}: field 'Population' is {shown}, not a plausible US national "
            f"population ({low:,} to {high:,})"
        )
    return population


def _records(payload: object, where: str) -> list:
    if isinstance(payload, dict):
        if "data" not in payload:
            keys = sorted(str(k)[:40] for k in payload)[:10]
            raise SourceError(f"{where}: the answer has no 'data' field (keys: {keys})")
        data = payload["data"]
    elif isinstance(payload, list):
        data = payload
    else:
        raise SourceError(f"{where}: expected a JSON object or list, got {type(payload).__name__}")
    if not isinstance(data, list):
        raise SourceError(f"{where}: 'data' is a {type(data).__name__}, not a list of records")
    if not data:
        raise SourceError(f"{where}: 'data' is empty; refusing to replace the stored population")
    page = payload.get("page") if isinstance(payload, dict) else None
    limit, total = (page.get("limit"), page.get("total")) if isinstance(page, dict) else (0, 0)
    numbers = all(isinstance(v, int) and not isinstance(v, bool) for v in (limit, total))
    if numbers and limit > 0 and total > len(data):
        # Tesseract pages an answer asked with a `limit` (0: none): a first page is not all.
        raise SourceError(
            f"{where}: the answer is one page of {len(data)} records of {total} ('page': "
            f"{_short(page)}); ask for every record (no 'limit' in QUEST_DATAUSA_URL)"
        )
    if numbers and total > len(data):
        # No limit asked, and still short of its own count: cut somewhere on the way.
        raise SourceError(
            f"{where}: the answer gives {len(data)} records but counts {total} ('page': "
            f"{_short(page)}), as if cut on the way"
        )
    return data


def _check_national(record: dict, at: str) -> None:
    sub = next((name for name in SUB_NATIONAL if name in record), None)
    if sub is not None:
        raise SourceError(
            f"{at} has a {sub!r} field: a {sub}-level answer, not national population "
            "(the URL must ask for drilldowns=Year,Nation)"
        )
    if not any(name in record for name in _NATION_IDS):
        # Silver's rule `national_level` goes by the ID: an answer without one would be stored,
        # then have every row quarantined. Both answer shapes DataUSA sends carry it.
        raise SourceError(
            f"{at}: no field 'Nation ID' (or 'ID Nation'), so it cannot be told to be the "
            f"United States ({US_NATION_ID}) and not another nation"
        )
    for name in _NATION_IDS:
        if name in record and record[name] != US_NATION_ID:
            raise SourceError(
                f"{at}: field {name!r} is {_short(record[name])}, not the United States "
                f"({US_NATION_ID})"
            )


def parse_population(payload: object, where: str) -> list[PopulationRecord]:
    """National population records, sorted by year, from either DataUSA answer shape.

    Args:
        payload: the decoded JSON answer (a dict with `data`, or the bare list of records).
        where: the URL or file it came from, for error messages.

    Raises:
        SourceError: naming the record index and field for anything that is not one plausible
            national population per year.
    """
    records: dict[int, PopulationRecord] = {}
    for index, record in enumerate(_records(payload, where)):
        at = f"{where}: record {index}"
        if not isinstance(record, dict):
            raise SourceError(f"{at} is a {type(record).__name__}, not an object")
        _check_national(record, at)
        year = _year(record, at)
        if year in records:
            raise SourceError(f"{at}: field 'Year' {year} appears twice")
        records[year] = PopulationRecord(year, _population(record, at))
    return [records[year] for year in sorted(records)]


def one_year_estimates(url: str) -> bool:
    """Whether the DataUSA URL asks a cube of the ACS 1-year estimates, which has no 2020."""
    cubes = parse_qs(urlsplit(url).query).get("cube", [])
    return any(_ONE_YEAR_CUBE.fullmatch(cube.strip()) for cube in cubes)


def check_years(
    years: list[int],
    needed: range,
    stored: list[int],
    allow_dropped: bool,
    where: str,
    one_year: bool = True,
) -> None:
    """The answer covers the years the analysis needs and every year the stored copy has;
    `one_year`: it is an answer of 1-year estimates (`one_year_estimates`), which never has 2020.

    Raises:
        SourceError: naming the missing years and the setting that changes the rule.
    """
    missing = sorted(set(needed) - set(years))
    if missing:
        never = (
            " (the American Community Survey published no 1-year estimates for 2020: no answer "
            "of them will hold it, so choose years that leave it out)"
            if one_year and NO_ACS_YEAR in missing
            else ""
        )
        refused = SourceError(
            f"{where}: the answer lacks {_years(missing)}, which the analysis needs "
            f"(QUEST_START_YEAR={needed.start} to QUEST_END_YEAR={needed.stop - 1}){never}; "
            "nothing was stored from it. "
            + ("Change" if never else "Rerun later, or change")
            + " the years the analysis covers"
        )
        refused.retryable = not never  # no retry will bring 2020
        raise refused
    dropped = sorted(set(stored) - set(years))
    if dropped and not allow_dropped:
        raise SourceError(
            f"{where}: the answer lacks {_years(dropped)}, which the stored copy has; the "
            "stored copy was kept. If the source really dropped them, rerun once with "
            "QUEST_DATAUSA_ALLOW_DROPPED_YEARS=true"
        )


def _years(years: list[int]) -> str:
    return f"the year{'s' if len(years) > 1 else ''} {some([str(y) for y in years], 12)}"
