"""The local runner executes a BrickFlow Workflow object as BrickFlow declares it (no Spark, but
for the test that Ctrl-C cancels the Spark job a notebook task runs)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from quest.errors import RUN_FAILED, ConfigError, LockError
from quest.locking import file_lock
from quest.mirror.sample import generate_sample
from quest.mirror.server import MirrorServer
from quest.results import Status, TaskResult
from quest.runner.demo import run_demo
from quest.runner.local import run_workflow

from .support import OPS, Behaviour, SmtpServer, fake_workflow, runner_settings

UNCHANGED = TaskResult(Status.UNCHANGED, "unchanged, skipped (r)")


@pytest.fixture
def settings(tmp_path):
    return runner_settings(tmp_path)


def _run(settings, behave, **kwargs):
    lines: list[str] = []
    record = run_workflow(settings, workflow=fake_workflow(behave, **kwargs), out=lines.append)
    return record, lines


def test_independent_heads_run_concurrently_and_children_wait_for_all_parents(settings):
    # Each head waits inside its task for the other: run one after the other, the first would
    # wait out the barrier and fail (however slow the machine, two concurrent heads meet).
    heads = threading.Barrier(2, timeout=10)

    class Meeting(Behaviour):
        def __call__(self, name, **params):
            if name in ("extract_a", "extract_b"):
                heads.wait()
            return super().__call__(name, **params)

    behave = Meeting(delay=0.4)
    record, _ = _run(settings, behave)
    assert not heads.broken, "the two heads did not overlap"
    a1, b1 = behave.spans["extract_a"][0][1], behave.spans["extract_b"][0][1]
    combine_start = behave.spans["combine"][0][0]
    assert combine_start >= max(a1, b1)
    # publish also depends on extract_a: BFS layers would start it beside combine.
    assert behave.spans["publish"][0][0] >= behave.spans["combine"][0][1]
    assert record.status == "success" and record.exit_code == 0


def test_task_failing_twice_then_succeeding_is_retried_to_three_attempts(settings):
    behave = Behaviour(fail_times={"combine": 2})
    record, lines = _run(settings, behave, retries=2)
    assert record.tasks["combine"].attempts == 3
    assert record.tasks["combine"].status == "success"
    assert len(record.tasks["combine"].errors) == 2
    assert sum("x combine: failed" in line for line in lines) == 2
    assert record.exit_code == 0


def test_max_retries_of_minus_one_retries_without_end_as_databricks_does(settings):
    # `1 + -1` attempts: the task never ran, the run called itself a success, and a task behind
    # it kept the scheduler spinning for good.
    behave = Behaviour(fail_times={"combine": 4})
    record, lines = _run(settings, behave, retries=-1)
    assert record.tasks["combine"].attempts == 5
    assert record.tasks["combine"].status == "success"
    assert record.tasks["publish"].status == "success"
    assert any("combine: started (attempt 5/no limit)" in line for line in lines)


def test_a_failed_parent_skips_its_child_only_once_every_parent_has_ended(settings):
    # Databricks evaluates a task's run-if once all its dependencies have completed; locally,
    # combine was skipped as soon as extract_a failed, while extract_b still ran, and its line
    # came before extract_b's (a failing sync's own line after its children's).
    import time

    class SlowB(Behaviour):
        def __call__(self, name, **params):
            if name == "extract_b":
                time.sleep(1.0)
            return super().__call__(name, **params)

    record, lines = _run(settings, SlowB(fail_times={"extract_a": 1}), retries=0)
    assert record.tasks["combine"].status == "skipped: upstream failed"
    ended = next(i for i, line in enumerate(lines) if line.startswith("+ extract_b: success"))
    skipped = next(i for i, line in enumerate(lines) if line.startswith("- combine: skipped"))
    assert ended < skipped, lines


def test_task_failing_for_good_stops_downstream_exits_nonzero_and_notifies(settings):
    behave = Behaviour(fail_times={"extract_b": 99})
    record, lines = _run(settings, behave, retries=1)
    tasks = record.tasks
    assert tasks["extract_b"].status == "failed" and tasks["extract_b"].attempts == 2
    assert tasks["extract_a"].status == "success"
    assert tasks["combine"].status == "skipped: upstream failed"
    assert tasks["publish"].status == "skipped: upstream failed"
    assert "combine" not in behave.calls and "publish" not in behave.calls
    assert record.exit_code != 0
    failures = [n for n in record.notifications if n["event"] == "on_failure"]
    assert {n["scope"] for n in failures} == {"extract_b", "workflow"}
    assert all(n["to"] == [OPS] for n in failures)
    assert any("notification on_failure [extract_b]" in line for line in lines)
    assert any("boom in extract_b" in line for line in lines)


def test_run_record_is_written_under_the_home_as_json(settings):
    record, lines = _run(settings, Behaviour())
    saved = json.loads((settings.home / "runs").joinpath(record.path.split("/")[-1]).read_text())
    assert saved["status"] == "success"
    assert set(saved["tasks"]) == {"extract_a", "extract_b", "combine", "publish"}
    assert saved["tasks"]["combine"]["did"] == "unchanged, skipped (combine had nothing to do)"
    assert any(
        line.startswith("+ combine: success") and "unchanged, skipped" in line for line in lines
    )
    assert any(line.strip().startswith("task") and "attempts" in line for line in lines)


def test_python_task_parameters_are_overridden_by_the_run_settings(settings):
    behave = Behaviour()
    _run(settings, behave)
    assert behave.params["extract_a"] == {
        "env": "local",
        "store": settings.store_uri,
        "contact": "runner-tests@example.org",
    }


def test_only_runs_the_named_tasks_and_rejects_unknown_names(settings):
    behave = Behaviour()
    record = run_workflow(
        settings, workflow=fake_workflow(behave), only=["combine"], out=lambda _: None
    )
    assert set(behave.calls) == {"combine"}
    assert record.tasks["extract_a"].status == "not selected"
    with pytest.raises(ConfigError, match="--only nope: no such task; the tasks are extract_a"):
        run_workflow(settings, workflow=fake_workflow(behave), only=["nope"])


@pytest.mark.parametrize(
    ("given", "refused"),
    [
        ({"QUEST_ENV": "dev"}, "Unity Catalog catalog 'quest_dev'.*QUEST_ENV=dev"),
        ({"QUEST_ENV": "prod"}, "Unity Catalog catalog 'quest'.*QUEST_ENV=prod"),
        ({"QUEST_STORE": "s3://some-bucket/republish"}, "cannot read QUEST_STORE=s3://some-bucket"),
    ],
    ids=["dev", "prod", "s3-store"],
)
def test_notebook_tasks_set_up_for_a_workspace_are_refused_off_databricks_before_any_task(
    tmp_path, given, refused
):
    # QUEST_ENV=dev on a laptop: the syncs wrote the shared store, then bronze failed on the
    # Unity Catalog catalog no local Spark has; on an s3:// store, on Java's
    # UnsupportedFileSystemException (the local Spark has no S3 file system). Syncing alone
    # stays possible.
    from quest.config import load_settings

    settings = load_settings(
        {"QUEST_HOME": str(tmp_path), "QUEST_CONTACT": "me@example.org", **given}
    )
    with pytest.raises(ConfigError, match=refused):
        run_workflow(settings, out=lambda _: None)
    assert not (settings.home / "runs").exists()
    behave = Behaviour()
    record = run_workflow(settings, workflow=fake_workflow(behave), out=lambda _: None)
    assert record.exit_code == 0  # no notebook task: nothing to refuse
    assert (settings.home / "runs").exists()  # (where a run is recorded: the check above holds)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"bls_url": "ftp://example.org/pr/"}, "QUEST_BLS_URL"),
        ({"datausa_url": "datausa.io/api"}, "QUEST_DATAUSA_URL"),
        ({"datausa_key": "bls/pr/population.json"}, "QUEST_DATAUSA_KEY"),
        ({"bls_prefix": "bls/pr"}, "QUEST_BLS_PREFIX"),
        # The gold views' parameters, which the plan refused after both syncs.
        ({"report_series": "PRS30006032 "}, "QUEST_REPORT_SERIES"),
        ({"report_period": "Q1"}, "QUEST_REPORT_PERIOD"),
        ({"current_file": "pr.data;0"}, "QUEST_CURRENT_FILE"),
    ],
)
def test_a_source_url_or_store_layout_the_syncs_refuse_stops_the_run_before_any_task(
    tmp_path, override, named
):
    # Before, `quest run --bls-url ftp://x` started the run, sent the other sync to the
    # network and exited 10, where `quest sync bls` exited 9 at once.
    settings = runner_settings(tmp_path).with_overrides(**override)
    with pytest.raises(ConfigError, match=named):
        run_workflow(settings, out=lambda _: None)
    assert not (tmp_path / "home" / "runs").exists()


def test_failure_notification_is_sent_through_smtp_without_printing_the_password(settings):
    with SmtpServer() as smtp:
        url = f"smtp://mailer:s3cret-smtp-pw@127.0.0.1:{smtp.port}"
        record, lines = _run(
            settings.with_overrides(smtp_url=url), Behaviour(fail_times={"publish": 9}), retries=0
        )
    assert record.exit_code == RUN_FAILED
    assert ("mailer", "s3cret-smtp-pw") in smtp.logins
    failed = [m for m in smtp.messages if "publish failed" in m["data"]]
    assert failed and failed[0]["rcpt"] == [OPS]
    assert "s3cret-smtp-pw" not in "\n".join(lines)
    assert "s3cret-smtp-pw" not in json.dumps(record.to_dict())


def test_a_mail_password_smtp_cannot_send_is_not_sent_and_the_run_records_itself(settings):
    # smtplib refuses a password outside ASCII with UnicodeEncodeError, which escaped the mail
    # and ended the run as "a bug in quest" before its record was saved.
    with SmtpServer() as smtp:
        url = f"smtp://mailer:p%C3%A4ss@127.0.0.1:{smtp.port}"  # pragma: allowlist secret
        record, _ = _run(
            settings.with_overrides(smtp_url=url), Behaviour(fail_times={"publish": 9}), retries=0
        )
    assert record.exit_code == RUN_FAILED and Path(record.path).is_file()
    deliveries = [n["delivery"] for n in record.notifications]
    assert deliveries and all("is not ASCII, which smtplib cannot send" in d for d in deliveries)
    # nothing of the password, not even the character smtplib could not send
    assert "\\xe4" not in Path(record.path).read_text() and "ä" not in str(deliveries)


def test_the_history_rows_carry_the_run_tables_seconds(settings):
    # Started and ended were kept to the second: a 0.4 s task read 0 or 1 s in the history.
    from quest.ops.run_history import rows_from_record

    record, _ = _run(settings, Behaviour(delay=0.4))
    rows = {row.task: row for row in rows_from_record(record)}
    # The row's span also holds the runner's own steps around the task (its log opened and
    # closed), which a loaded machine can stretch; whole seconds would be off by 0.4 s or more.
    for name, task in record.tasks.items():
        assert abs(rows[name].seconds - task.seconds) < 0.3, (name, rows[name], task.seconds)


@contextlib.contextmanager
def _run_lock_held_elsewhere(settings):
    """The home's run lock, held by another thread (another open file: as another run holds it)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    holding, release = threading.Event(), threading.Event()

    def hold():
        with file_lock(settings.home / "run.lock", "test holder"):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    try:
        yield
    finally:
        release.set()
        holder.join()


