"""`quest run`: execute the `quest_pipeline` BrickFlow Workflow object on this machine.

The DAG, the task settings and the notebook parameters are the Workflow's own (not a copy):
tasks start as soon as their parents succeed, so independent ones run concurrently; a failing
task is retried as its effective `TaskSettings` say (waits scaled by `QUEST_RETRY_WAIT_SCALE`);
Python tasks are called with their parameters, notebook tasks run the very notebook files with
a `dbutils` stand-in whose widgets hold the task's `base_parameters`. The run's own settings
override where data lives (store, catalog, schema prefix, sources, contact). One SparkSession
serves every notebook. Timeouts are enforced on Databricks only.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import runpy
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path

import networkx as nx

from quest.config import Settings, validate_home
from quest.errors import ConfigError
from quest.locking import file_lock
from quest.ops.local_run import after_run
from quest.runner import record as rec
from quest.runner.dbutils import LocalDbutils, NotebookExit
from quest.runner.notify import Notification, deliver, redact
from quest.runner.output import RedactingFile, RedactingFilter, TaskOutput
from quest.runner.record import RunRecord, TaskRecord

REPO = Path(__file__).resolve().parents[3]
ROOT_NODE = "root"

# Parameters a local run decides, whatever the workflow's environment defaults say.
_RUN_VALUES = {
    "env": lambda s: s.env,
    "store": lambda s: s.store_uri,
    "catalog": lambda s: s.catalog,
    "schema_prefix": lambda s: s.schema_prefix,
    "bls_url": lambda s: s.bls_url,
    "datausa_url": lambda s: s.datausa_url,
    "contact": lambda s: s.contact,
    "s3_endpoint_url": lambda s: s.s3_endpoint_url,
}


def load_pipeline():
    """The `quest_pipeline` Workflow object from `workflows/quest_pipeline.py`."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from workflows.quest_pipeline import wf

    return wf


def run_workflow(settings: Settings, spark=None, only=None, out=print, workflow=None) -> RunRecord:
    """Run `workflow` (default: quest_pipeline) under the home's run lock.

    Args:
        settings: the run's settings (home, store, sources, retry wait scale, SMTP).
        spark: the SparkSession for notebook tasks (default: `quest.spark.get_spark`).
        only: task names to run, ignoring their dependencies outside the selection.
        out: where live lines go (one call per line).
        workflow: a BrickFlow Workflow (tests pass small ones).

    Returns:
        The run record, also saved as `<home>/runs/<run_id>.json`.

    Raises:
        LockError: another run holds the home's run lock.
        ConfigError: an unknown task in `only`, or an unusable home.
    """
    wf = workflow if workflow is not None else load_pipeline()
    home = validate_home(settings)
    order = [n for n in nx.topological_sort(wf.graph) if n != ROOT_NODE]
    selected = _select(order, only)
    _preflight(wf, settings, selected)
    lock_what = f"run lock on {home}"
    with file_lock(home / "run.lock", lock_what, timeout=settings.lock_timeout):
        return _Run(wf, settings, order, selected, spark, out).execute()


def run_cli(settings: Settings, only=None) -> int:
    """`quest run`: the exit status is 0 when every selected task succeeded, else 1."""
    return run_workflow(settings, only=only).exit_code


def _select(order: list[str], only) -> set[str]:
    if not only:
        return set(order)
    unknown = [name for name in only if name not in order]
    if unknown:
        raise ConfigError(
            f"--only {' '.join(unknown)}: no such task; the tasks are {', '.join(order)}"
        )
    return set(only)


def _preflight(wf, settings: Settings, selected: set[str]) -> None:
    """Configuration errors stop the run before any task starts (no retry can fix them)."""
    from quest.config import validate_contact
    from quest.store import open_store

    params = set()
    for name in selected:
        task = wf.tasks[name]
        if not _is_notebook(task):
            params |= set(inspect.getfullargspec(task.task_func).kwonlyargs)
    if "contact" in params:
        validate_contact(settings)
    if "store" in params or any(_is_notebook(wf.tasks[n]) for n in selected):
        open_store(settings.store_uri, endpoint_url=settings.s3_endpoint_url)


