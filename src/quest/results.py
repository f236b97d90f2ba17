"""What a run did, as typed results: per file, per table, per layer and per task.

Bronze, silver and gold return a `LayerResult` (a `TableResult` per table, a `FileResult` per
source file); every task of the workflow hands the runner a `TaskResult`, whose status and counts
(rows written and quarantined, files and bytes synced, Delta versions written) the run record, the
`quest run` lines and the benchmark read. Results cross process boundaries (BrickFlow task values,
a notebook's exit value) as JSON, through `to_dict` and `from_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum


class Action(StrEnum):
    """What a load did to a table, or with a source file."""

    LOADED = "loaded"
    DELETED = "deleted"
    CREATED = "created"
    RECORDED = "recorded"
    REPLACED = "replaced"
    VIEW_REPLACED = "view replaced"
    UNCHANGED = "unchanged"
    FAILED = "failed"


class Status(StrEnum):
    """What a task did, as a whole."""

    CHANGED = "changed"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"


def _compact(obj) -> dict:
    """A dataclass as a dict without its unset (None) and empty fields: summaries stay short."""
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value is None or (isinstance(value, str | list | dict) and not value):
            continue
        out[f.name] = str(value) if isinstance(value, StrEnum) else value
    return out


def _known(cls, data: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


class _Counts:
    """JSON for a file's or a table's result: its action and only the counts it has."""

    def to_dict(self) -> dict:
        return _compact(self)

    @classmethod
    def from_dict(cls, data: dict):
        values = _known(cls, data)
        return cls(**{**values, "action": Action(values["action"])})


def _total(values) -> int | None:
    """The sum of the counts that are known; None when none is."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


@dataclass(frozen=True)
class FileResult(_Counts):
    """What a load did with one source file.

    `rows_written` are the rows the file put in its table: every row in bronze, the valid ones in
    silver, where `rows_in = rows_written + rows_quarantined + rows_duplicates`. A file gone
    from the source (`deleted`) has `rows_deleted`: the rows its last load had put there.
    """

    source_file: str
    action: Action
    table: str = ""
    rows_in: int | None = None
    rows_written: int | None = None
    rows_quarantined: int | None = None
    rows_duplicates: int | None = None
    rows_deleted: int | None = None
    error: str = ""


@dataclass
class TableResult(_Counts):
    """What a load did to one table (or view): the files it loaded or deleted, the rows it
    wrote, and the Delta commits it wrote there."""

    action: Action
    reason: str = ""
    files: list[str] = field(default_factory=list)
    files_deleted: list[str] = field(default_factory=list)
    files_recorded: int | None = None
    rows_written: int | None = None
    rows_in: int | None = None
    rows_valid: int | None = None
    rows_quarantined: int | None = None
    rows_duplicates: int | None = None
    rows_inserted: int | None = None
    rows_updated: int | None = None
    rows_deleted: int | None = None
    commits: int = 0

    @classmethod
    def unchanged(cls, reason: str) -> TableResult:
        return cls(Action.UNCHANGED, reason=reason)

    @classmethod
    def created_or_unchanged(cls, commits: int) -> TableResult:
        """A table no file was loaded into: with a commit it was only created (its first, empty
        version); without one it is unchanged."""
        if commits:
            return cls(Action.CREATED, commits=commits)
        return cls.unchanged("no file of this table changed")

    @property
    def is_unchanged(self) -> bool:
        return self.action == Action.UNCHANGED

    def describe(self, name: str) -> str:
        """`name: action (counts)`, or `name: unchanged, skipped (reason)`."""
        if self.is_unchanged:
            return f"{name}: unchanged, skipped ({self.reason or 'nothing new'})"
        shown = (
            ("written", self.rows_written),
            ("inserted", self.rows_inserted),
            ("updated", self.rows_updated),
            ("deleted", self.rows_deleted),
            ("quarantined", self.rows_quarantined),
        )
        counts = [f"{label} {n}" for label, n in shown if n is not None]
        return f"{name}: {self.action}" + (f" ({', '.join(counts)})" if counts else "")


