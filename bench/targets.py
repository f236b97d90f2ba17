"""The performance targets, checked against one benchmark run: met, missed or not measured."""

from __future__ import annotations

from bench.child import MIB
from quest.results import TaskResult

MET, MISSED, NOT_MEASURED = "met", "missed", "not measured"
# In one warm process (a job cluster between tasks): a no-change run against a cold one.
UNCHANGED_SHARE = 0.35
# Each run a new process (what a user pays): a no-change run against a cold one, with no JVM.
NEW_PROCESS_UNCHANGED_SHARE = 0.10
# A cold `quest run` on the real snapshot against plain Spark answering the same.
COLD_VS_PLAIN_SPARK = 2.0
# The cold pipeline at 10M rows against plain Spark: the goal, and the long-term aim.
OVERHEAD = 2.5
OVERHEAD_AIM = 1.5
# The pipeline's peak memory at 10M rows against plain Spark's.
MEMORY_VS_PLAIN_SPARK = 2.0
DUCKDB_FACTOR = 3.0
RIVAL_FROM_ROWS = 10_000_000
DUCKDB_AT_ROWS = 50_000_000
MEDALLION_AT_ROWS = 10_000_000


def _target(name: str, goal: str, status: str, figure: str) -> dict:
    return {"target": name, "goal": goal, "status": status, "figure": figure}


def _get(data: dict | None, *path: str):
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _verdict(ok: bool) -> str:
    return MET if ok else MISSED


def row_counts(record: dict | None, layer: str = "silver") -> dict[str, int] | None:
    """Rows inserted / updated / deleted in `layer` by a run, from its saved run record.

    Read from the task results whose layer is `layer`; None when the record has none.
    """
    found: dict[str, int] = {}
    for task in (record or {}).get("tasks", {}).values():
        data = task.get("result") if isinstance(task, dict) else None
        result = TaskResult.from_dict(data) if data else None
        if result is None or result.layer is None or result.layer.layer != layer:
            continue
        for kind in ("inserted", "updated", "deleted"):
            count = result.layer.total(f"rows_{kind}")
            if count is not None:
                found[kind] = found.get(kind, 0) + count
    return found or None


def _succeeded(run: dict | None) -> bool:
    """A warm run whose record says it succeeded (a failed one still has seconds)."""
    return isinstance(run, dict) and run.get("status", "success") == "success"


def sync_targets(sync: dict | None) -> list[dict]:
    unchanged = _get(sync, "unchanged", "summary")
    changed = _get(sync, "one_file_changed", "summary")
    change = _get(sync, "one_file_changed", "changed")
    if unchanged is None:
        return [
            _target("Sync, nothing changed: no body bytes, no uploads", "0 / 0", NOT_MEASURED, "-")
        ]
    matches = _get(sync, "store_matches_source")
    uploads = unchanged.get("uploaded", 0) + unchanged.get("replaced", 0)
    down = _body_bytes(sync["unchanged"])
    out = [
        _target(
            "Sync, nothing changed: no body bytes, no uploads",
            "0 file body bytes, 0 uploads",
            _verdict(down == 0 and uploads == 0),
            f"{down} body bytes, {uploads} uploads",
        )
    ]
    if changed is not None and change is not None:
        uploads = changed.get("uploaded", 0) + changed.get("replaced", 0)
        down = _body_bytes(sync["one_file_changed"])
        out.append(
            _target(
                "Sync, one file changed: only that file downloaded",
                f"{change['bytes']} body bytes, 1 upload",
                _verdict(down == change["bytes"] and uploads == 1),
                f"{down} body bytes, {uploads} uploads",
            )
        )
    out.append(
        _target(
            "Sync, after the three runs: the store equals the source byte for byte",
            "equal",
            NOT_MEASURED if matches is None else _verdict(matches is True),
            "-" if matches is None else ("equal" if matches is True else "differs"),
        )
    )
    return out


def _body_bytes(scenario: dict) -> int | None:
    # The mirror's own count of file bodies sent; the sync's `bytes_down` includes the listing.
    if "file_body_bytes" in scenario:
        return scenario["file_body_bytes"]
    return scenario["summary"].get("bytes_down")


def workflow_targets(workflow: dict | None) -> list[dict]:
    """The warm-process goals and the new-process goals of `quest run`."""
    return warm_targets(_get(workflow, "warm")) + new_process_targets(_get(workflow, "new_process"))


def _commits(run: dict) -> str:
    """The medallion's commits, and the ops tables' (the run's history rows) beside them."""
    ops = run.get("ops_commits")
    return f"{run['delta_commits']} commits" + ("" if ops is None else f" (+{ops} ops)")


def _ok(scenario: dict | None) -> bool:
    return isinstance(scenario, dict) and scenario.get("status", "ok") == "ok"


