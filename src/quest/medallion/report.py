"""The quest's three answers, read from the gold views: as a dict, as text for people, as JSON;
and what silver quarantined, per rule and file."""

from __future__ import annotations

import json
import logging
import re
import sys

from quest.config import VAR_OF, Settings, on_databricks, refuse_colon
from quest.errors import ConfigError
from quest.medallion.gold import (
    ANNUAL,
    MAPPING_VIEWS,
    gold_view_sql,
    parameters_differing,
    report_parameters,
    view_current_file,
    view_sql_parameters,
    view_summed_periods,
    view_text,
)
from quest.medallion.silver_tables import OBSERVATIONS, POPULATION, QUARANTINE
from quest.medallion.tables import table_exists
from quest.text_table import format_table, some

log = logging.getLogger(__name__)


def _float(value) -> float | None:
    return None if value is None else float(value)


def gold_report(spark, settings: Settings) -> dict:
    """The three answers, in the shape `quest report --json` prints.

    `best_year` is sorted by series_id, `series_report` by year. `mean` and `stddev` are null
    when silver holds no population for the years asked, and `stddev` also when it holds one
    year (a sample standard deviation needs two); `years` counts the years they are over. Each
    best year's `periods` counts the values summed, of the `summed_periods` the view sums (read
    from the view, which may have been created with other settings than these; null when it
    cannot be read): a year missing a value (not published yet, or quarantined by silver) sums
    fewer. `current_file` is the data file the best-year view reads, from its SQL likewise;
    `report_series` and `report_period` the series and period the report view was created with
    (from its rows, or from its SQL when it has none; null when that cannot be read).
    """
    best_year_view = settings.table("gold", "best_year_by_series")
    best_year_sql = view_text(spark, best_year_view)
    summed = view_summed_periods(best_year_sql)
    stats = spark.table(settings.table("gold", "population_stats")).first()
    # Sorted here, not by Spark: one row per series (per year in the report), and a Spark
    # `orderBy` first samples its input in a job of its own, which computes the best-year
    # aggregation over silver a second time (0.6 s of 4.2 s at 10M rows, warm).
    best = sorted(
        spark.table(best_year_view).select("series_id", "year", "value", "periods").collect(),
        key=lambda r: r["series_id"],
    )
    series_view = settings.table("gold", "series_population_report")
    series = sorted(
        spark.table(series_view)
        .select("series_id", "year", "period", "value", "population")
        .collect(),
        key=lambda r: r["year"],
    )
    if series:
        asked = {"report_series": series[0]["series_id"], "report_period": series[0]["period"]}
    else:  # no row says what was asked: the view's SQL does (a catalog call, no Spark job)
        asked = view_sql_parameters("series_population_report", view_text(spark, series_view) or "")
    return {
        "population_stats": {
            "start_year": int(stats["start_year"]),
            "end_year": int(stats["end_year"]),
            "mean": _float(stats["mean"]),
            "stddev": _float(stats["stddev"]),
            "years": int(stats["years"]),
        },
        "summed_periods": None if summed is None else list(summed),
        "current_file": view_current_file(best_year_sql),
        "report_series": asked.get("report_series"),
        "report_period": asked.get("report_period"),
        "best_year": [
            {
                "series_id": r["series_id"],
                "year": int(r["year"]),
                "value": float(r["value"]),
                "periods": int(r["periods"]),
            }
            for r in best
        ],
        "series_report": [
            {
                "series_id": r["series_id"],
                "year": int(r["year"]),
                "period": r["period"],
                "value": float(r["value"]),
                "population": None if r["population"] is None else int(r["population"]),
            }
            for r in series
        ],
    }


GOLD_VIEWS = ("population_stats", "best_year_by_series", "series_population_report")


def require_gold_views(spark, settings: Settings, by: str = "quest report") -> None:
    """Raises ConfigError naming the gold views missing from the catalog, and locally the silver
    tables and mapping views the views read (observations, population, the mapping views the
    best-year view joins; a workspace's reader may be granted the gold views alone).

    Locally, when a complete load is recorded, `by` (the command or notebook asking) withdraws
    that record before it raises: the views were dropped since (by hand), which a quiet day's
    plan cannot see without a JVM, and the next `quest run` would otherwise skip the medallion
    and leave them missing. A silver table whose folder was deleted by hand is forgotten by the
    catalog as it is asked for (`table_exists`), and named here instead of failing the views'
    queries with Delta's error.
    """
    wanted = [settings.table("gold", view) for view in GOLD_VIEWS]
    if not (settings.catalog or on_databricks()):  # a workspace's reader may see gold alone
        wanted += [settings.table("silver", t) for t in (OBSERVATIONS, POPULATION)]
        wanted += _mapping_views_joined(spark, settings)
    missing = [name for name in wanted if not table_exists(spark, name)]
    if not missing:
        return
    from quest.orchestration.conditions import withdraw_if_loaded

    gone = ", ".join(missing)
    if on_databricks():
        where, fix = "the catalog", "run the quest_pipeline job, which loads the medallion"
    elif withdraw_if_loaded(settings, by, f"{gone} missing from the catalog"):
        where = f"the catalog under {settings.home}, though a complete load was recorded"
        where += " (dropped by hand?)"
        fix = "run `quest run`, which loads the medallion again"
    else:
        where = f"the catalog under {settings.home}"
        fix = "run `quest run` (or `make demo`) first, or point QUEST_HOME at the right home"
    raise ConfigError(f"{gone} {'is' if len(missing) == 1 else 'are'} not in {where}: {fix}")


