"""A PNG chart of the scale benchmark: seconds against rows, one line per engine."""

from __future__ import annotations

from pathlib import Path

LABELS = {
    "pipeline": "quest pipeline (Spark + Delta, bronze/silver/gold)",
    "plain_spark": "plain Spark (the floor)",
    "pandas": "pandas (read as text, strip, parse)",
    "duckdb": "DuckDB",
}


def plot_scale(scale: dict, path: Path) -> Path | None:
    """Draw seconds against rows for each engine that finished; None when there is nothing."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    series: dict[str, list[tuple[int, float]]] = {}
    for rows_text, entry in scale.items():
        for engine, result in entry.get("engines", {}).items():
            if result.get("status") == "ok":
                series.setdefault(engine, []).append((int(rows_text), result["seconds"]))
    if not series:
        return None
    figure, axes = plt.subplots(figsize=(8, 5.5))
    for engine, points in series.items():
        points.sort()
        axes.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker="o",
            label=LABELS.get(engine, engine),
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("rows in the data file")
    axes.set_ylabel("seconds, process start to exit")
    axes.set_title("The three quest answers from one BLS-format file")
    axes.grid(True, which="both", alpha=0.3)
    # Below the axes: inside, it would hide the lines it names.
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