def new_process_targets(runs: dict | None) -> list[dict]:
    """Each `quest run` a new process: the no-change share and the cost against plain Spark."""
    cold, unchanged = _get(runs, "cold"), _get(runs, "unchanged")
    plain = _get(runs, "plain_spark")
    name = "No-change quest run / cold quest run, each a new process"
    goal = f"<= {NEW_PROCESS_UNCHANGED_SHARE:.2f}, and no JVM started"
    if not (_ok(cold) and _ok(unchanged)):
        out = [_target(name, goal, NOT_MEASURED, "-")]
    else:
        share = unchanged["seconds"] / cold["seconds"]
        jvm = "a JVM started" if unchanged["jvm"] else "no JVM"
        out = [
            _target(
                name,
                goal,
                _verdict(share <= NEW_PROCESS_UNCHANGED_SHARE and not unchanged["jvm"]),
                f"{share:.2f} ({unchanged['seconds']:.1f} s of {cold['seconds']:.1f} s); {jvm}",
            ),
            _target(
                "No-change quest run, a new process: no Delta commit outside the run history",
                "0 commits",
                _verdict(unchanged["delta_commits"] == 0),
                _commits(unchanged),
            ),
        ]
    name = "Cold quest run / plain Spark on the real snapshot, each a new process"
    goal = f"<= {COLD_VS_PLAIN_SPARK:g}x"
    if not (_ok(cold) and _ok(plain)):
        out.append(_target(name, goal, NOT_MEASURED, "-"))
    elif not _get(runs, "agreement", "equal"):
        out.append(_target(name, goal, NOT_MEASURED, "the answers differ, or were not compared"))
    else:
        factor = cold["seconds"] / plain["seconds"]
        out.append(
            _target(
                name,
                goal,
                _verdict(factor <= COLD_VS_PLAIN_SPARK),
                f"{factor:.2f}x ({cold['seconds']:.1f} s vs {plain['seconds']:.1f} s)",
            )
        )
    return out


def warm_targets(workflow: dict | None) -> list[dict]:
    """All three runs in one process and one Spark session (a job cluster between tasks)."""
    cold, unchanged = _get(workflow, "cold"), _get(workflow, "unchanged")
    changed = _get(workflow, "one_value_changed")
    if not (_succeeded(cold) and _succeeded(unchanged)):
        return [
            _target("Workflow, nothing changed", "0 commits, <= 35% of cold", NOT_MEASURED, "-")
        ]
    share = unchanged["seconds"] / cold["seconds"] if cold["seconds"] else float("inf")
    out = [
        _target(
            "Workflow, nothing changed, warm process: no Delta commit outside the run history",
            "0 commits",
            _verdict(unchanged["delta_commits"] == 0),
            _commits(unchanged),
        ),
        _target(
            "Workflow, nothing changed, warm process: at most 35% of the cold run",
            f"<= {UNCHANGED_SHARE:.0%}",
            _verdict(share <= UNCHANGED_SHARE),
            f"{share:.0%} ({unchanged['seconds']:.1f} s of {cold['seconds']:.1f} s)",
        ),
    ]
    if _succeeded(changed):
        counts = row_counts(changed.get("record"))
        if counts is not None and set(counts) != {"inserted", "updated", "deleted"}:
            counts = None  # a kind the result did not count is not a count of 0
        figure = (
            "not in the run record"
            if counts is None
            else ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
        )
        status = (
            NOT_MEASURED
            if counts is None
            else _verdict(
                counts.get("updated", 0) == 1
                and counts.get("inserted", 0) == 0
                and counts.get("deleted", 0) == 0
            )
        )
        out.append(
            _target(
                "Workflow, one value changed: only its row rewritten in silver",
                "1 updated, 0 inserted, 0 deleted",
                status,
                figure + f"; {changed['delta_commits']} Delta commits",
            )
        )
    return out


def _seconds(scale: dict | None, rows: int, engine: str) -> float | None:
    result = _get(scale, str(rows), "engines", engine)
    if result is None or result.get("status") != "ok":
        return None
    return result["seconds"]


def _status_of(scale: dict | None, rows: int, engine: str) -> str | None:
    return _get(scale, str(rows), "engines", engine, "status")


