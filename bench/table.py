"""The benchmark's results as plain-text tables for the terminal (and docs/performance.md)."""

from __future__ import annotations

from bench.child import MIB
from quest.text_table import format_table


def sync_table(sync: dict) -> str:
    rows = []
    for scenario in ("cold", "unchanged", "one_file_changed"):
        entry = sync.get(scenario)
        if not entry:
            continue
        s = entry["summary"]
        counts = [s.get(k, 0) for k in ("uploaded", "replaced", "skipped", "deleted")]
        rows.append(
            [
                scenario,
                s.get("requests", "-"),
                entry.get("file_body_bytes", "-"),
                s.get("bytes_down", "-"),
                s.get("bytes_up", "-"),
                "/".join(str(c) for c in counts),
                f"{entry['wall_seconds']:.2f}",
            ]
        )
    headers = [
        "scenario",
        "requests",
        "file body bytes",
        "bytes down (all)",
        "bytes up",
        "new/replaced/skipped/deleted",
        "seconds",
    ]
    return format_table(headers, rows)


def workflow_table(workflow: dict) -> str:
    """Both ways of running: each `quest run` a new process, and all in one warm process."""
    parts = []
    fresh, warm = workflow.get("new_process"), workflow.get("warm")
    if fresh:
        error = f"\n{fresh['error']}" if "error" in fresh else ""
        parts.append("each run a new process:\n" + new_process_table(fresh) + error)
    if warm:
        body = warm["error"] if "error" in warm else warm_table(warm)
        parts.append("one warm process, one Spark session:\n" + body)
    return "\n\n".join(parts)


def new_process_table(runs: dict) -> str:
    rows = []
    for name in ("cold", "unchanged", "one_value_changed", "plain_spark"):
        entry = runs.get(name)
        if not entry:
            continue
        ok = entry["status"] == "ok"
        rows.append(
            [
                "plain Spark" if name == "plain_spark" else f"quest run, {name}",
                f"{entry['seconds']:.1f}" if ok else entry["status"],
                f"{entry['peak_rss'] / MIB:,.0f}",
                "yes" if entry.get("jvm") else "no",
                str(entry.get("delta_commits", "-")),
                str(entry.get("ops_commits", "-")),
            ]
        )
    if "agreement" in runs:
        equal = runs["agreement"]["equal"]
        rows.append(
            ["answers (cold run, plain Spark)", "equal" if equal else "DIFFER", "", "", "", ""]
        )
    return format_table(["run", "seconds", "peak MiB", "JVM", "Delta commits", "ops commits"], rows)


def warm_table(workflow: dict) -> str:
    scenarios = [s for s in ("cold", "unchanged", "one_value_changed") if s in workflow]
    tasks: list[str] = []
    for scenario in scenarios:
        tasks += [t for t in workflow[scenario]["tasks"] if t not in tasks]
    rows = [[task, *(_fmt(workflow[s]["tasks"].get(task)) for s in scenarios)] for task in tasks]
    rows.append(["all (wall)", *(_fmt(workflow[s]["seconds"]) for s in scenarios)])
    rows.append(["Delta commits", *(str(workflow[s]["delta_commits"]) for s in scenarios)])
    rows.append(["ops commits", *(str(workflow[s].get("ops_commits", "-")) for s in scenarios)])
    return format_table(["seconds", *scenarios], rows)


def _fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}"


def scale_table(scale: dict) -> str:
    rows = []
    for rows_text, entry in scale.items():
        for engine, result in entry["engines"].items():
            ok = result["status"] == "ok"
            rows.append(
                [
                    f"{int(rows_text):,}",
                    engine,
                    f"{result['seconds']:.1f}" if ok else result["status"],
                    f"{result['peak_rss'] / MIB:,.0f}",
                ]
            )
        agreement = entry.get("agreement", {})
        rows.append(["", "answers", "equal" if agreement.get("all_equal") else "DIFFER", ""])
    return format_table(["rows", "engine", "seconds", "peak MiB"], rows)


def memory_table(memory: dict) -> str:
    rows = []
    for target in ("local", "s3"):
        entry = memory.get(target)
        if entry is None:
            continue
        if entry.get("status") != "ok":
            rows.append([target, entry.get("status", "-"), "-", "-"])
            continue
        rows.append(
            [
                target,
                f"{memory['file_bytes'] / MIB:,.0f} MiB",
                f"{entry['seconds']:.1f}",
                f"{entry['peak_rss'] / MIB:,.0f}",
            ]
        )
    return format_table(["store", "file", "seconds", "sync peak RSS MiB"], rows)


def targets_table(targets: list[dict]) -> str:
    rows = [[t["status"], t["target"], t["goal"], t["figure"]] for t in targets]
    return format_table(["status", "target", "goal", "figure"], rows)


def render(results: dict) -> str:
    """Every section that was measured, one table each."""
    parts = []
    sections = (
        ("sync", "1. Sync (BLS, real snapshot, local mirror)", sync_table),
        ("workflow", "2. Workflow (quest run on the real snapshot, local mirror)", workflow_table),
        ("scale", "3. Scale (the three answers, generated files)", scale_table),
        ("memory", "4. Memory (republishing one big file)", memory_table),
    )
    for key, title, render_one in sections:
        value = results.get(key)
        if not value:
            continue
        if "error" in value:
            parts.append(f"{title}\n{value['error']}")
        else:
            parts.append(f"{title}\n{render_one(value)}")
    parts.append("Targets\n" + targets_table(results.get("targets", [])))
    return "\n\n".join(parts)
