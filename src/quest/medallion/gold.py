"""Gold: the quest's three answers as Spark SQL views over silver, parameterised at creation.

Views cost nothing to refresh: re-creating them only rewrites catalog text, never data.
"""

from __future__ import annotations

import logging
import re
from typing import NamedTuple

from quest.config import Settings
from quest.errors import ConfigError
from quest.medallion.rules import SERIES_ID
from quest.medallion.silver_tables import OBSERVATIONS, POPULATION
from quest.medallion.tables import sql_str, table_exists
from quest.results import Action, LayerResult, TableResult
from quest.spark import ensure_schemas

log = logging.getLogger(__name__)

QUARTERS = ("Q01", "Q02", "Q03", "Q04")
ANNUAL = "Q05"


def summed_periods(include_annual: bool) -> tuple[str, ...]:
    """The periods summed per year: the four quarters, plus the annual average on request."""
    return (*QUARTERS, ANNUAL) if include_annual else QUARTERS


def _summed_clause(include_annual: bool) -> str:
    """The best-year view's filter on the periods it sums."""
    periods = ", ".join(sql_str(p, "period") for p in summed_periods(include_annual))
    return f"period IN ({periods})"


def view_summed_periods(view_sql: str | None) -> tuple[str, ...] | None:
    """The periods a best-year view's stored SQL sums, read from its filter; None when the text
    is not one `best_year_sql` wrote (or there is no view)."""
    for include_annual in (True, False):
        if view_sql and _summed_clause(include_annual) in view_sql:
            return summed_periods(include_annual)
    return None


def view_current_file(view_sql: str | None) -> str | None:
    """The data file a best-year view's stored SQL reads, from its filter; None when the text
    is not one `best_year_sql` wrote (or there is no view)."""
    pattern = _PARAMETERS_IN_SQL["best_year_by_series"]["current_file"]
    match = re.search(pattern, view_sql or "")
    return match[1] if match else None


def population_stats_sql(settings: Settings) -> str:
    if settings.start_year > settings.end_year:
        raise ConfigError(
            f"start_year={settings.start_year} is after end_year={settings.end_year}; "
            "set QUEST_START_YEAR <= QUEST_END_YEAR"
        )
    population = settings.table("silver", POPULATION)
    return f"""
        SELECT CAST({settings.start_year} AS INT) AS start_year,
               CAST({settings.end_year} AS INT) AS end_year,
               CAST(COUNT(population) AS INT) AS years,
               AVG(CAST(population AS DECIMAL(38, 0))) AS mean,
               STDDEV_SAMP(CAST(population AS DOUBLE)) AS stddev
        FROM {population}
        WHERE year BETWEEN {settings.start_year} AND {settings.end_year}
    """


# Silver's mapping views the best-year view may join for its measure and sector text.
MAPPING_VIEWS = ("pr_series", "pr_measure", "pr_sector")


def best_year_sql(settings: Settings, enrich: dict[str, bool]) -> str:
    """For each series of the current file: the year with the largest summed value (exact
    DECIMAL sums), ties to the earliest year; measure and sector text where mapped."""
    observations = settings.table("silver", OBSERVATIONS)
    current = sql_str(settings.current_file, "QUEST_CURRENT_FILE")
    joins, measure, sector = "", "CAST(NULL AS STRING)", "CAST(NULL AS STRING)"
    if enrich.get("pr_series"):
        joins += (
            f" LEFT JOIN {settings.table('silver', 'pr_series')} ser ON ser.series_id = b.series_id"
        )
        if enrich.get("pr_measure"):
            joins += (
                f" LEFT JOIN {settings.table('silver', 'pr_measure')} m"
                " ON m.measure_code = ser.measure_code"
            )
            measure = "m.measure_text"
        if enrich.get("pr_sector"):
            joins += (
                f" LEFT JOIN {settings.table('silver', 'pr_sector')} sec"
                " ON sec.sector_code = ser.sector_code"
            )
            sector = "sec.sector_name"
    return f"""
        WITH sums AS (
            SELECT series_id, year, SUM(value) AS value, COUNT(*) AS periods
            FROM {observations}
            WHERE source_file = {current} AND {_summed_clause(settings.include_annual)}
            GROUP BY series_id, year
        ),
        best AS (
            SELECT *, ROW_NUMBER() OVER (PARTITION BY series_id ORDER BY value DESC, year ASC) AS rank
            FROM sums
        )
        SELECT b.series_id, b.year, b.value, b.periods,
               {measure} AS measure_text, {sector} AS sector_name
        FROM best b{joins}
        WHERE b.rank = 1
    """


