"""Spark prints a local table's location as Hadoop's path, characters as they are: a home whose
path holds `#`, `?` or `%` must be read whole, or quest would move or drop the wrong folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from quest.medallion.tables import local_path


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        # As Spark 4.2 printed it for a demo home at "/tmp/we ird#1?x%20/home".
        ("file:/tmp/we ird#1?x%20/home/warehouse", "/tmp/we ird#1?x%20/home/warehouse"),
        ("file:///srv/quest/warehouse/bronze.db/pr_data", "/srv/quest/warehouse/bronze.db/pr_data"),
        ("/home/me/proj#1/.quest/warehouse", "/home/me/proj#1/.quest/warehouse"),
        ("s3://bucket/warehouse", None),
        ("dbfs:/user/hive/warehouse", None),
        ("file://host/share/warehouse", None),
        ("relative/warehouse", None),
        ("", None),
    ],
)
def test_a_location_is_read_as_the_local_path_it_names_or_refused(location, expected):
    assert local_path(location) == (None if expected is None else Path(expected))