def _mapping_views_joined(spark, settings: Settings) -> list[str]:
    """Silver's mapping views (`pr_series`, `pr_measure`, `pr_sector`) the best-year view joins,
    read from its stored SQL (a catalog call; none when the view is missing)."""
    text = view_text(spark, settings.table("gold", "best_year_by_series")) or ""
    names = [settings.table("silver", view) for view in MAPPING_VIEWS]
    return [
        name
        for name in names
        if re.search(r"(?<![\w`.])" + re.escape(name) + r"(?![\w`])", text, re.IGNORECASE)
    ]


def quarantine_counts(spark, settings: Settings):
    """Rows silver set aside, counted per rule and per file (most first), as a DataFrame read
    from `silver.quarantine`; None when that table does not exist yet."""
    from pyspark.sql import functions as F

    name = settings.table("silver", QUARANTINE)
    if not table_exists(spark, name):
        return None
    return (
        spark.table(name)
        .groupBy("rule", "source_file", "target_table")
        .agg(F.count(F.lit(1)).alias("rows"))
        .orderBy(F.desc("rows"), "rule", "source_file")
    )


def quarantine_summary(spark, settings: Settings) -> list[dict]:
    """`quarantine_counts` as plain rows: rule, source_file, target_table, rows."""
    counts = quarantine_counts(spark, settings)
    if counts is None:
        return []
    return [
        {
            "rule": r["rule"],
            "source_file": r["source_file"],
            "target_table": r["target_table"],
            "rows": int(r["rows"]),
        }
        for r in counts.collect()
    ]


def population_by_year(spark, settings: Settings, first: int, last: int) -> dict[int, int]:
    """Silver's US population from year `first` to `last`, inclusive (a year DataUSA lacks is
    absent)."""
    from pyspark.sql import functions as F

    rows = (
        spark.table(settings.table("silver", POPULATION))
        .where(F.col("year").between(first, last))
        .select("year", "population")
        .collect()
    )
    return {int(r["year"]): int(r["population"]) for r in rows}