class _Run:
    def __init__(self, wf, settings: Settings, order, selected, spark, out) -> None:
        self.wf, self.settings, self.order, self.selected = wf, settings, order, selected
        self.spark = spark
        self._lock = threading.Lock()
        self._out = out
        self._stdout: TaskOutput | None = None
        now = datetime.now(UTC)
        self.record = RunRecord(
            workflow=wf.name,
            run_id=now.strftime("%Y%m%dT%H%M%S%fZ"),
            started=now.isoformat(timespec="seconds"),
            only=sorted(selected) if selected != set(order) else None,
        )
        for name in order:
            kind = "notebook" if _is_notebook(wf.tasks[name]) else "python"
            status = rec.PENDING if name in selected else rec.NOT_SELECTED
            self.record.tasks[name] = TaskRecord(name=name, kind=kind, status=status)

    def say(self, line: str) -> None:
        with self._lock:
            self._out(redact(line, self.settings))

    def execute(self) -> RunRecord:
        console = sys.stdout
        if self._out is print:
            self._out = lambda line: print(line, file=console, flush=True)
        self._stdout = sys.stdout = TaskOutput(console)
        guard = RedactingFilter(self.settings)
        handlers = list(logging.getLogger().handlers)
        for handler in handlers:
            handler.addFilter(guard)
        try:
            return self._execute()
        finally:
            sys.stdout = console
            for handler in handlers:
                handler.removeFilter(guard)

    def _execute(self) -> RunRecord:
        t0 = time.monotonic()
        self.say(
            f"quest run: workflow {self.wf.name}, {len(self.selected)} tasks, "
            f"store {self.settings.store_uri}"
        )
        self._notify_workflow("on_start", "started")
        if self.spark is None and any(
            self.record.tasks[n].kind == "notebook" for n in self.selected
        ):
            from quest.spark import get_spark

            self.spark = get_spark(self.settings)
        self._schedule()
        failed = [
            t
            for t in self.record.tasks.values()
            if t.status != rec.SUCCESS and t.status != rec.NOT_SELECTED
        ]
        self.record.status = rec.FAILED if failed else rec.SUCCESS
        self.record.seconds = round(time.monotonic() - t0, 3)
        self.record.ended = datetime.now(UTC).isoformat(timespec="seconds")
        self.say("")
        for line in rec.table(self.record).splitlines():
            self.say(line)
        self._notify_workflow(
            "on_failure" if failed else "on_success", "failed" if failed else "succeeded"
        )
        self._report()
        self.record.ops = after_run(self.record, self.settings, self.spark, self.say)
        path = self.record.save(self.settings.home / "runs", lambda s: redact(s, self.settings))
        self.say(f"run record: {path}")
        return self.record

    def _schedule(self) -> None:
        pending = [n for n in self.order if n in self.selected]
        running = {}
        with ThreadPoolExecutor(
            max_workers=max(1, len(pending)), thread_name_prefix="task"
        ) as pool:
            while pending or running:
                for name in list(pending):
                    parents = [
                        p
                        for p in self.wf.graph.predecessors(name)
                        if p != ROOT_NODE and p in self.selected
                    ]
                    states = [self.record.tasks[p].status for p in parents]
                    if any(s in (rec.FAILED, rec.UPSTREAM_FAILED) for s in states):
                        pending.remove(name)
                        self.record.tasks[name].status = rec.UPSTREAM_FAILED
                        self.say(f"- {name}: skipped, upstream failed")
                    elif all(s == rec.SUCCESS for s in states):
                        pending.remove(name)
                        context = contextvars.copy_context()
                        running[pool.submit(context.run, self._run_task, name)] = name
                if running:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        running.pop(future)
                        future.result()

    def _run_task(self, name: str) -> None:
        task = self.wf.tasks[name]
        tr = self.record.tasks[name]
        log_path = self.settings.home / "runs" / self.record.run_id / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        tr.log = str(log_path)
        with open(log_path, "w", encoding="utf-8") as log:
            self._stdout.route(RedactingFile(log, self.settings))
            try:
                self._attempts(name, task, tr)
            finally:
                self._stdout.route(None)

    def _attempts(self, name: str, task, tr: TaskRecord) -> None:
        eff = self.wf.default_task_settings.merge(task.task_settings)
        tries = 1 + int(eff.max_retries or 0)
        wait_s = (eff.min_retry_interval_millis or 0) / 1000 * self.settings.retry_wait_scale
        t0 = time.monotonic()
        tr.started = datetime.now(UTC).isoformat()
        for attempt in range(1, tries + 1):
            tr.attempts = attempt
            self.say(f"> {name}: started (attempt {attempt}/{tries})")
            a0 = time.monotonic()
            try:
                summary = self._call(task)
            except (Exception, SystemExit) as exc:  # a task's failure is data here
                tr.ended = datetime.now(UTC).isoformat()
                error = redact(f"{type(exc).__name__}: {exc}", self.settings)
                tr.errors.append(error)
                more = attempt < tries
                tail = f"; retrying in {wait_s:.1f}s" if more else ""
                self.say(f"x {name}: failed after {time.monotonic() - a0:.1f}s: {error}{tail}")
                if more:
                    time.sleep(wait_s)
                    continue
                tr.status = rec.FAILED
                tr.seconds = round(time.monotonic() - t0, 3)
                self._notify_task(name, eff, tr, exc)
                return
            tr.ended = datetime.now(UTC).isoformat()
            tr.summary = summary
            tr.did, tr.unchanged = rec.describe(summary)
            tr.status = rec.SUCCESS
            tr.seconds = round(time.monotonic() - t0, 3)
            self.say(f"+ {name}: success in {tr.seconds:.1f}s" + (f": {tr.did}" if tr.did else ""))
            return

    def _call(self, task):
        if _is_notebook(task):
            return self._run_notebook(task)
        spec = inspect.getfullargspec(task.task_func)
        params = dict(spec.kwonlydefaults or {})
        for key in params:
            if key in _RUN_VALUES:
                params[key] = _RUN_VALUES[key](self.settings)
        from quest.orchestration.tasks import settings_scope

        with settings_scope(self.settings):
            return task.task_func(**params)

    def _run_notebook(self, task):
        from quest.orchestration.tasks import settings_scope

        nb = task.task_func()
        path = Path(nb.notebook_path)
        path = (path if path.is_absolute() else REPO / path).with_suffix(".py")
        if not path.exists():
            raise FileNotFoundError(f"notebook {path} of task {task.name} does not exist")
        widgets = {k: str(v) for k, v in (nb.base_parameters or {}).items()}
        for key in widgets:
            if key in _RUN_VALUES:
                widgets[key] = str(_RUN_VALUES[key](self.settings))
        dbutils = LocalDbutils(widgets)
        try:
            with settings_scope(self.settings):
                scope = runpy.run_path(
                    str(path),
                    init_globals={"spark": self.spark, "dbutils": dbutils},
                    run_name="__main__",
                )
        except NotebookExit as done:
            return _parse(done.value)
        return scope.get("quest_summary")

    def _notify_task(self, name, eff, tr: TaskRecord, exc: BaseException) -> None:
        emails = eff.email_notifications
        to = tuple(sorted(emails.on_failure or [])) if emails else ()
        trace = "".join(traceback.format_exception(exc)[-6:])
        body = (
            f"Task {name} of workflow {self.wf.name} failed after {tr.attempts} attempt(s).\n"
            f"Last error: {tr.errors[-1]}\n\nStore: {self.settings.store_uri}\n"
            f"Run: {self.record.run_id} (record under {self.settings.home / 'runs'})\n"
            f"Task output: {tr.log}\n\n{trace}"
        )
        self._deliver(
            Notification(
                "on_failure", name, to, f"[quest] {self.wf.name}: task {name} failed", body
            )
        )

    def _notify_workflow(self, event: str, what: str) -> None:
        emails = self.wf.email_notifications
        to = tuple(sorted(getattr(emails, event, None) or [])) if emails else ()
        lines = [f"Workflow {self.wf.name} {what} (run {self.record.run_id})."]
        lines += [
            f"  {t.name}: {t.status} ({t.attempts} attempts)"
            for t in self.record.tasks.values()
            if event != "on_start"
        ]
        self._deliver(
            Notification(event, "workflow", to, f"[quest] {self.wf.name} {what}", "\n".join(lines))
        )

    def _deliver(self, note: Notification) -> None:
        note = Notification(
            note.event,
            note.scope,
            note.to,
            redact(note.subject, self.settings),
            redact(note.body, self.settings),
        )
        with self._lock:
            results = deliver([note], self.settings, out=self._out)
            self.record.notifications.extend(results)

    def _report(self) -> None:
        gold = self.record.tasks.get("gold_analysis")
        if gold is None or gold.status != rec.SUCCESS or self.spark is None:
            return
        from quest.medallion.report import format_report, gold_report

        try:
            report = gold_report(self.spark, self.settings)
        except Exception as exc:  # the run itself succeeded; say why there is no report
            self.record.report = {"error": redact(f"{type(exc).__name__}: {exc}", self.settings)}
            self.say(f"report unavailable: {self.record.report['error']}")
            return
        self.record.report = report
        self.say("")
        for line in format_report(report).splitlines():
            self.say(line)


def _is_notebook(task) -> bool:
    return getattr(task.task_type, "name", str(task.task_type)) == "NOTEBOOK_TASK"


def _parse(value: str):
    import json

    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value
