"""What a local run did: per task status, attempts, seconds and summary; saved as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

SUCCESS = "success"
FAILED = "failed"
UPSTREAM_FAILED = "skipped: upstream failed"
NOT_SELECTED = "not selected"
PENDING = "pending"


@dataclass
class TaskRecord:
    name: str
    kind: str  # "python" or "notebook"
    status: str = PENDING
    attempts: int = 0
    seconds: float = 0.0
    summary: object = None
    did: str = ""
    unchanged: bool | None = None
    errors: list[str] = field(default_factory=list)
    log: str = ""
    started: str = ""  # first attempt's start and last attempt's end, ISO 8601 UTC
    ended: str = ""


@dataclass
class RunRecord:
    workflow: str
    run_id: str
    started: str
    status: str = PENDING
    ended: str = ""
    seconds: float = 0.0
    only: list[str] | None = None
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    notifications: list[dict] = field(default_factory=list)
    report: object = None
    ops: dict | None = None  # run history, snapshots and alerts (quest.ops.local_run)
    path: str = ""

    @property
    def exit_code(self) -> int:
        return 0 if self.status == SUCCESS else 1

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("path")
        return data

    def save(self, runs_dir: Path, redact) -> Path:
        """Write the record as `<runs_dir>/<run_id>.json`, every string passed through `redact`."""
        runs_dir.mkdir(parents=True, exist_ok=True)
        path = runs_dir / f"{self.run_id}.json"
        n = 1
        while path.exists():
            n += 1
            path = runs_dir / f"{self.run_id}-{n}.json"
        text = redact(json.dumps(self.to_dict(), indent=2, default=str, sort_keys=True))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(path)
        self.path = str(path)
        return path


def describe(summary: object) -> tuple[str, bool | None]:
    """A short line saying what a task did, and whether it changed nothing (None: unknown)."""
    if not isinstance(summary, dict):
        return ("" if summary is None else str(summary)[:200]), None
    if "files_seen" in summary:
        return _describe_sync(summary)
    if "changed" in summary:
        if not summary["changed"]:
            reason = summary.get("reason") or "the population is the same as the stored copy"
            return f"unchanged, skipped ({reason})", True
        return f"changed: {summary.get('records', '?')} records stored", False
    if isinstance(summary.get("tables"), dict):
        return _describe_tables(summary["tables"], summary.get("commits"))
    if "action" in summary:
        return _describe_table("", summary), _unchanged_table(summary)
    return json.dumps(summary, default=str, sort_keys=True)[:200], None


def _describe_tables(tables: dict, commits: object) -> tuple[str, bool | None]:
    """Changed tables one by one; unchanged ones counted (their reason when they share one)."""
    same = {n: t for n, t in tables.items() if _unchanged_table(t)}
    parts = [_describe_table(n, t) for n, t in sorted(tables.items()) if n not in same]
    if same:
        reasons = {t.get("reason", "nothing new") for t in same.values()}
        why = f" ({reasons.pop()})" if len(reasons) == 1 else ""
        noun = "table" if len(same) == 1 else "tables"
        if not parts:
            parts.append(f"unchanged, skipped{why}: {len(same)} {noun}")
        else:
            parts.append(f"{len(same)} {noun} unchanged{why}")
    line = "; ".join(parts) + (f" ({commits} Delta commits)" if commits is not None else "")
    return line, (len(same) == len(tables)) if tables else None


def _describe_sync(s: dict) -> tuple[str, bool]:
    changed = sum(int(s.get(k) or 0) for k in ("uploaded", "replaced", "deleted"))
    if changed == 0:
        return (
            f"unchanged, skipped (all {s.get('files_seen', 0)} files unchanged at the source)",
            True,
        )
    down = int(s.get("bytes_down") or 0)
    return (
        f"{s.get('files_seen', 0)} files: {s.get('uploaded', 0)} new, {s.get('replaced', 0)} "
        f"replaced, {s.get('deleted', 0)} deleted, {s.get('skipped', 0)} unchanged "
        f"({down / 1e6:.1f} MB down)",
        False,
    )


_COUNTS = (
    "rows_written",
    "rows_inserted",
    "rows_updated",
    "rows_deleted",
    "rows_quarantined",
    "inserted",
    "updated",
    "deleted",
)


def _unchanged_table(t: object) -> bool:
    return isinstance(t, dict) and t.get("action") == "unchanged"


def _describe_table(name: str, t: object) -> str:
    label = f"{name}: " if name else ""
    if not isinstance(t, dict):
        return f"{label}{t}"
    action = t.get("action", "done")
    if action == "unchanged":
        return f"{label}unchanged, skipped ({t.get('reason', 'nothing new')})"
    counts = [f"{k.replace('rows_', '')} {t[k]}" for k in _COUNTS if t.get(k) is not None]
    return f"{label}{action}" + (f" ({', '.join(counts)})" if counts else "")


def table(record: RunRecord) -> str:
    """The final table: task, status, attempts, seconds."""
    rows = [("task", "status", "attempts", "seconds")]
    for t in record.tasks.values():
        rows.append((t.name, t.status, str(t.attempts), f"{t.seconds:.1f}"))
    rows.append(("total", record.status, "", f"{record.seconds:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for i, r in enumerate(rows):
        lines.append(
            f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}"
        )
        if i == 0 or i == len(rows) - 2:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)