def test_second_run_on_the_same_home_refuses_while_the_first_holds_the_lock(settings):
    with _run_lock_held_elsewhere(settings):
        behave = Behaviour()
        with pytest.raises(LockError, match=f"run lock on {settings.home}.*held by another run"):
            run_workflow(settings, workflow=fake_workflow(behave), out=lambda _: None)
        assert behave.calls == {}


def test_a_demo_while_another_run_holds_the_lock_writes_no_sample(settings):
    # The running demo's mirror serves `<home>/demo-source`: a second demo must not rewrite it.
    settings = settings.with_overrides(store=None)
    held = f"run lock on {settings.home}.*held by another run"
    with _run_lock_held_elsewhere(settings), pytest.raises(LockError, match=held):
        run_demo(settings, out=lambda _: None)
    assert not (settings.home / "demo-source").exists()
    assert not (settings.home / "store").exists()


def test_missing_contact_or_bad_store_stops_the_run_before_any_task(settings):
    behave = Behaviour()
    with pytest.raises(ConfigError, match="QUEST_CONTACT"):
        run_workflow(settings.with_overrides(contact=""), workflow=fake_workflow(behave))
    with pytest.raises(ConfigError, match="QUEST_STORE \\(or --store\\) 'ftp://x/y'"):
        run_workflow(settings.with_overrides(store="ftp://x/y"), workflow=fake_workflow(behave))
    assert behave.calls == {}
    assert not (settings.home / "runs").exists()


