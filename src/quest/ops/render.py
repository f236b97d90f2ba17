"""A picture of the dashboard drawn from the local catalog, for the docs and for a laptop.

    python -m quest.ops.render [--home .quest] [--out <home>/dashboard.png]

Each panel runs the query of one widget of `dashboards/quest.lvdash.json` (its dataset with the
local table names, then the widget's own fields) on local Spark, and draws it with matplotlib
(the bench extra). It shows what the deployed dashboard shows, not how Databricks draws it.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from quest.config import Settings, load_settings
from quest.ops import dashboard as db

# (widget name, panel title): the panels, in reading order.
PANELS = (
    ("population_band_chart", "US population, mean and 1 sd band"),
    ("best_year_distribution", "Series per best year"),
    ("series_against_population", "Report series against population"),
    ("quarantine_by_rule", "Quarantined rows per rule, per run"),
    ("file_freshness_table", "Last change per file"),
    ("duration_per_task", "Seconds per task per day"),
)


def widget_rows(spark, settings: Settings, widget: str, dashboard: dict | None = None):
    """The rows the dashboard's `widget` shows, computed from the local catalog."""
    dashboard = dashboard or db.load()
    sql = db.datasets(dashboard, settings)
    (query,) = [q for q in db.widget_queries(dashboard) if q.widget == widget]
    return spark.sql(db.widget_sql(query, sql[query.dataset])).collect()


def _by(rows, key: str, series: str, value: str) -> dict[str, dict]:
    found: dict[str, dict] = defaultdict(dict)
    for row in rows:
        found[str(row[series])][row[key]] = float(row[value] or 0)
    return found


def _stacked(axes, rows, key: str, series: str, value: str) -> None:
    groups = _by(rows, key, series, value)
    keys = sorted({row[key] for row in rows})
    labels = [str(k)[:16] for k in keys]
    bottom = [0.0] * len(keys)
    for name, values in sorted(groups.items()):
        heights = [values.get(k, 0.0) for k in keys]
        axes.bar(labels, heights, bottom=bottom, label=name)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    axes.legend(fontsize=7)
    axes.tick_params(axis="x", labelrotation=45, labelsize=7)


def _population_band(axes, rows) -> None:
    band = _by(rows, "year", "line", "sum(people)")
    years = sorted(band.get("population", {}))
    low, high = band.get("mean - 1 sd", {}), band.get("mean + 1 sd", {})
    axes.fill_between(
        years,
        [low[y] / 1e6 for y in years],
        [high[y] / 1e6 for y in years],
        alpha=0.2,
        label="mean +/- 1 sd",
    )
    axes.plot(years, [band["mean"][y] / 1e6 for y in years], "--", label="mean")
    axes.plot(years, [band["population"][y] / 1e6 for y in years], "o-", label="population")
    axes.set_ylabel("millions")
    axes.legend(fontsize=7)


def _best_years(axes, rows) -> None:
    rows = sorted(rows, key=lambda r: r["year"])
    axes.bar([str(r["year"]) for r in rows], [r["count(*)"] for r in rows])
    axes.tick_params(axis="x", labelrotation=90, labelsize=7)


def _series_against_population(axes, rows) -> None:
    rows = sorted(rows, key=lambda r: r["year"])
    axes.bar([r["year"] for r in rows], [float(r["sum(value)"]) for r in rows], label="value")
    right = axes.twinx()
    known = [r for r in rows if r["sum(population)"] is not None]
    right.plot(
        [r["year"] for r in known],
        [r["sum(population)"] / 1e6 for r in known],
        "o-",
        color="tab:orange",
        label="population (millions)",
    )
    axes.legend(loc="upper left", fontsize=7)
    right.legend(loc="lower right", fontsize=7)


def _freshness(axes, rows) -> None:
    rows = sorted(rows, key=lambda r: r["source_file"])
    axes.axis("off")
    cells = [
        [r["source_file"], f"{r['last_change_loaded']:%Y-%m-%d %H:%M}", str(r["days_since_change"])]
        for r in rows
    ]
    table = axes.table(
        cellText=cells, colLabels=["file", "change loaded at", "days since"], loc="center"
    )
    table.auto_set_font_size(False)
    table.set_fontsize(7)


def draw(spark, settings: Settings, out: Path) -> Path:
    """Draw the six panels into `out` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dashboard = db.load()
    data = {w: widget_rows(spark, settings, w, dashboard) for w, _ in PANELS}
    fig, grid = plt.subplots(2, 3, figsize=(18, 9))
    panels = dict(zip([w for w, _ in PANELS], grid.flat, strict=True))
    for widget, title in PANELS:
        panels[widget].set_title(title, fontsize=10)
    _population_band(panels["population_band_chart"], data["population_band_chart"])
    _best_years(panels["best_year_distribution"], data["best_year_distribution"])
    _series_against_population(
        panels["series_against_population"], data["series_against_population"]
    )
    _stacked(
        panels["quarantine_by_rule"], data["quarantine_by_rule"], "recorded_at", "rule", "sum(rows)"
    )
    _freshness(panels["file_freshness_table"], data["file_freshness_table"])
    _stacked(panels["duration_per_task"], data["duration_per_task"], "day", "task", "sum(seconds)")

    fig.suptitle("quest: answers, data quality, freshness and runs (local catalog)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quest.ops.render", description=__doc__)
    parser.add_argument("--home", help="the quest home whose catalog to read (QUEST_HOME)")
    parser.add_argument(
        "--out", type=Path, help="the picture to write (default: dashboard.png in the home)"
    )
    args = parser.parse_args(argv)
    from quest.errors import QuestError
    from quest.spark import get_spark, require_local_catalog

    try:
        settings = load_settings().with_overrides(home=args.home)
        require_local_catalog(settings.home, "--home (or QUEST_HOME)")
        out = args.out or settings.home / "dashboard.png"
        print(f"wrote {draw(get_spark(settings, app_name='quest-render'), settings, out)}")
    except QuestError as exc:
        print(f"{parser.prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return exc.exit_status
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