def _number(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _heading(text: str) -> list[str]:
    return [text, "-" * len(text)]


# The best-year answer has a row per series (hundreds): the compact report shows this many.
FIRST_ROWS = 10


def _population_section(stats: dict) -> list[str]:
    years = f"{stats['start_year']}-{stats['end_year']}"
    rows = [["mean", _number(stats["mean"])], ["sample stddev", _number(stats["stddev"])]]
    lines = [*_heading(f"1. US population {years}: mean and sample standard deviation")]
    asked = int(stats["end_year"]) - int(stats["start_year"]) + 1
    counted = stats.get("years")  # absent in a report saved before it was counted
    if counted is not None:
        rows.append(["years with a population", f"{counted} of {asked}"])
    lines.append(format_table(["statistic", "value"], rows, align="lr"))
    if counted is not None and counted < asked:
        missing = (
            f"none of the {asked} years has a population in silver: no figures"
            if counted == 0
            else f"{asked - counted} of the {asked} years have no population in silver: the "
            "figures are over the others"
        )
        lines.append(f"({missing}; the population_missing_year alert fires)")
    if counted == 1:
        lines.append("(one year has a population: no sample standard deviation, which needs two)")
    return lines


# Best years summing fewer periods than a year has, named in the note under the table.
PARTIAL_NAMED = 5


def _partial_note(best: list[dict], summed: list[str]) -> str | None:
    """A line counting, and naming the first of, the best years that sum fewer quarters than a
    year has; None when there are none. With the annual average summed too, a line saying what
    `periods` counts instead: an annual-only series then sums its one value, and a count of four
    may lack a quarter or Q05, so no count would be right."""
    if ANNUAL in summed:
        return (
            f"(`periods` counts the values summed of {', '.join(summed)}: a series with annual "
            "values only sums 1)"
        )
    partial = [r for r in best if r["periods"] < len(summed)]
    if not partial:
        return None
    named = some([f"{r['series_id']} {r['year']} ({r['periods']})" for r in partial], PARTIAL_NAMED)
    return (
        f"({len(partial)} of the {len(best)} best years {'sums' if len(partial) == 1 else 'sum'} "
        f"fewer than the {len(summed)} quarters {', '.join(summed)}, a quarter with no value in "
        f"silver (not published yet, or quarantined): {named})"
    )


def _quarantine_note(rows: int, source_file: str) -> str:
    """A line under the best years when silver set rows of their file aside: the table looks
    whole, but a year that lost a value it sums (a quarter) sums the others, which may cost it
    its place. Which rows were such values is in silver.quarantine, not in the counts."""
    return (
        f"({rows:,} {'row' if rows == 1 else 'rows'} of {source_file} quarantined by silver, "
        "counted below: a year that lost a value it sums adds up the others, and may have lost "
        "its place as its series' best; silver.quarantine holds each row with its series, year "
        "and period)"
    )


def _best_year_section(
    best: list[dict],
    limit: int | None,
    summed: list[str] | None,
    source_file: str | None = None,
    quarantined: int = 0,
) -> list[str]:
    """The best-year table and its notes; `source_file` is the file the view reads (unknown in
    a report saved before it was recorded), `quarantined` the rows of it silver set aside."""
    shown = best if limit is None else best[:limit]
    # `periods` is absent from a report saved before it was counted, and `summed` too, or null
    # when the view's periods could not be read.
    counted = bool(best) and all("periods" in r for r in best)
    columns, align = ["series_id", "year", "value"], "lrr"
    if counted:
        columns, align = [*columns, "periods"], align + "r"
    of = f" of {source_file}" if source_file else ""
    heading = f"2. Best year per series{of}: the year of the largest summed quarterly value"
    if summed and ANNUAL in summed:
        heading = (
            f"2. Best year per series{of}: the year of the largest sum of its quarterly and "
            "annual values"
        )
    lines = [
        *_heading(heading),
        format_table(
            columns,
            [
                [r["series_id"], str(r["year"]), _number(r["value"], 3)]
                + ([str(r["periods"])] if counted else [])
                for r in shown
            ],
            align=align,
        ),
    ]
    if len(shown) < len(best):
        lines.append(f"(first {len(shown)} of {len(best)} rows; `quest report --all` for all)")
    elif best:
        lines.append(f"({len(best)} rows)")
    else:
        lines.append(
            "(no rows: silver holds no quarterly value of the current file; check its name, "
            "QUEST_CURRENT_FILE or the gold notebook's current_file)"
        )
    note = _partial_note(best, summed) if counted and summed else None
    if note:
        lines.append(note)
    if quarantined and source_file:
        lines.append(_quarantine_note(quarantined, source_file))
    return lines


def _series_section(series: list[dict], asked: str | None, period: str | None) -> list[str]:
    if not series:
        # Named as the view was asked (a report saved before it was recorded has neither).
        what = f"{asked} / {period}" if asked and period else "the series and period asked"
        return [
            *_heading("3. Series against population"),
            f"no rows: the current file has no value of {what}; check QUEST_REPORT_SERIES and "
            "QUEST_REPORT_PERIOD (the gold notebook's report_series and report_period)",
        ]
    first = series[0]
    return [
        *_heading(f"3. {first['series_id']} / {first['period']} value against US population"),
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


def _quality_section(quarantine: list[dict]) -> list[str]:
    lines = _heading("Data quality: rows silver quarantined, per rule and file")
    if not quarantine:
        return [*lines, "no row quarantined"]
    total = sum(r["rows"] for r in quarantine)
    return [
        *lines,
        format_table(
            ["rule", "file", "rows"],
            [[r["rule"], r["source_file"], f"{r['rows']:,}"] for r in quarantine],
            align="llr",
        ),
        f"({total:,} {'row' if total == 1 else 'rows'} in all; each with its raw record in "
        "silver.quarantine)",
    ]


def format_report(
    report: dict, quarantine: list[dict] | None = None, limit: int | None = FIRST_ROWS
) -> str:
    """The three answers for people, each under its heading, then the data-quality section.

    Args:
        report: the answers (`gold_report`).
        quarantine: rows quarantined per rule and file (`quarantine_summary`); None leaves the
            data-quality section out.
        limit: best-year rows shown (the count and a hint follow); None shows every row.
    """
    source_file = report.get("current_file")  # absent in a report saved before it was recorded
    quarantined = sum(
        q["rows"]
        for q in quarantine or []
        if q["source_file"] == source_file and q["target_table"] == OBSERVATIONS
    )
    sections = [
        _population_section(report["population_stats"]),
        _best_year_section(
            report["best_year"], limit, report.get("summed_periods"), source_file, quarantined
        ),
        _series_section(
            report["series_report"], report.get("report_series"), report.get("report_period")
        ),
    ]
    if quarantine is not None:
        sections.append(_quality_section(quarantine))
    return "\n\n".join("\n".join(section) for section in sections)


def views_created_otherwise(spark, settings: Settings) -> dict[str, dict[str, tuple]]:
    """The gold views whose SQL is not what `settings` give: they answer with the parameters
    they were created with (another series, file or years), until created again. Each with
    those of its parameters that differ, read from its SQL (`parameters_differing`: empty when
    the difference is elsewhere, such as the mapping views it joins)."""
    return {
        name: parameters_differing(sql.view, sql.stored or "", settings)
        for name, sql in gold_view_sql(spark, settings).items()
        if not sql.current
    }


def created_with(differing: dict[str, tuple], name_of, here: str) -> str:
    """What a view was created with, from `views_created_otherwise`: each parameter that
    differs, named by `name_of` (a variable, a widget), its value in the view and `here`'s."""
    return ", ".join(
        f"{name_of(name)}={_shown(view)} ({here}: {_shown(ours)})"
        for name, (view, ours) in differing.items()
    )


def created_elsewise(name: str, settings: Settings) -> str:
    """How a gold view whose SQL names no other parameter was created otherwise: the best-year
    view may join other mapping views; any view may be another version of quest's SQL."""
    if name == settings.table("gold", "best_year_by_series"):
        return "with other mapping views to join, or by another version of quest"
    return "by another version of quest"


def _shown(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _warn_if_created_otherwise(spark, settings: Settings) -> None:
    """Warn, naming each view and what it was created with, when a gold view's SQL is not what
    these settings give: the report reads the views as they were created (another series,
    file or years, asked here, change nothing until `quest run` creates them again)."""
    for name, differing in views_created_otherwise(spark, settings).items():
        if differing:
            how = "with " + created_with(differing, lambda n: VAR_OF[n], "these settings")
        else:
            how = created_elsewise(name, settings)
        log.warning(
            "%s was created %s: its answers are those it was created with; `quest run` "
            "creates it again with these settings",
            name,
            how,
        )


def print_report(settings: Settings, as_json: bool = False, show_all: bool = False) -> int:
    """Print the answers from the catalog under the local home (used by `quest report`): the
    compact text (the first best-year rows, `show_all` for every one) or the answers as JSON,
    each followed by the rows silver quarantined, per rule and file (`quarantine_summary`)."""
    from quest.spark import (
        get_spark,
        hold_catalog,
        local_session_settings,
        require_local_catalog,
    )

    if not on_databricks() and settings.workspace_catalog:
        # QUEST_ENV=dev on a laptop: the local catalog has no Unity Catalog catalog.
        raise ConfigError(
            f"the answers are in the Unity Catalog catalog {settings.catalog!r} (QUEST_ENV="
            f"{settings.env} or QUEST_CATALOG), which the local Spark does not have: read them "
            "in the workspace (the gold_analysis task's output in a quest_pipeline job run, or the "
            "gold notebook), or unset QUEST_ENV "
            "and QUEST_CATALOG for the local home's answers"
        )
    report_parameters(settings)  # before Spark starts, as `quest run` refuses them
    if not on_databricks():
        refuse_colon(settings.home)  # no catalog can be there: not "run `quest run` first"
    if not on_databricks():
        require_local_catalog(settings.home, "QUEST_HOME (or --home)")
        local_session_settings()  # refused before the line says Spark starts
        hold_catalog(settings.home, settings.lock_timeout)  # another run's, said before it too
    # On stderr (stdout stays the report alone, JSON or text), plain as `quest run` says it,
    # unless -q: the JVM takes 10 s or more to start.
    if log.isEnabledFor(logging.INFO):
        print(f"starting Spark to read the catalog under {settings.home} ...", file=sys.stderr)
    spark = get_spark(settings, app_name="quest-report")
    require_gold_views(spark, settings)
    _warn_if_created_otherwise(spark, settings)
    report = gold_report(spark, settings)
    quarantine = quarantine_summary(spark, settings)
    if as_json:
        # the data-quality section too, as the text report ends with it
        print(json.dumps({**report, "quarantine": quarantine}, indent=2))
    else:
        print(format_report(report, quarantine, limit=None if show_all else FIRST_ROWS))
    return 0