def test_the_datausa_sync_alone_needs_no_contact_but_checks_one_given(settings, tmp_path):
    # DataUSA asks for no contact: before, `quest run --only datausa_sync` refused to start
    # without QUEST_CONTACT, which `quest sync datausa` does not ask for.
    with MirrorServer(generate_sample(tmp_path / "source")) as mirror:
        unnamed = settings.with_overrides(contact="", datausa_url=mirror.datausa_url)
        record = run_workflow(unnamed, only=["datausa_sync"], out=lambda _line: None)
        assert record.status == "success"
        assert record.tasks["datausa_sync"].result.status is Status.CHANGED
        with pytest.raises(ConfigError, match="QUEST_CONTACT .* 'me', not an e-mail address"):
            run_workflow(unnamed.with_overrides(contact="me"), only=["datausa_sync"])
        with pytest.raises(ConfigError, match="QUEST_CONTACT .* is not set"):
            run_workflow(unnamed, only=["bls_sync", "datausa_sync"])


def test_a_spark_master_the_notebook_tasks_would_refuse_stops_the_run_before_the_syncs(
    settings, monkeypatch
):
    # Before, the syncs ran (the live sources fetched) and the first notebook task failed.
    monkeypatch.setenv("QUEST_SPARK_MASTER", "lcoal[2]")
    with pytest.raises(ConfigError, match="QUEST_SPARK_MASTER='lcoal\\[2\\]'"):
        run_workflow(settings)
    assert not (settings.home / "runs").exists()
    # A run of the syncs alone starts no Spark, and is not stopped by it.
    assert run_workflow(settings, only=["plan_medallion"]).status == "success"