def scale_targets(scale: dict | None) -> list[dict]:
    out = []
    if isinstance(scale, dict) and "error" in scale:
        name = "Answers equal across engines"
        out.append(_target(name, "-", NOT_MEASURED, f"the benchmark failed: {scale['error']}"))
    measured = sorted(int(r) for r in (scale or {}) if str(r).isdigit())
    goal = "identical best years and report, stats within 1e-6"
    for rows in measured:
        agreement = _get(scale, str(rows), "agreement") or {}
        name = f"Answers equal across engines at {rows:,} rows"
        compared = agreement.get("compared", [])
        if len(compared) < 2 or "pipeline" not in compared:  # one engine agrees with itself
            answered = ", ".join(compared) or "none"
            out.append(_target(name, goal, NOT_MEASURED, f"answered: {answered}"))
            continue
        out.append(
            _target(
                name,
                goal,
                _verdict(bool(agreement.get("all_equal"))),
                "equal (" + ", ".join(compared) + ")"
                if agreement.get("all_equal")
                else f"differences: {agreement.get('differences')}",
            )
        )
    out += medallion_targets(scale)
    for rows in (r for r in measured if r >= RIVAL_FROM_ROWS):
        ours, theirs = _seconds(scale, rows, "pipeline"), _seconds(scale, rows, "pandas")
        pandas_status = _status_of(scale, rows, "pandas")
        name = f"Ahead of seed-style pandas at {rows:,} rows"
        if ours is not None and pandas_status == "out of memory":
            # pandas runs under an address-space cap the pipeline does not have: not a race.
            figure = f"{ours:.1f} s; pandas out of memory under its address-space cap"
            out.append(_target(name, "pipeline faster", NOT_MEASURED, figure))
        elif ours is None or theirs is None:
            out.append(_target(name, "pipeline faster", NOT_MEASURED, "-"))
        else:
            out.append(
                _target(
                    name,
                    "pipeline faster",
                    _verdict(ours < theirs),
                    f"{ours:.1f} s vs {theirs:.1f} s",
                )
            )
    ours, duck = (
        _seconds(scale, DUCKDB_AT_ROWS, "pipeline"),
        _seconds(scale, DUCKDB_AT_ROWS, "duckdb"),
    )
    name = "Within 3x of DuckDB at 50M rows"
    if ours is None or duck is None:
        out.append(
            _target(name, f"<= {DUCKDB_FACTOR}x DuckDB", NOT_MEASURED, "run with SCALE=large")
        )
    else:
        out.append(
            _target(
                name,
                f"<= {DUCKDB_FACTOR}x DuckDB",
                _verdict(ours <= DUCKDB_FACTOR * duck),
                f"{ours / duck:.1f}x ({ours:.1f} s vs {duck:.1f} s)",
            )
        )
    return out


def medallion_targets(scale: dict | None) -> list[dict]:
    """The cold pipeline at 10M rows against plain Spark: time and peak memory."""
    name = "Cold pipeline at 10M rows / plain Spark"
    goal = f"<= {OVERHEAD:g}x (long-term aim {OVERHEAD_AIM:g}x)"
    pipeline, floor = (
        _seconds(scale, MEDALLION_AT_ROWS, "pipeline"),
        _seconds(scale, MEDALLION_AT_ROWS, "plain_spark"),
    )
    agreement = _get(scale, str(MEDALLION_AT_ROWS), "agreement") or {}
    same = agreement.get("all_equal") and {"pipeline", "plain_spark"} <= set(
        agreement.get("compared", [])
    )
    if not same:  # the work compared was not the same work
        pipeline = floor = None
    if pipeline is None or floor is None:
        out = [_target(name, goal, NOT_MEASURED, "-")]
    else:
        out = [
            _target(
                name,
                goal,
                _verdict(pipeline <= OVERHEAD * floor),
                f"{pipeline / floor:.2f}x ({pipeline:.1f} s vs {floor:.1f} s)",
            )
        ]
    name = "Pipeline peak memory at 10M rows / plain Spark's"
    goal = f"<= {MEMORY_VS_PLAIN_SPARK:g}x"
    ours = _peak(scale, MEDALLION_AT_ROWS, "pipeline")
    theirs = _peak(scale, MEDALLION_AT_ROWS, "plain_spark")
    if ours is None or theirs is None or not same:
        out.append(_target(name, goal, NOT_MEASURED, "-"))
    else:
        out.append(
            _target(
                name,
                goal,
                _verdict(ours <= MEMORY_VS_PLAIN_SPARK * theirs),
                f"{ours / theirs:.1f}x ({ours / MIB:,.0f} MiB vs {theirs / MIB:,.0f} MiB)",
            )
        )
    return out


def _peak(scale: dict | None, rows: int, engine: str) -> int | None:
    result = _get(scale, str(rows), "engines", engine)
    if result is None or result.get("status") != "ok" or not result.get("peak_rss"):
        return None
    return result["peak_rss"]


def memory_targets(memory: dict | None) -> list[dict]:
    out = []
    goal = (memory or {}).get("goal_bytes", 150 * MIB)
    size = (memory or {}).get("file_bytes", 1 << 30)
    for target in ("local", "s3"):
        entry = _get(memory, target)
        name = f"Sync of a {size / MIB:,.0f} MiB file to {target}: flat memory"
        if entry is None or entry.get("status") != "ok":
            status = "-" if entry is None else entry.get("status")
            out.append(_target(name, f"< {goal / MIB:.0f} MiB", NOT_MEASURED, str(status)))
            continue
        peak = entry["peak_rss"]
        out.append(
            _target(name, f"< {goal / MIB:.0f} MiB", _verdict(peak < goal), f"{peak / MIB:.0f} MiB")
        )
    return out


def evaluate(results: dict) -> list[dict]:
    """Every performance target with its status and the figure it was judged on."""
    return (
        sync_targets(results.get("sync"))
        + workflow_targets(results.get("workflow"))
        + scale_targets(results.get("scale"))
        + memory_targets(results.get("memory"))
    )
