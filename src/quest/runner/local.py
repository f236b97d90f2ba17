"""`quest run`: execute the `quest_pipeline` BrickFlow Workflow object on this machine.

The DAG, the task settings and the notebook parameters are the Workflow's own (not a copy):
tasks start as soon as their parents succeed, so independent ones run concurrently; a failing
task is retried as its effective `TaskSettings` say (waits scaled by `QUEST_RETRY_WAIT_SCALE`
and cut to `LOCAL_RETRY_WAIT_CAP`);
Python tasks are called with their parameters, notebook tasks run the very notebook files with
a `dbutils` stand-in whose widgets hold the task's `base_parameters`. The run's own settings
override where data lives (store, catalog, schema prefix, sources, contact). Task value and job
parameter references (`{{tasks.<task>.values.<key>}}`, `{{job.parameters.<name>}}`) are resolved
from the values the tasks published and the run's job parameters; an if/else condition task is
decided as Databricks decides it, and the tasks of the branch not taken are skipped, not failed.
One SparkSession serves every notebook, started when the first notebook task starts (a run whose
notebook tasks are all skipped starts no JVM). Timeouts are enforced on Databricks only.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import itertools
import json
import logging
import math
import os
import runpy
import shlex
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import networkx as nx

from quest.config import Settings, load_settings, on_databricks, validate_home
from quest.errors import INTERRUPTED, ConfigError, brief
from quest.locking import file_lock
from quest.ops.local_run import after_run
from quest.orchestration.task_values import evaluate, referenced_tasks, resolve
from quest.results import LayerResult, Status, TaskResult
from quest.runner import record as rec
from quest.runner.dbutils import LocalDbutils, NotebookExit
from quest.runner.notify import Notification, deliver, redact
from quest.runner.output import (
    EngineLog,
    Heartbeat,
    KeptInTheTaskLog,
    QuestOnly,
    RedactingFile,
    RedactingFilter,
    TaskLogHandler,
    TaskOutput,
    run_settings,
    versions,
)
from quest.runner.record import RunRecord, TaskRecord

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[3]
ROOT_NODE = "root"
# The workflow's retry interval (minutes) suits a cluster; on this machine a task is retried
# after at most this many seconds.
LOCAL_RETRY_WAIT_CAP = 10.0

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
    "full_refresh": lambda s: "true" if s.full_refresh else "false",
}


def load_pipeline():
    """The `quest_pipeline` Workflow object from `workflows/quest_pipeline.py`.

    Raises:
        ConfigError: quest is installed from its wheel, which holds the library only: the
            workflow and its notebooks are in the repository.
    """
    if not (REPO / "workflows" / "quest_pipeline.py").is_file():
        raise ConfigError(
            f"the workflow is not here ({REPO / 'workflows'}): quest run and quest demo run the "
            "repository's workflows/ and notebooks/, which the wheel does not hold; run them "
            "from a clone (make demo, or pip install -e . in it)"
        )
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from workflows.quest_pipeline import wf

    return wf


@contextlib.contextmanager
def run_lock(settings: Settings):
    """Hold the home's run lock (`<home>/run.lock`) for the block: one run of a home at a time.

    Raises:
        LockError: another run holds it past `settings.lock_timeout` seconds.
        ConfigError: an unusable home.
    """
    home = validate_home(settings)
    with file_lock(home / "run.lock", f"run lock on {home}", timeout=settings.lock_timeout):
        yield


def run_workflow(
    settings: Settings,
    spark=None,
    only=None,
    out=print,
    workflow=None,
    *,
    quiet: bool = False,
    locked: bool = False,
) -> RunRecord:
    """Run `workflow` (default: quest_pipeline) under the home's run lock.

    Args:
        settings: the run's settings (home, store, sources, retry wait scale, SMTP).
        spark: the SparkSession for notebook tasks (default: `quest.spark.get_spark`).
        only: task names to run, ignoring their dependencies outside the selection.
        out: where live lines go (one call per line).
        workflow: a BrickFlow Workflow (tests pass small ones).
        quiet: only failures and the closing lines go to `out` (no progress, table or report).
        locked: the caller holds the home's run lock already (`run_lock`, which a second
            `flock` in the same process could not take).

    Returns:
        The run record, also saved as `<home>/runs/<run_id>.json`.

    Raises:
        LockError: another run holds the home's run lock.
        ConfigError: an unknown task in `only`, or an unusable home.
    """
    wf = workflow if workflow is not None else load_pipeline()
    order = [n for n in nx.topological_sort(wf.graph) if n != ROOT_NODE]
    selected = _select(wf, order, only)
    _check_run_ifs(wf, selected)
    _preflight(wf, settings, selected, spark)  # makes the home after the checks needing none
    with contextlib.nullcontext() if locked else run_lock(settings):
        return _WorkflowRun(wf, settings, order, selected, spark, out, quiet=quiet).execute()


def run_cli(settings: Settings, only=None, quiet: bool = False) -> int:
    """`quest run`: the exit status is 0 when every selected task succeeded, else
    `quest.errors.RUN_FAILED`."""
    return run_workflow(settings, only=only, quiet=quiet).exit_code


def _select(wf, order: list[str], only) -> set[str]:
    """The tasks `only` names (every task without it).

    Raises:
        ConfigError: an unknown task, or a condition task selected without a task whose value
            it compares: that value would read as empty, and the condition decide on nothing
            (the tasks behind it skipped, the run a success).
    """
    if not only:
        return set(order)
    unknown = [name for name in only if name not in order]
    if unknown:
        raise ConfigError(
            f"--only {' '.join(unknown)}: no such task; the tasks are {', '.join(order)}"
        )
    selected = set(only)
    for name in [n for n in order if n in selected]:
        if _kind(wf.tasks[name]) != "condition":
            continue
        condition = wf.tasks[name].task_func()
        missing = sorted(referenced_tasks(condition.left, condition.right) - selected)
        if missing:
            raise ConfigError(
                f"--only: the condition {name} compares a value of {', '.join(missing)}, which "
                f"is not selected; select {' '.join(missing)} too, or leave {name} out (the "
                "tasks behind it then run as selected)"
            )
    return selected


def _task_settings(wf, task):
    """A task's settings over the workflow's defaults, as BrickFlow merges them for the bundle."""
    return wf.default_task_settings.merge(task.task_settings)


def _check_run_ifs(wf, selected: set[str]) -> None:
    """Refuse a task whose `run_if` is not the default, all dependencies succeeded: Databricks
    runs such a task after a failed dependency (`ALL_DONE`, `NONE_FAILED`...), and this runner,
    which only knows the default, would skip it and fail the run; a local run must not show
    another course than the workspace's.

    Raises:
        ConfigError: naming each such task and its condition.
    """
    odd = []
    for name in sorted(selected):
        run_if = _task_settings(wf, wf.tasks[name]).run_if
        value = getattr(run_if, "value", run_if)
        if value not in (None, "ALL_SUCCESS"):
            odd.append(f"{name} (run_if={value})")
    if odd:
        raise ConfigError(
            f"the local runner runs a task only when all its dependencies succeeded, as "
            f"Databricks' default run_if does; {', '.join(odd)} would run otherwise on "
            "Databricks: run it there, or drop the setting"
        )


def _preflight(wf, settings: Settings, selected: set[str], spark=None) -> None:
    """Configuration errors stop the run before any task starts (no retry can fix them);
    `spark`: the session the notebook tasks are given, if any."""
    from quest.config import validate_contact, validate_source_url, validate_store_layout
    from quest.orchestration.tasks import CONTACT_OPTIONAL
    from quest.sources import bls, datausa
    from quest.store import open_store

    params, contact_needed = set(), False
    for name in selected:
        task = wf.tasks[name]
        if _kind(task) == "python":
            taken = set(inspect.getfullargspec(task.task_func).kwonlyargs)
            params |= taken
            contact_needed |= "contact" in taken and name not in CONTACT_OPTIONAL
    # A task that sends the contact only when it is given (DataUSA's) checks it only then, as
    # its session does.
    if contact_needed or ("contact" in params and settings.contact.strip()):
        validate_contact(settings)
    # As each sync checks them, but before the other sync has gone to the network.
    if "bls_url" in params:
        validate_source_url(settings.bls_url, bls.URL_SETTING)
    if "datausa_url" in params:
        validate_source_url(settings.datausa_url, datausa.URL_SETTING)
    if "store" in params:
        validate_store_layout(settings)
    notebooks = any(_is_notebook(wf.tasks[n]) for n in selected)
    if notebooks:
        _notebook_settings(settings)
    if notebooks and spark is None:
        # The session a notebook task would start: a master or heap it would refuse.
        from quest.spark import local_session_settings

        local_session_settings()
    # Made only now: a run refused by the checks above leaves no home behind, which `quest runs`
    # would take for one with no run yet. The store's check below may make `<home>/store`.
    validate_home(settings)
    if "store" in params or notebooks:
        store = open_store(settings.store_uri, endpoint_url=settings.s3_endpoint_url)
        # A local store: no file in the way, and writable when a sync task will write it (the
        # notebooks only read it: a read-only snapshot serves them).
        check = getattr(store, "check", None)
        if check is not None:
            check(write="store" in params)


def _notebook_settings(settings: Settings) -> None:
    """Refuse what would fail the notebook tasks after the syncs had gone to the network: off
    Databricks, settings made for a workspace; anywhere, gold views' parameters (years, report
    series and period, current file) the plan refuses."""
    if not on_databricks():
        _refuse_workspace_only(settings)
    from quest.medallion.gold import view_bodies

    view_bodies(settings, {})


def _refuse_workspace_only(settings: Settings) -> None:
    """Refuse, off Databricks, notebook tasks set up for a workspace: the syncs would write the
    shared store first, then bronze fail."""
    if settings.workspace_catalog:
        # QUEST_ENV=dev or prod on a laptop: a catalog no local Spark has.
        raise ConfigError(
            f"the notebook tasks would write the Unity Catalog catalog {settings.catalog!r} "
            f"(QUEST_ENV={settings.env} or QUEST_CATALOG), which the local Spark does not have: "
            "they run on Databricks (make deploy). Unset QUEST_ENV and QUEST_CATALOG to run "
            "locally, or sync alone with --only bls_sync datausa_sync"
        )
    if urlparse(settings.store_uri).scheme in ("s3", "s3a"):
        # Bronze reads the stored files with Spark, and the local Spark has no S3 file system
        # (Databricks' has).
        raise ConfigError(
            f"the notebook tasks read the store with Spark, and the local Spark cannot read "
            f"QUEST_STORE={settings.store_uri} (it has no S3 file system; Databricks' Spark "
            "does): run them on Databricks (make deploy), or sync alone with --only bls_sync "
            "datausa_sync"
        )


def _cancel_spark_jobs() -> None:
    """Cancel the Spark jobs of this process's session, if it has one that is up."""
    try:
        from pyspark import SparkContext
    except ImportError:  # an install without Spark runs no Spark job
        return
    context = SparkContext._active_spark_context  # none: no JVM was started, none to stop
    # A context is registered as active while its JVM side is still being built (no `_jsc`
    # yet): it has no job to cancel, and cancelling raised AttributeError, which ended the run
    # unrecorded as "a bug in quest".
    if context is None or getattr(context, "_jsc", None) is None:
        return
    try:
        context.cancelAllJobs()
    except Exception as exc:  # a context stopping meanwhile: nothing left to cancel
        log.debug("cancelling the Spark jobs failed: %s", exc)