def test_notebook_tasks_run_the_file_with_base_parameters_as_widgets_and_run_overrides(
    settings, tmp_path
):
    from brickflow import NotebookTask, Workflow

    notebook = tmp_path / "nb.py"
    notebook.write_text(
        "# Databricks notebook source\n"
        "dbutils.widgets.text('schema_prefix', 'declared-default')\n"
        "dbutils.widgets.text('undeclared', 'its-default')\n"
        "print('noisy notebook output')\n"
        "quest_summary = {n: dbutils.widgets.get(n) for n in "
        "('store', 'schema_prefix', 'report_series', 'undeclared')}\n"
        "quest_summary['spark'] = spark\n"
    )
    exiting = tmp_path / "exits.py"
    exiting.write_text(f"dbutils.notebook.exit({json.dumps(json.dumps(UNCHANGED.to_dict()))})\n")
    wf = Workflow("nb_flow")

    @wf.notebook_task
    def widgets():
        return NotebookTask(
            notebook_path=str(notebook.with_suffix("")),
            base_parameters={"store": "s3://dev", "schema_prefix": "", "report_series": "S1"},
        )

    @wf.notebook_task(depends_on="widgets")
    def exits():
        return NotebookTask(notebook_path=str(exiting.with_suffix("")), base_parameters={})

    lines: list[str] = []
    run = run_workflow(
        settings.with_overrides(schema_prefix="t1_"),
        spark="the-session",
        workflow=wf,
        out=lines.append,
    )
    assert run.tasks["widgets"].summary == {
        "store": settings.store_uri,
        "schema_prefix": "t1_",
        "report_series": "S1",
        "undeclared": "its-default",
        "spark": "the-session",
    }
    assert run.tasks["exits"].result == UNCHANGED
    assert run.tasks["exits"].unchanged is True
    assert not any("noisy notebook output" in line for line in lines)
    assert "noisy notebook output" in Path(run.tasks["widgets"].log).read_text()


INTERRUPTED_CHILD = """
import json, sys
from pathlib import Path
from quest.runner.local import run_workflow
from tests.workflow.support import Behaviour, fake_workflow, runner_settings

import quest.runner.local as local
local.LOCAL_RETRY_WAIT_CAP = 60.0  # the workflow's minute, not 10 s: a wait no test outlasts
settings = runner_settings(Path(sys.argv[1]), retry_wait_scale=1.0)
behave = Behaviour(delay=1.0, fail_times={"extract_a": 1})
record = run_workflow(settings, workflow=fake_workflow(behave, retries=2))
statuses = {name: task.status for name, task in record.tasks.items()}
print(json.dumps({"status": record.status, "exit": record.exit_code, "tasks": statuses,
                  "calls": behave.calls, "path": record.path}))
"""


def _child(script: str, tmp_path) -> subprocess.Popen:
    """`script` run by this Python in a process of its own (its Ctrl-C is not the suite's), from
    the repository, with `tmp_path` as its argument; its input and output as text, its input
    for a child that waits for the test's word."""
    from tests.realdata import REPO

    return subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _lines_until(child: subprocess.Popen, text: str, stream=None) -> list[str]:
    """The child's lines (of its output, or `stream`) up to the first that holds `text`, that
    one included; fails when they end first."""
    stream = stream or child.stdout
    seen: list[str] = []
    while not seen or text not in seen[-1]:
        line = stream.readline()
        assert line, "".join(seen)
        seen.append(line)
    return seen