# What a series id and a period code silver keeps look like (the rule `series_id_format`; BLS's
# period codes, Q01 to Q05 here): a report parameter of another shape can match no row.
_SERIES_ID = re.compile(SERIES_ID)
_PERIOD_CODE = re.compile(r"[A-Z][0-9]{2}")


def report_parameters(settings: Settings) -> None:
    """Refuse a report series or period no silver row can have (`prs30006032`, `Q1`): the view
    was created, answered nothing, and the run succeeded."""
    series, period = settings.report_series, settings.report_period
    if not _SERIES_ID.fullmatch(series):
        raise ConfigError(
            f"report_series={series!r} (QUEST_REPORT_SERIES) can match no row: silver keeps "
            "series ids like PRS30006032 (PR, a capital letter, then 8 capital letters or digits)"
        )
    if not _PERIOD_CODE.fullmatch(period):
        raise ConfigError(
            f"report_period={period!r} (QUEST_REPORT_PERIOD) can match no row: BLS periods are "
            "codes like Q01 (a capital letter and two digits; Q01-Q04 the quarters, Q05 the year)"
        )


def series_report_sql(settings: Settings) -> str:
    observations = settings.table("silver", OBSERVATIONS)
    population = settings.table("silver", POPULATION)
    report_parameters(settings)  # first: it names the variable and the shape wanted
    series = sql_str(settings.report_series, "QUEST_REPORT_SERIES")
    period = sql_str(settings.report_period, "QUEST_REPORT_PERIOD")
    return f"""
        SELECT o.series_id, o.year, o.period, o.value, p.population
        FROM {observations} o
        LEFT JOIN {population} p ON p.year = o.year
        WHERE o.source_file = {sql_str(settings.current_file, "QUEST_CURRENT_FILE")}
          AND o.series_id = {series}
          AND o.period = {period}
    """


def view_bodies(settings: Settings, enrich: dict[str, bool]) -> dict[str, str]:
    """The SQL body of each gold view for `settings`' parameters (pure: no Spark needed).

    Args:
        settings: where the tables live and the answers' parameters.
        enrich: per mapping view (`pr_series`, `pr_measure`, `pr_sector`), whether the best-year
            view may join it for measure and sector text.
    """
    return {
        "population_stats": population_stats_sql(settings),
        "best_year_by_series": best_year_sql(settings, enrich),
        "series_population_report": series_report_sql(settings),
    }


# Per mapping view the best-year view joins: the code it joins on, and the other columns it
# reads. Silver keeps one row per code only for a file's first column (`conflicting_duplicate`),
# so a file whose columns came in another order (its code not first) is not joined: two texts
# for one code would give a series two best-year rows.
_JOINED = {
    "pr_series": ("series_id", {"measure_code", "sector_code"}),
    "pr_measure": ("measure_code", {"measure_text"}),
    "pr_sector": ("sector_code", {"sector_name"}),
}
# The columns of a mapping view besides its file's own (`silver_tables.mapping_view`).
_LINEAGE = ("source_file", "_source_sha256", "_loaded_at")


def _mapping_columns_ok(spark, settings: Settings) -> dict[str, bool]:
    from pyspark.errors import AnalysisException

    found = {}
    for table, (code, columns) in _JOINED.items():
        name = settings.table("silver", table)
        try:
            found[table] = table_exists(spark, name) and _joinable(
                name, spark.table(name).columns, code, columns
            )
        except AnalysisException as exc:
            # A view over a table dropped by hand (silver's pr_mapping, once every mapping file
            # had left the source): the best-year view goes without its text, not the load.
            log.warning("%s cannot be read (%s); not joined", name, str(exc).splitlines()[0])
            found[table] = False
    return found


def _joinable(name: str, view_columns: list[str], code: str, columns: set[str]) -> bool:
    own = [c for c in view_columns if c not in _LINEAGE]
    if not own or own[0] != code:
        if code in own:
            why = "silver keeps a mapping file's first column unique, no other"
            log.warning("%s starts with %s, not %s (%s): not joined", name, own[0], code, why)
        return False
    return columns <= set(own)


def view_text(spark, name: str) -> str | None:
    """The stored SQL of an existing view (a catalog call, no Spark job), or None."""
    if not table_exists(spark, name):
        return None
    for row in spark.sql(f"DESCRIBE TABLE EXTENDED {name}").collect():
        if row["col_name"] == "View Text":
            return (row["data_type"] or "").strip()
    return None