@dataclass
class LayerResult:
    """What one load of a layer (bronze, silver, gold) did, table by table and file by file.

    Attributes:
        layer: `bronze`, `silver` or `gold`.
        tables: full table name -> what was done to it.
        files: every source file the load looked at because it changed or went away.
        parameters: the settings the layer's output depends on (gold's view parameters).
        outputs: what the layer wrote besides tables, by name (the gold chart's path).
    """

    layer: str
    tables: dict[str, TableResult] = field(default_factory=dict)
    files: list[FileResult] = field(default_factory=list)
    parameters: dict[str, object] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def commits(self) -> int:
        """Delta commits (table versions) the load wrote, over every table."""
        return sum(t.commits for t in self.tables.values())

    @property
    def errors(self) -> list[str]:
        return [f.error for f in self.files if f.action == Action.FAILED]

    @property
    def rows_written(self) -> int | None:
        """Rows the load wrote, updated or deleted in its tables (a task's `rows_written`).

        - A table that counts what its MERGE or append did gives its rows inserted, updated and
          deleted: a file checked again whose rows did not change wrote none (its own
          `rows_written` are every valid row it holds).
        - Any other table gives the rows its files put there (bronze's tables; silver's
          `pr_mapping`, which replaces a file's rows whole).
        - A file gone from the source adds the rows deleted with it (a DELETE of its own).
        """
        changes = ("rows_inserted", "rows_updated", "rows_deleted")
        counted = {
            name
            for name, t in self.tables.items()
            if any(getattr(t, count) is not None for count in changes)
        }
        merged = [self.total(count) for count in changes]
        put = [f.rows_written for f in self.files if f.table not in counted]
        gone = [f.rows_deleted for f in self.files]
        return _total([*merged, *put, *gone])

    @property
    def rows_quarantined(self) -> int | None:
        return _total(f.rows_quarantined for f in self.files)

    def total(self, count: str) -> int | None:
        """The sum of one `TableResult` count (`rows_inserted`, ...) over the tables."""
        return _total(getattr(t, count) for t in self.tables.values())

    @property
    def unchanged(self) -> bool:
        return bool(self.tables) and all(t.is_unchanged for t in self.tables.values())

    def describe(self) -> str:
        """One line: changed tables one by one, unchanged ones counted (with their reason when
        they share one), and the Delta commits."""
        same = {n: t for n, t in self.tables.items() if t.is_unchanged}
        parts = [t.describe(n) for n, t in sorted(self.tables.items()) if n not in same]
        if same:
            reasons = {t.reason or "nothing new" for t in same.values()}
            why = f" ({reasons.pop()})" if len(reasons) == 1 else ""
            noun = "table" if len(same) == 1 else "tables"
            if parts:
                parts.append(f"{len(same)} {noun} unchanged{why}")
            else:
                parts.append(f"unchanged, skipped{why}: {len(same)} {noun}")
        return "; ".join(parts) + f" ({self.commits} Delta commits)"

    def to_dict(self) -> dict:
        data: dict[str, object] = {
            "layer": self.layer,
            "tables": {name: t.to_dict() for name, t in self.tables.items()},
            "commits": self.commits,
        }
        if self.files:
            data["files"] = [f.to_dict() for f in self.files]
        if self.parameters:
            data["parameters"] = dict(self.parameters)
        if self.outputs:
            data["outputs"] = dict(self.outputs)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> LayerResult:
        return cls(
            layer=data["layer"],
            tables={n: TableResult.from_dict(t) for n, t in data.get("tables", {}).items()},
            files=[FileResult.from_dict(f) for f in data.get("files", [])],
            parameters=dict(data.get("parameters", {})),
            outputs=dict(data.get("outputs", {})),
        )


@dataclass
class TaskResult:
    """What one task of the workflow did: the fields a run record, a run history or a closing
    line read, whatever the task.

    Attributes:
        status: changed, unchanged, skipped (not run) or failed.
        summary: one line for people.
        rows_written: rows the task wrote to its tables (None: it writes no rows).
        rows_quarantined: rows it set aside in quarantine.
        files_synced: files it wrote to or deleted from the store.
        bytes_synced: bytes it wrote to the store.
        delta_versions: Delta table versions (commits) it wrote.
        layer: the medallion layer's own result, for a load task.
        source: the sync's own summary, for a sync task.
        report: the answers, for the task that produces them.
        task_values: the values it published as task values, which later tasks and conditions
            name as `{{tasks.<task>.values.<key>}}`.
        quarantine: rows silver quarantined per rule and file, beside the answers
            (`quest.medallion.report.quarantine_summary`).
    """

    # Declared like TableResult's counts but not shared with it: a task's counts are the task's
    # totals (over tables and files), read by the run record whatever the task.
    status: Status
    summary: str = ""
    rows_written: int | None = None
    rows_quarantined: int | None = None
    files_synced: int | None = None
    bytes_synced: int | None = None
    delta_versions: int | None = None
    layer: LayerResult | None = None
    source: dict | None = None
    report: dict | None = None
    task_values: dict[str, str] | None = None
    quarantine: list[dict] | None = None

    @classmethod
    def from_layer(
        cls, layer: LayerResult, report: dict | None = None, quarantine: list[dict] | None = None
    ) -> TaskResult:
        return cls(
            status=Status.UNCHANGED if layer.unchanged else Status.CHANGED,
            summary=layer.describe(),
            rows_written=layer.rows_written,
            rows_quarantined=layer.rows_quarantined,
            delta_versions=layer.commits,
            layer=layer,
            report=report,
            quarantine=quarantine,
        )

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["status"] = str(self.status)
        data["layer"] = None if self.layer is None else self.layer.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TaskResult:
        values = _known(cls, data)
        layer = values.get("layer")
        return cls(
            **{
                **values,
                "status": Status(values["status"]),
                "layer": None if layer is None else LayerResult.from_dict(layer),
            }
        )