def _ctrl_c(script: str, tmp_path, after: str) -> dict:
    """`script` in a child, Ctrl-C once it prints `after`, a line on its input once it says it
    starts no more tasks (for a task that waits for it); the JSON its last line prints."""
    child = _child(script, tmp_path)
    _lines_until(child, after)
    child.send_signal(signal.SIGINT)
    _lines_until(child, "starting no more tasks")
    out, _ = child.communicate("go on\n", timeout=60)
    return json.loads(out.splitlines()[-1])


def test_ctrl_c_starts_no_more_tasks_or_retries_and_the_run_still_records_itself(tmp_path):
    # Ctrl-C used to be felt only once the running task ended, and the run then vanished:
    # no run record, no history row, no closing line.
    import time

    child = _child(INTERRUPTED_CHILD, tmp_path)
    seen = _lines_until(child, "x extract_a: failed")
    # extract_a waits 60 s for its retry, combine and publish for extract_b; the bound leaves
    # a loaded machine time to close the run, and is far short of the wait
    started = time.monotonic()
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=120)
    assert time.monotonic() - started < 20, "a retry or a task started after Ctrl-C"
    lines = "".join(seen).splitlines() + out.splitlines()
    assert any("quest run: interrupted: starting no more tasks" in line for line in lines), out
    assert any("fake_flow interrupted" in line for line in lines), "the run mailed a success"
    assert any(line.startswith("Interrupted. ") for line in lines), out
    outcome = json.loads(lines[-1])
    assert (outcome["status"], outcome["exit"]) == ("interrupted", 130)
    assert outcome["tasks"] == {
        "extract_a": "failed",
        "extract_b": "success",
        "combine": "failed: interrupted",
        "publish": "failed: interrupted",
    }
    assert outcome["calls"] == {"extract_a": 1, "extract_b": 1}
    saved = json.loads(Path(outcome["path"]).read_text())
    assert saved["status"] == "interrupted"


def test_sigterm_stops_the_run_as_ctrl_c_does_and_the_run_records_itself(tmp_path):
    # `kill` (SIGTERM) ended the run at once: no record, no history row, no closing line.
    child = _child(INTERRUPTED_CHILD, tmp_path)
    seen = _lines_until(child, "x extract_a: failed")
    child.send_signal(signal.SIGTERM)
    out, _ = child.communicate(timeout=60)
    lines = "".join(seen).splitlines() + out.splitlines()
    assert any("quest run: interrupted by SIGTERM: starting no more tasks" in x for x in lines)
    assert any("Ctrl-C or another SIGTERM to stop at once" in line for line in lines), out
    outcome = json.loads(lines[-1])
    assert (outcome["status"], outcome["exit"]) == ("interrupted", 130)
    assert outcome["tasks"]["combine"] == "failed: interrupted"
    saved = json.loads(Path(outcome["path"]).read_text())
    assert saved["status"] == "interrupted"
    assert saved["tasks"]["combine"]["errors"] == ["interrupted (SIGTERM) before it started"]


def test_the_run_gives_sigterm_back_and_leaves_an_embedding_programs_handler_alone(tmp_path):
    # A program that runs the workflow and handles SIGTERM itself keeps its handler during the
    # run and after it; the run's own handler for SIGINT is undone at its end.
    def theirs(signum, frame):
        raise AssertionError("not sent")

    seen = {}

    class Looking(Behaviour):
        def __call__(self, name, **params):
            seen[name] = signal.getsignal(signal.SIGTERM)
            return super().__call__(name, **params)

    before = signal.signal(signal.SIGTERM, theirs)
    ctrl_c = signal.getsignal(signal.SIGINT)
    try:
        record = run_workflow(runner_settings(tmp_path), workflow=fake_workflow(Looking()))
        assert record.status == "success"
        assert set(seen.values()) == {theirs}
        assert signal.getsignal(signal.SIGTERM) is theirs
        assert signal.getsignal(signal.SIGINT) is ctrl_c
        # Where SIGTERM kills, the run takes it while it runs and gives it back at its end: a
        # handler left behind would have the process ignore every later `kill`.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        seen.clear()
        record = run_workflow(runner_settings(tmp_path), workflow=fake_workflow(Looking()))
        assert record.status == "success"
        assert signal.SIG_DFL not in seen.values() and len(set(seen.values())) == 1
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, before)


