"""What silver records of a MERGE: the figures the statement itself returns."""

from __future__ import annotations

import logging

from quest.medallion.silver_tables import merged_rows


class _Returned:
    """What `spark.sql("MERGE INTO ...")` gives back: a result whose first row is read."""

    def __init__(self, row: dict | None) -> None:
        self.row = row

    def first(self) -> dict | None:
        return self.row


def test_merged_rows_are_the_figures_merge_returns():
    row = {
        "num_affected_rows": 6,
        "num_updated_rows": 1,
        "num_deleted_rows": 2,
        "num_inserted_rows": 3,
    }
    assert merged_rows(_Returned(row)) == {
        "rows_inserted": 3,
        "rows_updated": 1,
        "rows_deleted": 2,
    }


def test_a_merge_delta_skipped_as_already_done_counts_nothing_and_says_so(caplog):
    with caplog.at_level(logging.WARNING, logger="quest.medallion.silver_tables"):
        assert merged_rows(_Returned(None)) == {
            "rows_inserted": 0,
            "rows_updated": 0,
            "rows_deleted": 0,
        }
    assert "returned no figures" in caplog.text