class _WorkflowRun:
    """One execution of a workflow: schedules its tasks, retries them, records and notifies."""

    def __init__(self, wf, settings: Settings, order, selected, spark, out, *, quiet=False) -> None:
        self.wf, self.settings, self.order, self.selected = wf, settings, order, selected
        self.spark = spark
        self._lock = threading.Lock()
        self._spark_lock = threading.Lock()
        self._out = out
        self.quiet = quiet
        self._stdout: TaskOutput | None = None
        # Set by Ctrl-C or SIGTERM (`_on_signal`): no task starts, none is retried, the running
        # Spark jobs are cancelled; the scheduler acts on it between its waits (`_interrupt`).
        self.interrupted = False
        self.closing = False
        self._stop = threading.Event()
        self._presses = 0  # Ctrl-C presses and SIGTERMs (`_on_signal`)
        self._cause = "Ctrl-C"  # what asked the run to stop: "Ctrl-C" or "SIGTERM"
        now = datetime.now(UTC)
        self.record = RunRecord(
            workflow=wf.name,
            run_id=now.strftime("%Y%m%dT%H%M%S%fZ"),
            started=now.isoformat(timespec="seconds"),
            only=sorted(selected) if selected != set(order) else None,
        )
        for name in order:
            kind = _kind(wf.tasks[name])
            status = rec.PENDING if name in selected else rec.NOT_SELECTED
            self.record.tasks[name] = TaskRecord(name=name, kind=kind, status=status)

    def say(self, line: str) -> None:
        """A progress line: on the terminal unless the run is quiet."""
        if not self.quiet:
            self.tell(line)

    def tell(self, line: str) -> None:
        """A line shown even in a quiet run: a failure, the closing lines."""
        with self._lock:
            self._out(redact(line, self.settings))

    def execute(self) -> RunRecord:
        console = sys.stdout
        if self._out is print:
            self._out = lambda line: print(line, file=console, flush=True)
        self._stdout = sys.stdout = TaskOutput(console)
        guard = RedactingFilter(self.settings)
        kept = KeptInTheTaskLog(self._stdout)
        handlers = list(logging.getLogger().handlers)
        for handler in handlers:
            handler.addFilter(guard)
            if any(isinstance(f, QuestOnly) for f in handler.filters):  # the terminal, not -v
                handler.addFilter(kept)
        task_logs = TaskLogHandler(self._stdout, self.settings)
        logging.getLogger().addHandler(task_logs)
        run_dir = self.settings.home / "runs" / self.record.run_id
        self.record.engine_log = str(run_dir / "engine.log")
        # Ctrl-C is a request the scheduler acts on, not an exception raised wherever the main
        # thread happens to be (a KeyboardInterrupt there left the run unrecorded, waiting for
        # its running task). So is SIGTERM (`kill`), which ended the run at once, unrecorded,
        # where a handler of the embedding program's own is left alone. Only the main thread
        # may set a handler.
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._on_signal)
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._on_signal)
        try:
            with EngineLog(run_dir / "engine.log", self.settings), Heartbeat(self.say) as beat:
                self._beat = beat
                return self._execute()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            sys.stdout = console
            logging.getLogger().removeHandler(task_logs)
            for handler in handlers:
                handler.removeFilter(guard)
                handler.removeFilter(kept)

    def _execute(self) -> RunRecord:
        t0 = time.monotonic()
        self.say(
            f"quest run: workflow {self.wf.name}, {rec.plural(len(self.selected), 'task')}, "
            f"store {self.settings.store_uri}"
        )
        self.record.settings = run_settings(self.settings)
        self.record.versions = versions()
        self._notify_workflow("on_start", "started")
        self._schedule()
        # From here a first Ctrl-C or SIGTERM lets the run finish its record (`_on_signal`).
        self.closing = True
        stopped = self._stop.is_set()
        failed = [t for t in self.record.tasks.values() if t.status in rec.FAILING]
        self.record.status = rec.FAILED if failed else rec.SUCCESS
        if stopped:
            self.record.status = rec.RUN_INTERRUPTED
        self.record.seconds = round(time.monotonic() - t0, 3)
        self.record.ended = datetime.now(UTC).isoformat(timespec="seconds")
        self.say("")
        for line in rec.table(self.record).splitlines():
            self.say(line)
        outcome = "interrupted" if stopped else "failed" if failed else "succeeded"
        # A run stopped part-way is no success, even when no task it ran failed: Databricks
        # mails a cancelled run's `on_failure` list (the job does not set
        # `no_alert_for_canceled_runs`).
        self._notify_workflow("on_failure" if failed or stopped else "on_success", outcome)
        self._report()
        self.record.ops = after_run(self.record, self.settings, self.spark, self.say)
        self.record.save(self.settings.home / "runs", lambda s: redact(s, self.settings))
        self.say("")
        for line in rec.closing(self.record):
            self.tell(line)
        return self.record

    def _schedule(self) -> None:
        pending = [n for n in self.order if n in self.selected]
        running = {}
        with ThreadPoolExecutor(
            max_workers=max(1, len(pending)), thread_name_prefix="task"
        ) as pool:
            while pending or running:
                if self._stop.is_set() and not self.interrupted:
                    self._interrupt(pending, running.values())
                elif self.interrupted and running:
                    # A task between two Spark actions when Ctrl-C came, or still starting its
                    # session, had no job to cancel then: each job it starts since is cancelled.
                    _cancel_spark_jobs()
                for name in list(pending):
                    parents = [
                        p
                        for p in self.wf.graph.predecessors(name)
                        if p != ROOT_NODE and p in self.selected
                    ]
                    states = [self.record.tasks[p].status for p in parents]
                    # As on Databricks, a task's fate is decided once every parent has ended:
                    # a failed parent no longer skips it while another still runs (its line
                    # came before that parent's own failure).
                    if rec.PENDING in states:
                        continue
                    if any(s in rec.FAILING for s in states):
                        pending.remove(name)
                        task = self.record.tasks[name]
                        task.status = rec.UPSTREAM_FAILED
                        task.result = TaskResult(Status.SKIPPED, "upstream failed")
                        self.tell(f"- {name}: skipped, upstream failed")
                    elif not all(s in (rec.SUCCESS, rec.SKIPPED) for s in states):
                        continue
                    elif why := self._excluded(name, parents):
                        pending.remove(name)
                        task = self.record.tasks[name]
                        task.status = rec.SKIPPED
                        task.result = TaskResult(Status.SKIPPED, why)
                        self.say(f"- {name}: skipped, {why}")
                    else:
                        pending.remove(name)
                        context = contextvars.copy_context()
                        running[pool.submit(context.run, self._run_task, name)] = name
                if running:
                    done, _ = wait(running, timeout=_POLL_SECONDS, return_when=FIRST_COMPLETED)
                    for future in done:
                        running.pop(future)
                        future.result()

    def _on_signal(self, signum, _frame) -> None:
        """Ctrl-C or SIGTERM: the first asks the run to stop (`_interrupt`), a second (either)
        stops at once."""
        # Counted before anything else: a second press can run this handler again inside the
        # first one's write, and must find the first already counted.
        self._presses += 1
        if self._presses > 1:
            # The running tasks' threads cannot be stopped, and Python would wait for them at
            # exit: leave now, as a kill would (every write here survives one; the next run
            # clears what this one left).
            # Straight to the terminal: a handler must not wait for a lock the interrupted
            # main thread may hold.
            if self.record.path:  # saved; only the closing lines are left
                _to_terminal(
                    f"quest run: stopped at once; this run is recorded: {self.record.path}"
                )
            elif self.closing:  # part of the record may be written: the run history's rows
                _to_terminal(
                    "quest run: stopped at once; this run's record is unfinished: "
                    f"{self.settings.home / 'runs' / self.record.run_id}.json is not written "
                    "(`quest runs` does not list the run), and ops.run_history may hold its rows"
                )
            else:
                _to_terminal("quest run: stopped at once; this run is not recorded")
            os._exit(INTERRUPTED)
        self._cause = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
        if self.closing:
            # Every task has ended: what is left (mail, history, alerts) records the run.
            cause = "SIGTERM: " if self._cause == "SIGTERM" else ""  # a Ctrl-C shows as ^C
            _to_terminal(
                f"quest run: {cause}the tasks have ended; finishing this run's record "
                f"({self._again()} to stop at once, the record unfinished)"
            )
        self._stop.set()  # a retry waiting for its turn does not start

    def _interrupt(self, pending: list[str], running) -> None:
        """Start nothing more and cancel the running Spark jobs (a task that runs none ends by
        itself); the run then ends and records itself."""
        self.interrupted = True
        names = ", ".join(sorted(running)) or "none"
        by = " by SIGTERM" if self._cause == "SIGTERM" else ""
        line = (
            f"quest run: interrupted{by}: starting no more tasks, cancelling the Spark jobs of "
            f"the running ones ({names}); {self._again()} to stop at once, unrecorded"
        )
        if _terminal_fd() == _TERMINAL:
            self.tell(line)
        else:  # output goes nowhere (`quest run | head`): the press is answered on stderr
            _to_terminal(redact(line, self.settings))
        not_started = f"interrupted ({self._cause}) before it started"
        for name in pending:
            task = self.record.tasks[name]
            task.status = rec.NOT_RUN_INTERRUPTED
            task.errors.append(not_started)
            task.result = TaskResult(Status.FAILED, not_started)
        pending.clear()
        _cancel_spark_jobs()

    def _again(self) -> str:
        """What stops the run at once after the first request."""
        return "Ctrl-C again" if self._cause == "Ctrl-C" else "Ctrl-C or another SIGTERM"

    def _excluded(self, name: str, parents: list[str]) -> str:
        """Why `name` does not run although no parent failed ("" when it runs): a parent
        condition took the other branch, or every parent was skipped. As on Databricks, where
        such tasks are excluded: an excluded dependency counts as succeeded, and a task is
        excluded only when all its dependencies are (a task joining a skipped branch and a
        task that ran, runs)."""
        wanted = self.wf.tasks[name].if_else_outcome or {}
        for parent in parents:
            if parent not in wanted or self.record.tasks[parent].status == rec.SKIPPED:
                continue  # a skipped condition is an excluded dependency, as any other
            branch = self.record.tasks[parent].branch
            if branch != str(wanted[parent]).lower():
                return f"{parent} is {branch}"
        skipped = [p for p in parents if self.record.tasks[p].status == rec.SKIPPED]
        if parents and len(skipped) == len(parents):
            verb = "was" if len(skipped) == 1 else "were"
            return f"{', '.join(skipped)} {verb} skipped"
        return ""

    def _run_task(self, name: str) -> None:
        task = self.wf.tasks[name]
        tr = self.record.tasks[name]
        log_path = self.settings.home / "runs" / self.record.run_id / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        tr.log = str(log_path)
        # Milliseconds: the run history's `seconds` is `ended - started`, and the run table's
        # figure for a task of 0.4 s read 0 or 1 there.
        tr.started = datetime.now(UTC).isoformat(timespec="milliseconds")
        self._beat.started(name)
        # (A text no encoding takes, a lone surrogate from a file name, is written escaped.)
        task_log = open(log_path, "w", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
        self._stdout.route(RedactingFile(task_log, self.settings))
        try:
            self._attempts(name, task, tr)
        finally:
            self._stdout.route(None)
            self._beat.ended(name)
            tr.ended = datetime.now(UTC).isoformat(timespec="milliseconds")
            try:  # what a full disk kept in its buffer fails again here: the task's outcome stands
                task_log.close()
            except OSError as problem:
                log.warning(
                    "%s: its log %s could not be written whole: %s", name, log_path, problem
                )

    def _attempts(self, name: str, task, tr: TaskRecord) -> None:
        eff = _task_settings(self.wf, task)
        # A condition is decided once: Databricks refuses retries on an if/else task. A task's
        # max_retries of -1 retries it without end, as on Databricks (Ctrl-C stops the run).
        retries = int(eff.max_retries or 0)
        tries = 1 if tr.kind == "condition" else math.inf if retries < 0 else 1 + retries
        wait_s = (eff.min_retry_interval_millis or 0) / 1000 * self.settings.retry_wait_scale
        wait_s = min(wait_s, LOCAL_RETRY_WAIT_CAP)
        t0 = time.monotonic()
        for attempt in itertools.takewhile(lambda n: n <= tries, itertools.count(1)):
            tr.attempts = attempt
            of = "no limit" if tries == math.inf else tries
            self.say(f"> {name}: started (attempt {attempt}/{of})")
            a0 = time.monotonic()
            try:
                value = self._call(task)
            except (Exception, SystemExit) as exc:  # a task's failure is data here
                # The whole traceback in the task's log; the line, the record and the mail say
                # the error without the Java stack a Spark error carries (`brief`).
                self._keep_traceback(exc)
                error = redact(brief(exc), self.settings)
                tr.errors.append(error)
                stopping = self._stop.is_set()
                more = attempt < tries and getattr(exc, "retryable", True) and not stopping
                if more:
                    tail = f"; retrying in {wait_s:.1f}s"
                elif attempt < tries:
                    why = "the run was interrupted" if stopping else "waiting cannot fix it"
                    tail = _not_retried(error, why)
                else:
                    tail = ""
                self.tell(f"x {name}: failed after {time.monotonic() - a0:.1f}s: {error}{tail}")
                if more and not self._stop.wait(wait_s):
                    continue
                if more:  # interrupted while waiting for the retry
                    tr.errors.append(error + _not_retried(error, "the run was interrupted"))
                tr.status = rec.FAILED
                tr.result = _failed(exc)
                tr.seconds = round(time.monotonic() - t0, 3)
                self._notify_task(name, eff, tr, exc)
                return
            tr.result, tr.summary = _task_result(value)
            tr.status = rec.SUCCESS
            tr.seconds = round(time.monotonic() - t0, 3)
            self.say(f"+ {name}: success in {tr.seconds:.1f}s" + (f": {tr.did}" if tr.did else ""))
            return

    def _keep_traceback(self, exc: BaseException) -> None:
        """Write `exc`'s whole traceback to the running task's log (this thread's), now: a task
        waiting for its retry has it there. A log that cannot be written (a full disk) must
        not turn the task's failure into the run's."""
        try:
            self._stdout.write("".join(traceback.format_exception(exc)))
            self._stdout.flush()
        except (OSError, ValueError) as problem:
            log.debug("the traceback could not be written to the task's log: %s", problem)

    def _job_parameters(self) -> dict[str, str]:
        """The workflow's job parameters: those a local run decides, else their defaults."""
        return {
            p.name: _RUN_VALUES[p.name](self.settings) if p.name in _RUN_VALUES else p.default
            for p in self.wf.parameters or []
        }

    def _published(self) -> dict[str, dict[str, str]]:
        """Per task that succeeded in this run, the task values it published."""
        with self._lock:
            return {
                t.name: dict((t.result.task_values if t.result else None) or {})
                for t in self.record.tasks.values()
                if t.status == rec.SUCCESS
            }

    def _resolve(self, text: str) -> str:
        """`text` with its task value and job parameter references replaced by their values."""
        job = {"run_id": self.record.run_id, "name": self.wf.name, "id": ""}
        return resolve(text, self._published(), self._job_parameters(), job)

    def _call(self, task):
        kind = _kind(task)
        if kind == "notebook":
            return self._run_notebook(task)
        if kind == "condition":
            return self._decide(task)
        spec = inspect.getfullargspec(task.task_func)
        params = dict(spec.kwonlydefaults or {})
        # On Databricks a Python task is the entrypoint notebook, its parameters that notebook's
        # widgets: a job parameter of the same name is pushed over one, and BrickFlow passes
        # the widget's value when it is not empty.
        job = {k: v for k, v in self._job_parameters().items() if str(v)}
        for key, value in params.items():
            if key in _RUN_VALUES:
                params[key] = _RUN_VALUES[key](self.settings)
            elif key in job:
                params[key] = str(job[key])
            elif isinstance(value, str):
                params[key] = self._resolve(value)
        from quest.orchestration.tasks import settings_scope

        with settings_scope(self.settings):
            return task.task_func(**params)

    def _decide(self, task) -> TaskResult:
        """An if/else condition task, decided; the branch it took is kept on its record."""
        decided = evaluate(task.task_func(), self._published(), self._job_parameters())
        self.record.tasks[task.name].branch = decided.branch
        return TaskResult(Status.UNCHANGED, summary=str(decided))

    def _session(self):
        """The one SparkSession, started by the first notebook task that needs it."""
        with self._spark_lock:
            if self.spark is None:
                from quest.spark import get_spark

                self.say("starting Spark ...")
                self.spark = get_spark(self.settings, engine_log=Path(self.record.engine_log))
            return self.spark

    def _run_notebook(self, task):
        from quest.orchestration.tasks import settings_scope

        nb = task.task_func()
        path = Path(nb.notebook_path)
        path = (path if path.is_absolute() else REPO / path).with_suffix(".py")
        if not path.exists():
            raise FileNotFoundError(f"notebook {path} of task {task.name} does not exist")
        widgets = {k: self._resolve(str(v)) for k, v in (nb.base_parameters or {}).items()}
        # Databricks pushes the job parameters down to every notebook task as widgets, over a
        # task parameter of the same name (job parameters take precedence).
        widgets.update(self._job_parameters())
        for key in widgets:
            if key in _RUN_VALUES:
                widgets[key] = str(_RUN_VALUES[key](self.settings))
        dbutils = LocalDbutils(widgets)
        spark = self._session()
        try:
            with settings_scope(self.settings):
                scope = runpy.run_path(
                    str(path),
                    init_globals={"spark": spark, "dbutils": dbutils},
                    run_name="__main__",
                )
        except NotebookExit as done:
            return _parse(done.value)
        return scope.get("quest_summary")

    def _notify_task(self, name, eff, tr: TaskRecord, exc: BaseException) -> None:
        emails = eff.email_notifications
        to = tuple(sorted(emails.on_failure or [])) if emails else ()
        frames = traceback.format_list(_own_frames(exc)[-5:])
        body = (
            f"Task {name} of workflow {self.wf.name} failed after {tr.attempts} attempt(s).\n"
            f"Last error: {tr.errors[-1]}\n\nStore: {self.settings.store_uri}\n"
            f"Run: {self.record.run_id} (record under {self.settings.home / 'runs'})\n"
            f"Task output, with the whole traceback: {tr.log}\n\n"
            f"Where it failed (the last Python frames):\n{''.join(frames)}"
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
            f"  {t.name}: {t.status} ({t.attempts} attempt{'' if t.attempts == 1 else 's'})"
            + (f": {t.errors[-1]}" if t.errors and t.status == rec.FAILED else "")
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
            results = deliver([note], self.settings, out=self._progress)
            self.record.notifications.extend(results)

    def _progress(self, line: str) -> None:
        """`out` for progress lines, called under the lock."""
        if not self.quiet:
            self._out(line)

    def _report(self) -> None:
        """Print and keep the answers of the last task that produced them."""
        producers = [
            t.result
            for t in self.record.tasks.values()
            if t.status == rec.SUCCESS and t.result is not None and t.result.report is not None
        ]
        if not producers:
            gold = self.record.tasks.get("gold_analysis")
            if gold is not None and gold.status == rec.SKIPPED:
                self.say("")
                self.say(
                    f"gold is as last loaded: {report_command(self.settings.home)} prints the "
                    "answers from the catalog"
                )
            return
        reports = [result.report for result in producers]
        from quest.medallion.report import format_report

        self.record.report = reports[-1]
        charts = [
            t.result.layer.outputs["charts"]
            for t in self.record.tasks.values()
            if t.result is not None and t.result.layer and "charts" in t.result.layer.outputs
        ]
        self.record.chart = charts[-1] if charts else ""
        self.say("")
        for line in format_report(reports[-1], producers[-1].quarantine).splitlines():
            self.say(line)


def report_command(home: Path) -> str:
    """`quest report`, quoted, with `--home` when `home` is not the home it reads by default
    here (QUEST_HOME, else .quest in the current folder): after `quest demo --home`, say."""
    try:
        default = load_settings().home
    except ConfigError:  # settings of the environment's own that are wrong: name the home
        default = None
    command = "quest report"
    if default is None or default.resolve() != Path(home).resolve():
        command += f" --home {shlex.quote(str(home))}"
    return f"`{command}`"


def _not_retried(error: str, why: str) -> str:
    """What follows a failed attempt's error when the task is not tried again: why, after the
    error's own "not retried" where it says so (a host name that does not exist, which the
    source's client does not ask twice either), else after "; not retried"."""
    return f": {why}" if error.endswith("not retried") else f"; not retried: {why}"


def _kind(task) -> str:
    """`notebook`, `condition` (if/else) or `python`: how the runner executes the task."""
    kind = getattr(task.task_type, "name", str(task.task_type))
    if kind == "NOTEBOOK_TASK":
        return "notebook"
    if kind == "IF_ELSE_CONDITION_TASK":
        return "condition"
    return "python"


def _is_notebook(task) -> bool:
    return _kind(task) == "notebook"


def _parse(value: str):
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def _task_result(value: object) -> tuple[TaskResult | None, object]:
    """What a task returned, as (its result, None), or (None, the value) when it is not one."""
    if isinstance(value, TaskResult):
        return value, None
    if isinstance(value, LayerResult):
        return TaskResult.from_layer(value), None
    if isinstance(value, dict):
        try:
            return TaskResult.from_dict(value), None
        except (KeyError, TypeError, ValueError):
            pass
    return None, value


# How often the scheduler looks for a Ctrl-C or SIGTERM while it waits for its running tasks.
_POLL_SECONDS = 0.2
_TERMINAL = 1  # standard output's file descriptor, under any wrapper of sys.stdout


def _to_terminal(line: str) -> None:
    """Write `line` straight to standard output's descriptor (from a signal handler, which must
    not wait for a lock the interrupted main thread may hold), or to standard error's once
    output goes nowhere; a reader gone is no error."""
    with contextlib.suppress(OSError):
        os.write(_terminal_fd(), (line + "\n").encode())


def _terminal_fd() -> int:
    """Where a line about Ctrl-C or SIGTERM goes: standard output, or standard error once
    output goes to /dev/null (its reader gone, `quest.cli.ReaderGone`, or sent there): the
    presses still answered where the user can see."""
    try:
        out, null = os.fstat(_TERMINAL), os.stat(os.devnull)
    except OSError:
        return 2
    return 2 if (out.st_dev, out.st_ino) == (null.st_dev, null.st_ino) else _TERMINAL


def _own_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    """`exc`'s traceback without the frames of installed packages (PySpark and Py4J's, under a
    Spark call), which say where Spark was, not the task; all of them if only those."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [
        f for f in frames if not {"site-packages", "dist-packages"} & set(Path(f.filename).parts)
    ]
    return own or frames


def _failed(exc: BaseException) -> TaskResult:
    """A failed task's result, with what its layer did before failing when the error says."""
    layer = getattr(exc, "result", None)
    if not isinstance(layer, LayerResult):
        return TaskResult(Status.FAILED)
    result = TaskResult.from_layer(layer)
    result.status = Status.FAILED
    return result
