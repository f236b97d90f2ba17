"""The quest's three answers, read from the gold views: as a dict, as text for people, as JSON."""

from __future__ import annotations

import json

from quest.config import Settings, on_databricks
from quest.errors import ConfigError
from quest.text_table import format_table


def _float(value) -> float | None:
    return None if value is None else float(value)


def gold_report(spark, settings: Settings) -> dict:
    """The three answers, in the shape `quest report --json` prints.

    `best_year` is sorted by series_id, `series_report` by year. `mean`/`stddev` are null only
    when silver holds no population for the years asked.
    """
    stats = spark.table(settings.table("gold", "population_stats")).first()
    best = spark.table(settings.table("gold", "best_year_by_series")).orderBy("series_id")
    series = spark.table(settings.table("gold", "series_population_report")).orderBy("year")
    return {
        "population_stats": {
            "start_year": int(stats["start_year"]),
            "end_year": int(stats["end_year"]),
            "mean": _float(stats["mean"]),
            "stddev": _float(stats["stddev"]),
        },
        "best_year": [
            {"series_id": r["series_id"], "year": int(r["year"]), "value": float(r["value"])}
            for r in best.select("series_id", "year", "value").collect()
        ],
        "series_report": [
            {
                "series_id": r["series_id"],
                "year": int(r["year"]),
                "period": r["period"],
                "value": float(r["value"]),
                "population": None if r["population"] is None else int(r["population"]),
            }
            for r in series.select("series_id", "year", "period", "value", "population").collect()
        ],
    }


def _number(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def format_report(report: dict) -> str:
    """Readable tables of the three answers."""
    stats = report["population_stats"]
    series = report["series_report"]
    parts = [
        f"US population {stats['start_year']}-{stats['end_year']}",
        format_table(
            ["statistic", "value"],
            [["mean", _number(stats["mean"])], ["sample stddev", _number(stats["stddev"])]],
            align="lr",
        ),
        "",
        f"Best year per series (sum of the summed periods), {len(report['best_year'])} series",
        format_table(
            ["series_id", "year", "value"],
            [[r["series_id"], str(r["year"]), _number(r["value"], 3)] for r in report["best_year"]],
            align="lrr",
        ),
        "",
        (
            f"{series[0]['series_id']} / {series[0]['period']} against population"
            if series
            else "Series report: no rows"
        ),
        format_table(
            ["year", "value", "population"],
            [
                [
                    str(r["year"]),
                    _number(r["value"], 3),
                    "n/a" if r["population"] is None else f"{r['population']:,}",
                ]
                for r in series
            ],
            align="lrr",
        ),
    ]
    return "\n".join(parts)


def print_report(settings: Settings, as_json: bool = False) -> int:
    """Print the answers from the catalog under the local home (used by `quest report`)."""
    from quest.spark import get_spark

    if not on_databricks() and not (settings.home / "metastore_db").is_dir():
        raise ConfigError(
            f"no catalog under {settings.home} (no metastore_db there): run `quest run` "
            "(or `make demo`) first, or point QUEST_HOME (or --home) at the right home"
        )
    spark = get_spark(settings, app_name="quest-report")
    for view in ("population_stats", "best_year_by_series", "series_population_report"):
        if not spark.catalog.tableExists(settings.table("gold", view)):
            raise ConfigError(
                f"{settings.table('gold', view)} is not in the catalog under {settings.home}: "
                "run `quest run` (or `make demo`) first, or point QUEST_HOME at the right home"
            )
    report = gold_report(spark, settings)
    print(json.dumps(report, indent=2) if as_json else format_report(report))
    return 0
