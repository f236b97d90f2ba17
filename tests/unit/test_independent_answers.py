"""The plain-Python answers the real-data tests compare with (`tests/medallion/independent.py`)
keep exactly the rows silver keeps: a check that passed silver's mistakes would prove nothing."""

from __future__ import annotations

from decimal import Decimal

from tests.medallion.independent import parse_bls

HEADER = b"series_id        \tyear\tperiod\t       value\tfootnote_codes\r\n"


def _rows(*lines: bytes) -> list[tuple[str, int, str, Decimal]]:
    return sorted(parse_bls(HEADER + b"".join(lines)))


def test_rows_silver_quarantines_are_left_out():
    kept = b"PRS30006011      \t2022\tQ01\t         4.2\t\r\n"
    assert _rows(
        kept,
        b'PRS30006011\t2022\tQ02\t"4.9"\t\r\n',  # quoted: fields are split on tabs alone
        b"PRS30006011\t2022\tQ03\t4.9\x0c\t\r\n",  # a form feed: trimmed of spaces alone
        b"PRS30006011\t2022\tQ04\t\xc2\xa04.9\t\r\n",  # a no-break space
        b"PRS30006011\t2021\tQ01\t4.\xff9\t\r\n",  # not UTF-8: U+FFFD, quarantined
        b"PRS30006011\t2021\tQ02\t4.9\r\n",  # four fields
        b"PRS30006011\t2021\tQ03\t4.9999\t\r\n",  # a fourth decimal
        b"PRS30006011\t2021\tQ04\tNaN\t\r\n",
        b"PRS30006011\t2021\tQ09\t1.0\t\r\n",  # no such period
    ) == [("PRS30006011", 2022, "Q01", Decimal("4.2"))]


def test_duplicates_are_judged_among_the_rows_that_pass_the_rules():
    assert _rows(
        b"PRS30006011\t2022\tQ01\t4.2\t\r\n",
        b"PRS30006011\t2022\tQ01\tn/a\t\r\n",  # quarantined alone: the other copy stays
        b"PRS30006011\t2022\tQ02\t1.0\t\r\n",
        b"PRS30006011\t2022\tQ02\t1.0\t\n",  # alike: counted once
        b"PRS30006011\t2022\tQ03\t1.0\t\r\n",
        b"PRS30006011\t2022\tQ03\t1.0\tP\r\n",  # another footnote: both copies out
        b"\xef\xbb\xbf  \r\n",  # a BOM then spaces: a blank line
    ) == [
        ("PRS30006011", 2022, "Q01", Decimal("4.2")),
        ("PRS30006011", 2022, "Q02", Decimal("1.0")),
    ]


def test_copies_of_a_key_are_compared_as_numbers():
    # Silver compares copies of a key as the DECIMAL(18,3) it stores (`observation_compared`):
    # `2.6` and `2.60`, `0.0` and `-0.0` are one value, a copy, not a conflict.
    kept = _rows(
        b"PRS30006011\t2022\tQ01\t2.6\t\r\n",
        b"PRS30006011\t2022\tQ01\t2.60\t\r\n",
        b"PRS30006011\t2022\tQ02\t0.0\t\r\n",
        b"PRS30006011\t2022\tQ02\t-0.0\t\r\n",
        b"PRS30006011\t2022\tQ03\t1.0\t\r\n",
        b"PRS30006011\t2022\tQ03\t1.01\t\r\n",  # another number: both copies out
    )
    assert kept == [
        ("PRS30006011", 2022, "Q01", Decimal("2.6")),
        ("PRS30006011", 2022, "Q02", Decimal("0.0")),
    ]