STOPPED_IN_LAST_TASK_CHILD = """
import json, select, sys
from pathlib import Path
from quest.runner.local import run_workflow
from tests.workflow.support import Behaviour, fake_workflow, runner_settings

class Held(Behaviour):  # ends well once the test has seen the run take its Ctrl-C (or in 60 s)
    def __call__(self, name, **params):
        select.select([sys.stdin], [], [], 60)
        return super().__call__(name, **params)

settings = runner_settings(Path(sys.argv[1]))
behave = Held()
record = run_workflow(settings, only=["extract_b"], workflow=fake_workflow(behave))
print(json.dumps({"status": record.status, "tasks": {n: t.status for n, t in record.tasks.items()},
                  "mails": [(n["event"], n["subject"]) for n in record.notifications]}))
"""


def test_a_run_stopped_while_its_last_task_ends_well_mails_no_success(tmp_path):
    # The task it was running ended well and none was left to fail "interrupted": the run was
    # recorded as interrupted, but mailed its on_success list.
    outcome = _ctrl_c(STOPPED_IN_LAST_TASK_CHILD, tmp_path, "extract_b: started")
    assert outcome["status"] == "interrupted" and outcome["tasks"]["extract_b"] == "success"
    assert [event for event, _ in outcome["mails"]] == ["on_start", "on_failure"], outcome
    assert outcome["mails"][-1][1].endswith("interrupted")


def test_cancelling_spark_jobs_while_the_session_starts_is_no_error(monkeypatch):
    # PySpark registers the context as active before it builds its JVM side (`_jsc`): a Ctrl-C
    # then raised AttributeError, and the run ended unrecorded as "a bug in quest".
    from pyspark import SparkContext

    from quest.runner.local import _cancel_spark_jobs

    cancelled = []
    context = SparkContext.__new__(SparkContext)  # no `_jsc`: its JVM side not built yet
    context.cancelAllJobs = lambda: cancelled.append("starting")
    monkeypatch.setattr(SparkContext, "_active_spark_context", context)
    _cancel_spark_jobs()
    assert cancelled == []  # not asked at all, rather than asked and its error swallowed
    context._jsc = object()  # up: its jobs are cancelled
    context.cancelAllJobs = lambda: cancelled.append("up")
    _cancel_spark_jobs()
    assert cancelled == ["up"]


CANCELLING_CHILD = """
import json, sys, time
from pathlib import Path
from pyspark import SparkContext
from quest.runner.local import run_workflow
from tests.workflow.support import Behaviour, fake_workflow, runner_settings

class Context:  # a session whose task starts a Spark job now and then
    _jsc = object()
    cancels = 0
    def cancelAllJobs(self):
        Context.cancels += 1

class Running(Behaviour):  # runs on until its jobs were cancelled a few times (30 s at most)
    def __call__(self, name, **params):
        deadline = time.monotonic() + 30
        while Context.cancels <= 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        return super().__call__(name, **params)

SparkContext._active_spark_context = Context()
settings = runner_settings(Path(sys.argv[1]))
record = run_workflow(settings, workflow=fake_workflow(Running()))
print(json.dumps({"cancels": Context.cancels, "status": record.status}))
"""


def test_ctrl_c_cancels_the_spark_jobs_a_running_task_starts_after_it(tmp_path):
    # Cancelled once, the jobs a task started after Ctrl-C (it was between two actions, or its
    # session still starting) ran on, the task with them.
    outcome = _ctrl_c(CANCELLING_CHILD, tmp_path, "extract_b: started")
    assert outcome["status"] == "interrupted"
    # every poll while the tasks ran on, not only the first
    assert outcome["cancels"] > 3, outcome


CLOSING_CHILD = """
import json, select, sys
from pathlib import Path
import quest.runner.local as local
from tests.workflow.support import Behaviour, fake_workflow, runner_settings

after_run = local.after_run
def slow_after_run(*args, **kwargs):
    print("closing", flush=True)
    select.select([sys.stdin], [], [], 60)  # the test's word, once the run answered its Ctrl-C
    return after_run(*args, **kwargs)
local.after_run = slow_after_run
settings = runner_settings(Path(sys.argv[1]))
record = local.run_workflow(settings, workflow=fake_workflow(Behaviour()))
print(json.dumps({"status": record.status, "exit": record.exit_code, "path": record.path}))
"""