class ViewSQL(NamedTuple):
    """A gold view's SQL: what the settings give it, and what the catalog holds."""

    view: str  # its short name (`population_stats`...)
    body: str  # the SQL the settings give it
    stored: str | None  # the SQL the catalog holds for it; None when there is no view

    @property
    def current(self) -> bool:
        """Whether the view in the catalog holds the settings' SQL already."""
        return self.stored == self.body.strip()


def gold_view_sql(spark, settings: Settings) -> dict[str, ViewSQL]:
    """Per gold view (its full name): the SQL `settings` give it and the SQL the catalog holds
    for it (catalog calls, no Spark job)."""
    found = {}
    for view, body in view_bodies(settings, _mapping_columns_ok(spark, settings)).items():
        name = settings.table("gold", view)
        found[name] = ViewSQL(view, body, view_text(spark, name))
    return found


def create_gold_views(spark, settings: Settings) -> LayerResult:
    """Create or replace the three gold views for `settings`' parameters.

    Returns:
        Per view whether it was replaced or is unchanged, and the parameters it was created with.

    Raises:
        ConfigError: for a parameter that cannot be used (naming it), or when silver is empty.
    """
    # Silver first: gold run by hand before any load creates no schema (with a Unity Catalog, a
    # schema created by a person is theirs, and the job's principal could not write in it).
    for table in (OBSERVATIONS, POPULATION):
        if not table_exists(spark, settings.table("silver", table)):
            raise ConfigError(
                f"{settings.table('silver', table)} does not exist: run the bronze and silver "
                "tasks before the gold task"
            )
    ensure_schemas(spark, settings)
    tables = {}
    for name, sql in gold_view_sql(spark, settings).items():
        if sql.current:
            reason = "definition unchanged; the view reads silver as it is now"
            tables[name] = TableResult.unchanged(reason)
            continue
        spark.sql(f"CREATE OR REPLACE VIEW {name} AS {sql.body}")
        tables[name] = TableResult(Action.VIEW_REPLACED)
    return LayerResult("gold", tables, parameters=view_parameters(settings))


# Where each gold view's SQL, as `view_bodies` writes it, holds the parameters it was created
# with (the best-year view's `include_annual` is read from the periods it sums).
_PARAMETERS_IN_SQL = {
    "population_stats": {
        "start_year": r"CAST\((\d+) AS INT\) AS start_year",
        "end_year": r"CAST\((\d+) AS INT\) AS end_year",
    },
    "best_year_by_series": {"current_file": r"WHERE source_file = '([^']*)' AND "},
    "series_population_report": {
        "current_file": r"o\.source_file = '([^']*)'",
        "report_series": r"o\.series_id = '([^']*)'",
        "report_period": r"o\.period = '([^']*)'",
    },
}


def parameters_differing(view: str, view_sql: str, settings: Settings) -> dict[str, tuple]:
    """The parameters a gold view (`population_stats`...) was created with, read from its stored
    SQL, where they differ from `settings`': parameter -> (the view's value, the settings').
    Empty when none does, or none can be read (another difference: the mapping views it joins,
    the tables it reads, or the SQL of an older quest)."""
    wanted = view_parameters(settings)
    found: dict[str, object] = {
        name: int(value) if isinstance(wanted[name], int) else value
        for name, value in view_sql_parameters(view, view_sql).items()
    }
    if view == "best_year_by_series" and (periods := view_summed_periods(view_sql)):
        found["include_annual"] = ANNUAL in periods
    return {name: (value, wanted[name]) for name, value in found.items() if value != wanted[name]}


def view_sql_parameters(view: str, view_sql: str) -> dict[str, str]:
    """The parameters a gold view (`population_stats`...) holds in its stored SQL, as text, by
    name: those that can be read (none from the SQL of an older quest)."""
    return {
        name: match[1]
        for name, pattern in _PARAMETERS_IN_SQL.get(view, {}).items()
        if (match := re.search(pattern, view_sql))
    }


def view_parameters(settings: Settings) -> dict[str, object]:
    """The settings the gold views are made with, by name."""
    return {
        "current_file": settings.current_file,
        "start_year": settings.start_year,
        "end_year": settings.end_year,
        "include_annual": settings.include_annual,
        "report_series": settings.report_series,
        "report_period": settings.report_period,
    }