def test_a_first_ctrl_c_once_the_tasks_have_ended_lets_the_run_record_itself(tmp_path):
    # It said nothing, so a second press followed, and the run was lost unrecorded.
    child = _child(CLOSING_CHILD, tmp_path)
    _lines_until(child, "closing")
    child.send_signal(signal.SIGINT)
    seen = _lines_until(child, "finishing this run's record")
    assert "the tasks have ended; finishing this run's record" in seen[-1]
    out, _ = child.communicate("go on\n", timeout=60)
    outcome = json.loads(out.splitlines()[-1])
    assert (outcome["status"], outcome["exit"]) == ("success", 0)
    assert Path(outcome["path"]).is_file()


def test_a_second_ctrl_c_while_the_run_records_itself_says_the_record_is_unfinished(tmp_path):
    # It said "this run is not recorded", though its run history rows may be written by then.
    child = _child(CLOSING_CHILD, tmp_path)  # told nothing: it stays in the closing step
    _lines_until(child, "closing")
    child.send_signal(signal.SIGINT)
    _lines_until(child, "finishing this run's record")
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 130
    assert "stopped at once; this run's record is unfinished" in out
    assert "ops.run_history may hold its rows" in out and "is not recorded" not in out


def test_once_output_goes_nowhere_the_ctrl_c_lines_go_to_stderr(tmp_path):
    # `quest run | head`: once the reader is gone, output goes to /dev/null (`cli.ReaderGone`),
    # and the presses were answered there, unseen.
    from tests.realdata import REPO

    script = CLOSING_CHILD.replace(
        'print("closing", flush=True)', 'print("closing", file=sys.stderr, flush=True)'
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=REPO,
        stdin=subprocess.PIPE,  # told nothing: it stays in the closing step
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _lines_until(child, "closing", child.stderr)
    child.send_signal(signal.SIGINT)
    _lines_until(child, "finishing this run's record", child.stderr)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert "stopped at once; this run's record is unfinished" in err


@pytest.mark.parametrize(
    ("stop", "said"),
    [
        (signal.SIGINT, "interrupted: starting no more tasks"),
        (signal.SIGTERM, "interrupted by SIGTERM: starting no more tasks"),
    ],
)
def test_a_second_ctrl_c_or_sigterm_stops_at_once_without_waiting_for_the_task(
    stop, said, tmp_path
):
    import time

    child = _child(INTERRUPTED_CHILD.replace("delay=1.0", "delay=120.0"), tmp_path)
    _lines_until(child, "extract_b: started")
    child.send_signal(stop)
    _lines_until(child, said)
    started = time.monotonic()
    child.send_signal(stop)
    out, _ = child.communicate(timeout=60)
    # Far short of the task's 120 s, with room for a loaded machine to end the child.
    assert time.monotonic() - started < 20, "waited for the 120 s task"
    assert child.returncode == 130 and "stopped at once; this run is not recorded" in out


def _press_ctrl_c_once_a_job_runs(spark, outcome: dict, done: threading.Event) -> None:
    """Send this process a SIGINT half a second into the first Spark job (`outcome["pressed"]`),
    then watch for the job to end: after 60 s it cancels it itself (`outcome["watchdog"]`), so
    that a cancellation that never comes fails the test instead of hanging the suite."""
    import os
    import time

    tracker = spark.sparkContext.statusTracker()
    deadline = time.monotonic() + 120
    while not tracker.getActiveJobsIds():
        if done.is_set() or time.monotonic() > deadline:
            return
        time.sleep(0.05)
    time.sleep(0.5)
    outcome["pressed"] = time.monotonic()
    os.kill(os.getpid(), signal.SIGINT)  # the runner's handler is the main thread's now
    while tracker.getActiveJobsIds():
        if time.monotonic() > outcome["pressed"] + 60:
            outcome["watchdog"] = time.monotonic()
            spark.sparkContext.cancelAllJobs()
            return
        time.sleep(0.05)


@pytest.mark.spark
def test_ctrl_c_cancels_the_spark_job_a_notebook_task_is_running(spark, spark_settings, tmp_path):
    # A notebook task blocks in a Spark action: without the cancellation, Ctrl-C would wait for
    # the job (here, hours of summing) before the run could end and record itself.
    import time

    from brickflow import NotebookTask, Workflow

    notebook = tmp_path / "long_job.py"
    notebook.write_text(
        "# Databricks notebook source\n"
        "spark.range(0, 1 << 45, 1, 2).selectExpr('sum(id % 7)').collect()\n"
    )
    wf = Workflow("spark_flow")

    @wf.notebook_task
    def long_job():
        return NotebookTask(notebook_path=str(notebook.with_suffix("")), base_parameters={})

    @wf.notebook_task(depends_on="long_job")
    def after():
        return NotebookTask(notebook_path=str(notebook.with_suffix("")), base_parameters={})

    outcome: dict[str, float] = {}
    done = threading.Event()
    # Were the runner not to handle Ctrl-C, this handler would take it instead of pytest's, whose
    # KeyboardInterrupt would end the whole session rather than fail this test.
    unhandled = []
    previous = signal.signal(signal.SIGINT, lambda *_: unhandled.append(time.monotonic()))
    presser = threading.Thread(
        target=_press_ctrl_c_once_a_job_runs, args=(spark, outcome, done), daemon=True
    )
    presser.start()
    lines: list[str] = []
    try:
        record = run_workflow(spark_settings, spark=spark, workflow=wf, out=lines.append)
    finally:
        done.set()  # a presser still waiting for a job stops, and presses nothing later
        presser.join(timeout=65)
        signal.signal(signal.SIGINT, previous)
    assert "pressed" in outcome, "the notebook's Spark job never started"
    assert not unhandled, "the runner did not handle Ctrl-C"
    assert "watchdog" not in outcome, "Ctrl-C did not cancel the running Spark job"
    assert record.status == "interrupted" and record.exit_code == 130
    assert record.tasks["long_job"].status == "failed"
    assert "cancel" in " ".join(record.tasks["long_job"].errors).lower()
    assert record.tasks["after"].status == "failed: interrupted"
    assert any("cancelling the Spark jobs of the running ones (long_job)" in x for x in lines)


def test_record_medallion_without_the_plans_fingerprint_fails_naming_it(settings):
    # It returned "unchanged", a success to the no_successful_run alert, while the medallion was
    # never recorded and every day loaded it again (on Databricks: a task value reference that
    # did not resolve).
    record = run_workflow(settings, only=["record_medallion"], out=lambda _: None)
    task = record.tasks["record_medallion"]
    assert task.status == "failed" and record.exit_code == RUN_FAILED
    assert "record_medallion got no fingerprint from plan_medallion ('')" in task.errors[-1]
    from quest.orchestration.tasks import record_medallion

    unresolved = "{{tasks.plan_medallion.values.fingerprint}}"
    with pytest.raises(ConfigError, match="did not resolve"):
        record_medallion(fingerprint=unresolved, store=settings.store_uri, env="local")


class _FakeSmtp:
    """smtplib.SMTP's part `_send` uses, for a server elsewhere (no network)."""

    calls: list = []
    tls = False

    def __init__(self, host, port, timeout=None, context=None):
        self.calls.append(("connect", host, port, context))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def ehlo(self):
        pass

    def has_extn(self, name):
        return self.tls and name == "starttls"

    def starttls(self, context=None):
        self.calls.append(("starttls", context))

    def login(self, user, password):
        self.calls.append(("login", user))

    def send_message(self, message):
        self.calls.append(("send", message["To"]))


@pytest.mark.parametrize("tls", [True, False])
def test_mail_checks_the_servers_certificate_and_never_sends_a_password_in_clear(
    monkeypatch, tmp_path, tls
):
    # smtplib checks no certificate by default, and logged in without STARTTLS when the server
    # offered none (or someone on the way stripped it): the password went out readable.
    import smtplib
    import ssl

    from quest.runner.notify import Notification, deliver

    fake = type("Fake", (_FakeSmtp,), {"calls": [], "tls": tls})
    monkeypatch.setattr(smtplib, "SMTP", fake)
    settings = runner_settings(tmp_path, smtp_url="smtp://mailer:pw@mail.example.org:587")
    note = Notification("on_failure", "workflow", (OPS,), "quest failed", "body")
    (done,) = deliver([note], settings, out=lambda _: None)
    if tls:
        (_, context) = [c for c in fake.calls if c[0] == "starttls"][0]
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert ("login", "mailer") in fake.calls and done["delivery"].startswith("sent")
    else:
        assert not [c for c in fake.calls if c[0] in ("login", "send")]
        assert "offers no STARTTLS" in done["delivery"] and "pw" not in done["delivery"]
    monkeypatch.setattr(smtplib, "SMTP_SSL", fake)
    fake.calls.clear()
    smtps = settings.with_overrides(smtp_url="smtps://mailer:pw@mail.example.org")
    (done,) = deliver([note], smtps, out=lambda _: None)
    (_, host, port, context) = fake.calls[0]
    assert (host, port, context.verify_mode) == ("mail.example.org", 465, ssl.CERT_REQUIRED)
    assert ("login", "mailer") in fake.calls
