"""What a local run prints and records: outcomes from the typed results, one closing line, the
paths to look at next, progress on long tasks, and a record that says what ran, with what and
when (no Spark)."""

from __future__ import annotations

import json
import logging
import re
import threading
from pathlib import Path

import pytest

from quest.errors import ConfigError, DataFileError, HostNotFound, SourceError
from quest.results import Status, TaskResult
from quest.runner import output
from quest.runner.local import run_workflow
from quest.runner.record import FAILED, SUCCESS, RunRecord, TaskRecord, closing, plural, table

from .support import Behaviour, fake_workflow, runner_settings


@pytest.fixture
def settings(tmp_path):
    return runner_settings(tmp_path, bls_url="http://reader:s3cret@127.0.0.1:9/pub/")


def _record() -> RunRecord:
    record = RunRecord(workflow="w", run_id="r", started="t", seconds=114.6)
    record.tasks = {
        "sync": TaskRecord("sync", "python", SUCCESS, 1, result=TaskResult(Status.UNCHANGED)),
        "load": TaskRecord(
            "load",
            "notebook",
            SUCCESS,
            2,
            result=TaskResult(Status.CHANGED, rows_written=120, rows_quarantined=3),
        ),
        "gold": TaskRecord("gold", "notebook", FAILED, 1, result=TaskResult(Status.FAILED)),
        "gate": TaskRecord(
            "gate", "condition", SUCCESS, 1, result=TaskResult(Status.UNCHANGED), branch="false"
        ),
        "late": TaskRecord("late", "notebook", "skipped: upstream failed"),
        "quiet": TaskRecord("quiet", "notebook", "skipped"),
    }
    record.path, record.engine_log = "/h/runs/r.json", "/h/runs/r/engine.log"
    return record


def test_the_table_says_each_tasks_outcome_and_rows_from_its_result():
    rows = {line.split()[0]: line.split() for line in table(_record()).splitlines()[2:]}
    assert rows["sync"][1] == "unchanged"
    assert rows["load"][1:] == ["changed", "2", "0.0", "120", "3"]
    assert rows["gold"][1] == "failed"
    assert rows["late"][1] == rows["quiet"][1] == "skipped"
    # An if/else condition says the branch it took (it said "unchanged", counted as such).
    assert rows["gate"][1] == "false"


def test_the_closing_line_counts_outcomes_and_quarantine_then_names_the_files():
    lines = closing(_record())
    assert lines[0] == "Done. changed=1 unchanged=1 skipped=2 failed=1 quarantined=3 in 115s"
    assert lines[1:] == ["  run record: /h/runs/r.json", "  engine log: /h/runs/r/engine.log"]


def test_plurals():
    assert (plural(1, "task"), plural(2, "task"), plural(0, "attempt")) == (
        "1 task",
        "2 tasks",
        "0 attempts",
    )


def test_a_run_ends_with_the_closing_line_and_its_record_says_what_ran_with_what_and_when(
    settings,
):
    lines: list[str] = []
    record = run_workflow(settings, workflow=fake_workflow(Behaviour()), out=lines.append)
    assert lines[0].startswith("quest run: workflow fake_flow, 4 tasks,")
    done = [line for line in lines if line.startswith("Done.")]
    assert done and re.fullmatch(
        r"Done\. changed=0 unchanged=4 skipped=0 failed=0 quarantined=0 in \d+s", done[0]
    )
    assert lines[-2:] == [f"  run record: {record.path}", f"  engine log: {record.engine_log}"]
    saved = json.loads(Path(record.path).read_text())
    assert saved["settings"]["contact"] == "runner-tests@example.org"
    assert saved["settings"]["bls_url"] == "http://***@127.0.0.1:9/pub/"
    assert "s3cret" not in Path(record.path).read_text()
    assert {"python", "quest", "brickflows"} <= set(saved["versions"])
    for task in saved["tasks"].values():
        assert task["started"] <= task["ended"] and task["started"] >= saved["started"]


def test_a_long_task_is_said_to_be_running(settings, monkeypatch):
    monkeypatch.setattr(output, "HEARTBEAT_SECONDS", 0.2)
    lines: list[str] = []
    run_workflow(settings, workflow=fake_workflow(Behaviour(delay=0.7)), out=lines.append)
    assert any(re.fullmatch(r"\. extract_a: still running \(\ds\)", line) for line in lines)


def test_engine_log_lines_go_to_the_run_folder_not_to_the_terminal(settings, monkeypatch, capsys):
    """Through `quest run` as a user starts it (not `-q`, not `-v`): the engines' INFO lines,
    on a task's thread and on a thread of their own (py4j answers on its own threads), and py4j's
    tracebacks stay off the terminal, which `quest`'s own filters decide, not the test's."""
    from quest.cli import main
    from quest.runner import local

    chatty = logging.getLogger("some.engine")

    class Chatty(Behaviour):
        def __call__(self, name, **params):
            chatty.info("engine chatter from %s", name)
            engine = threading.Thread(target=chatty.info, args=("engine thread of %s", name))
            engine.start()
            engine.join()
            # quest's own INFO line of a task: in its log, and on the terminal its + line only
            logging.getLogger("quest.sources.fake").info("%s synced 3 files", name)
            # py4j logs its tracebacks on the root logger, as ERROR
            py4j = logging.LogRecord(
                "root",
                logging.ERROR,
                "/x/site-packages/py4j/java_gateway.py",
                1056,
                "Exception while sending command.",
                None,
                None,
            )
            logging.getLogger().handle(py4j)
            return super().__call__(name, **params)

    monkeypatch.setattr(local, "load_pipeline", lambda: fake_workflow(Chatty()))
    terminal = logging.StreamHandler()  # the terminal's handler: `quest` puts its filters on it
    logging.getLogger().addHandler(terminal)
    try:
        argv = ["run", "--home", str(settings.home), "--store", settings.store_uri]
        status = main([*argv, "--contact", "chatty@example.org"])
    finally:
        logging.getLogger().removeHandler(terminal)
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert "+ combine" in out  # the run's progress lines do reach the terminal
    assert "engine chatter" not in err and "engine thread of" not in err, err
    assert "synced 3 files" not in err and "Exception while sending command" not in err, err
    (run,) = [p for p in (settings.home / "runs").iterdir() if p.is_dir()]
    engine_log = (run / "engine.log").read_text()
    assert "engine chatter from combine" in engine_log and "engine thread of combine" in engine_log
    assert any("combine synced 3 files" in log.read_text() for log in run.glob("*.log"))


def test_a_local_retry_waits_seconds_not_the_clusters_minutes(settings, monkeypatch):
    from quest.runner import local

    monkeypatch.setattr(local, "LOCAL_RETRY_WAIT_CAP", 0.1)
    lines: list[str] = []
    slow = settings.with_overrides(retry_wait_scale=1.0)  # the workflow says 60 s
    run_workflow(
        slow, workflow=fake_workflow(Behaviour(fail_times={"combine": 1})), out=lines.append
    )
    assert any(line.endswith("; retrying in 0.1s") for line in lines), lines


class _Fails(Behaviour):
    """`combine` fails with `raised`."""

    def __init__(self, raised: Exception):
        super().__init__()
        self.raised = raised

    def __call__(self, name: str, **params):
        if name == "combine":
            with self._lock:
                self.calls[name] = self.calls.get(name, 0) + 1
            raise self.raised
        return super().__call__(name, **params)


def _answered_404():
    """The error of a source answering 404 to the URL it was given, as the sync raises it."""
    from unittest import mock

    from quest.sources.transfer import _check_status

    response = mock.Mock(status_code=404, reason="Not Found", headers={})
    try:
        _check_status(response, "https://honolulu-api.datausa.io/nothing", {}, "DataUSA")
    except SourceError as exc:
        return exc
    raise AssertionError("a 404 was accepted")


@pytest.mark.parametrize(
    "raised",
    [
        HostNotFound("bls: the host of http://x.invalid/ does not exist"),
        # as the source's client words it: "not retried" once, with why
        HostNotFound("bls: the host of http://x.invalid/ does not exist; not retried"),
        DataFileError("pr.data.0.Current: header renamed"),  # the file stays until the next sync
        ConfigError("QUEST_CONTACT is not set"),
        _answered_404(),  # the same URL asked again minutes later gets the same answer
    ],
)
def test_a_task_whose_error_waiting_cannot_fix_is_not_retried(settings, raised):
    lines: list[str] = []
    behave = _Fails(raised)
    record = run_workflow(settings, workflow=fake_workflow(behave), out=lines.append)
    assert (record.tasks["combine"].attempts, behave.calls["combine"]) == (1, 1)
    assert record.tasks["combine"].status == "failed"
    assert any(line.endswith("; not retried: waiting cannot fix it") for line in lines), lines
    assert not any(line.count("not retried") > 1 for line in lines), lines


def test_quest_runs_lists_past_runs(settings, capsys):
    from quest.cli import main

    assert main(["runs", "--home", str(settings.home)]) == 9  # a home mistyped, or not made yet
    home = settings.home.absolute()
    assert capsys.readouterr().err == (
        f"quest: error: no home at {home} (QUEST_HOME or --home): no runs there\n"
    )
    settings.home.mkdir(parents=True)
    assert main(["runs", "--home", str(settings.home)]) == 0
    assert capsys.readouterr().out == f"no runs recorded under {home / 'runs'}\n"
    record = run_workflow(settings, workflow=fake_workflow(Behaviour()), out=lambda line: None)
    assert main(["runs", "--home", str(settings.home)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[-2].split() == [record.run_id, "success", "0", "0", "0"]
    assert (
        rows[-1] == f"(each run's tasks, errors and logs are in its record under {home / 'runs'})"
    )
    assert all(row == row.rstrip() for row in rows)


def test_quest_runs_counts_the_tasks_an_interrupted_run_did_not_start_as_failed(tmp_path):
    from quest.runner.record import history

    tasks = {
        "bls_sync": {"status": "success", "result": {"status": "changed"}},
        "load_bronze": {"status": "failed: interrupted", "result": {"status": "failed"}},
        "load_silver": {"status": "failed: interrupted", "result": {"status": "failed"}},
    }
    record = {"run_id": "r1", "status": "interrupted", "seconds": 52, "tasks": tasks}
    (tmp_path / "r1.json").write_text(json.dumps(record))
    assert history(tmp_path).splitlines()[-2].split() == [
        *("r1", "interrupted", "1", "2", "52"),
        *("failed:", "load_bronze,", "load_silver"),
    ]


def test_quest_runs_names_the_task_that_failed_before_those_never_started(tmp_path):
    # The record keeps its tasks by name: before, "failed: gold_analysis, load_bronze,
    # load_silver and 1 more" hid the task that failed behind one that never started.
    from quest.runner.record import history

    never = {"status": "failed: interrupted", "result": {"status": "failed"}}
    tasks = {
        "bls_sync": {"status": "success", "started": "2026-12-07T03:00:00+00:00"},
        "gold_analysis": never,
        "load_bronze": {"status": "failed", "started": "2026-12-07T03:00:05+00:00"},
        "load_silver": never,
        "record_medallion": never,
    }
    record = {"run_id": "r1", "status": "interrupted", "seconds": 52, "tasks": tasks}
    (tmp_path / "r1.json").write_text(json.dumps(record))
    note = history(tmp_path).splitlines()[-2].split(None, 5)[-1]
    assert note == "failed: load_bronze, gold_analysis, load_silver and 1 more"


def test_quest_runs_says_what_a_run_was_limited_to_and_what_it_skipped(tmp_path):
    # Counts alone showed a run of one task, or a quiet day, as any clean run: 0 changed, 0
    # failed.
    from quest.runner.record import history

    quiet = {
        "bls_sync": {"status": "success", "result": {"status": "unchanged"}},
        "load_bronze": {"status": "skipped"},
        "load_silver": {"status": "skipped"},
        "gold_analysis": {"status": "skipped"},
        "record_medallion": {"status": "skipped"},
    }
    gold = {"gold_analysis": {"status": "success", "result": {"status": "unchanged"}}}
    runs = {
        "r1": {"status": "success", "seconds": 3, "tasks": quiet},
        "r2": {"status": "success", "seconds": 25, "tasks": gold, "only": ["gold_analysis"]},
        "r4": {"status": "success", "seconds": 9, "tasks": gold, "only": list("abcde")},
    }
    for run_id, record in runs.items():
        (tmp_path / f"{run_id}.json").write_text(json.dumps({"run_id": run_id, **record}))
    (tmp_path / "r3.json").write_text("{")
    # records of another shape: a task's result a list, the seconds a text, a list for a record
    shapes = {"r5": {"tasks": {"x": {"result": [1]}}}, "r6": {"seconds": "9"}, "r7": [1, 2]}
    for run_id, record in shapes.items():
        (tmp_path / f"{run_id}.json").write_text(json.dumps(record))
    lines = history(tmp_path).splitlines()
    assert lines[0].split() == ["run", "status", "changed", "failed", "seconds", "note"]
    assert lines[2].endswith("  skipped: load_bronze, load_silver, gold_analysis and 1 more")
    assert lines[3].split()[5:] == ["only", "gold_analysis"]
    assert lines[4].split() == ["r3", "unreadable"]
    assert lines[5].endswith("  only a, b, c and 2 more")
    assert [line.split() for line in lines[6:9]] == [[r, "unreadable"] for r in ("r5", "r6", "r7")]


class _Logging(Behaviour):
    """Tasks that log as quest's code does, and an engine that chatters beside them."""

    def __call__(self, name, **params):
        logging.getLogger("quest.sources.fake").info("%s fetched 3 files", name)
        logging.getLogger("some.engine").info("engine chatter from %s", name)
        if name == "combine":
            logging.getLogger("quest.sources.fake").warning("combine found a short file")
        return super().__call__(name, **params)


def test_each_task_log_holds_the_log_records_of_that_task(settings):
    record = run_workflow(settings, workflow=fake_workflow(_Logging()), out=lambda line: None)
    for name, task in record.tasks.items():
        text = Path(task.log).read_text()
        assert f"INFO quest.sources.fake: {name} fetched 3 files" in text, (name, text)
        others = set(record.tasks) - {name}
        assert not any(f"{other} fetched" in text for other in others), text
        assert "engine chatter" not in text  # the engines' lines go to the engine log
    assert (
        "WARNING quest.sources.fake: combine found a short file"
        in Path(record.tasks["combine"].log).read_text()
    )


def test_a_quiet_run_prints_failures_and_the_closing_lines_only(settings):
    lines: list[str] = []
    behaviour = Behaviour(fail_times={"extract_b": 9})
    record = run_workflow(
        settings, workflow=fake_workflow(behaviour, retries=0), out=lines.append, quiet=True
    )
    assert record.status == FAILED
    assert [line.split(":")[0] for line in lines[:3]] == [
        "x extract_b",
        "- combine",
        "- publish",
    ], lines
    assert lines[3].startswith("Done. changed=0 unchanged=1 skipped=2 failed=1")
    assert lines[4:] == [f"  run record: {record.path}", f"  engine log: {record.engine_log}"]


def test_quest_run_q_keeps_the_terminal_to_the_closing_lines(settings, monkeypatch, capsys):
    from quest.cli import main
    from quest.runner import local

    monkeypatch.setattr(local, "load_pipeline", lambda: fake_workflow(_Logging()))
    terminal = logging.StreamHandler()  # the terminal's handler, as `quest` sets it up
    logging.getLogger().addHandler(terminal)
    try:
        argv = ["run", "-q", "--home", str(settings.home), "--store", settings.store_uri]
        status = main([*argv, "--contact", "quiet@example.org"])
    finally:
        logging.getLogger().removeHandler(terminal)
    out, err = capsys.readouterr()
    assert status == 0
    assert out.splitlines()[0].startswith("Done. changed=0 unchanged=4 "), out
    assert [line.split(":")[0] for line in out.splitlines()[1:]] == [
        "  run record",
        "  engine log",
    ]
    assert "fetched 3 files" not in err  # quest's INFO lines stay off a quiet terminal
    assert "combine found a short file" in err  # its warnings do not


def test_the_run_ends_with_the_compact_report_and_its_data_quality_section(settings):
    from tests.unit.test_report import QUARANTINE, REPORT

    class Answers(Behaviour):
        def __call__(self, name, **params):
            super().__call__(name, **params)
            result = TaskResult(Status.UNCHANGED, "views unchanged")
            if name == "publish":
                result.report, result.quarantine = REPORT, QUARANTINE
            return result.to_dict()

    lines: list[str] = []
    record = run_workflow(settings, workflow=fake_workflow(Answers()), out=lines.append)
    assert record.report == REPORT
    assert "(first 10 of 25 rows; `quest report --all` for all)" in lines
    assert not any("PRS00000010" in line for line in lines)  # the 11th row: left to --all
    quality = lines.index("Data quality: rows silver quarantined, per rule and file")
    assert lines[quality + 5].split() == ["period_known", "pr.data.1.AllData", "1"]
    done = [n for n, line in enumerate(lines) if line.startswith("Done. ")]
    assert done and done[0] > quality


def test_the_bls_sync_tasks_log_holds_its_summary_line(tmp_path, source, mirror):
    from quest.store import LocalStore
    from tests.sources.support import fast_settings, sample_files

    for name, body in sample_files(3).items():
        source.write(name, body)
    store = LocalStore(str(tmp_path / "store"))
    settings = fast_settings(tmp_path / "home", store, mirror)
    record = run_workflow(settings, only=["bls_sync"], out=lambda line: None)
    assert record.tasks["bls_sync"].status == SUCCESS
    text = Path(record.tasks["bls_sync"].log).read_text()
    assert "INFO quest.sources.bls: BLS sync of" in text and "3 uploaded" in text, text


@pytest.mark.parametrize(
    ("gold_status", "said"),
    [(SUCCESS, "run it again: nothing changed"), ("skipped", "`quest report` prints the answers")],
)
def test_the_demo_ends_with_what_to_try_next(gold_status, said, tmp_path, monkeypatch):
    from quest.runner.demo import _next_step

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QUEST_HOME", raising=False)
    record = RunRecord("quest_pipeline", "r1", "2026-12-01T00:00:00Z", status=SUCCESS)
    record.tasks["gold_analysis"] = TaskRecord("gold_analysis", "notebook", status=gold_status)
    assert said in _next_step(record, tmp_path / ".quest")


def test_the_way_to_the_answers_names_a_home_quest_report_would_not_read(tmp_path, monkeypatch):
    # After `quest demo --home "my demo"`, "`quest report` prints the answers" read the
    # default home: the live sources' answers, or none.
    from quest.runner.local import report_command

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QUEST_HOME", raising=False)
    assert report_command(tmp_path / ".quest") == "`quest report`"
    other = tmp_path / "my demo"
    assert report_command(other) == f"`quest report --home '{other}'`"
    monkeypatch.setenv("QUEST_HOME", str(other))  # what `quest report` reads in this shell
    assert report_command(other) == "`quest report`"
    monkeypatch.setenv("QUEST_ENV", "nowhere")  # settings that cannot be read: say the home
    assert report_command(other) == f"`quest report --home '{other}'`"


def test_the_demo_refuses_a_shared_environment_before_writing_anything(tmp_path, capsys):
    # QUEST_ENV=dev left exported after deploy work would point the "offline" demo at the dev
    # bucket and catalog, where the sample would replace the BLS files.
    from quest.cli import main

    home = tmp_path / "home"
    environ = {"QUEST_ENV": "dev", "QUEST_HOME": str(home)}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        status = main(["demo"])
    err = capsys.readouterr().err
    assert status == 9 and "quest demo runs locally and offline, but QUEST_ENV=dev" in err
    assert "s3://quest-dev-republish" in err and not home.exists()


def _demo(environ: dict[str, str]) -> int:
    from quest.cli import main

    with pytest.MonkeyPatch.context() as patch:
        for name in ("QUEST_ENV", "QUEST_STORE"):
            patch.delenv(name, raising=False)
        for name, value in environ.items():
            patch.setenv(name, value)
        return main(["demo"])


def test_the_demo_refuses_a_store_that_is_no_local_folder_before_writing_anything(tmp_path, capsys):
    home = tmp_path / "home"
    status = _demo({"QUEST_HOME": str(home), "QUEST_STORE": "s3://quest-republish"})
    err = capsys.readouterr().err
    assert status == 9 and "QUEST_STORE=s3://quest-republish is not a local folder" in err
    assert not home.exists()


def test_the_demo_refuses_to_replace_what_a_run_of_other_sources_stored(tmp_path, capsys):
    # `make run` (the live sources) and `make demo` share `.quest`: the demo's sync would have
    # deleted pr.contacts and replaced the population with the sample's, without a word.
    from quest.store.local import LocalStore

    home = tmp_path / "home"
    store = LocalStore(str(home / "store"))
    store.put_bytes("bls/pr/pr.contacts", b"Contact: BLS\r\n", {})
    store.put_bytes("datausa/population.json", b'{"data": []}', {})
    status = _demo({"QUEST_HOME": str(home)})
    err = capsys.readouterr().err
    assert status == 9, err
    assert "bls/pr/pr.contacts, datausa/population.json (are not the demo's;" in err
    assert "QUEST_HOME=.quest-demo make demo" in err
    assert store.open("bls/pr/pr.contacts").read() == b"Contact: BLS\r\n"
    assert not (home / "runs").exists(), "a run started"


def test_the_demo_takes_the_previous_demos_sample_for_its_own(tmp_path):
    # After an upgrade that changes the sample, the store holds the older sample's files: the
    # demo replaces them without asking, as they were its own.
    from quest.config import Settings
    from quest.mirror.sample import generate_sample
    from quest.runner.demo import _folder_digests, _refuse_other_data, _stored_as
    from quest.store.local import LocalStore

    settings = Settings(home=tmp_path / "home", store=str(tmp_path / "home" / "store"))
    older = tmp_path / "older-sample"
    (older / "bls" / "pr").mkdir(parents=True)
    (older / "bls" / "pr" / "pr.gone").write_bytes(b"an older sample's file\r\n")
    store = LocalStore(settings.store)
    store.put_bytes("bls/pr/pr.gone", b"an older sample's file\r\n", {})
    ours = _stored_as(settings, _folder_digests(generate_sample(tmp_path / "sample")))
    _refuse_other_data(settings, store, ours | _stored_as(settings, _folder_digests(older)))
    with pytest.raises(ConfigError, match=r"bls/pr/pr.gone \(is not the demo's"):
        _refuse_other_data(settings, store, ours)


def test_the_demo_says_which_edits_of_its_sample_it_writes_over(tmp_path):
    # The README's walk-through edits the sample in place and runs it through: the next demo
    # writes its sample back over the edit and loads it again, which it now says.
    from quest.mirror.sample import generate_sample
    from quest.runner.demo import _folder_digests, _over

    source = generate_sample(tmp_path / "demo-source")
    assert _over(_folder_digests(source), _folder_digests(source)) == ""
    assert _over(_folder_digests(source), {}) == ""  # a first demo: nothing there before
    current = source / "bls" / "pr" / "pr.data.0.Current"
    current.write_bytes(current.read_bytes().replace(b" 4.7\t", b" 9.9\t", 1))
    (source / "bls" / "pr" / "pr.mine").write_bytes(b"a file of my own\r\n")  # left as it is
    (source / "bls" / "pr" / "pr.series").unlink()  # written again, unnamed
    held = _folder_digests(source)
    source = generate_sample(tmp_path / "demo-source")
    assert _over(_folder_digests(source), held) == (
        ", over another version of bls/pr/pr.data.0.Current there (edited, or an older sample)"
    )
    assert (source / "bls" / "pr" / "pr.mine").read_bytes() == b"a file of my own\r\n"


class Py4JJavaError(Exception):
    """Stands in for py4j's error (which asks a JVM for its text): the same name and text."""


def test_a_spark_error_is_one_line_and_its_java_stack_goes_to_the_tasks_log(settings):
    frames = "".join(
        f"\tat org.apache.spark.scheduler.DAGScheduler.f{i}(D.scala:{i})\n" for i in range(40)
    )
    raised = Py4JJavaError(
        "An error occurred while calling o64.sql.\n: org.apache.spark.SparkException: "
        f"[SPARK_JOB_CANCELLED] Job 8 cancelled as part of cancellation of all jobs\n{frames}"
    )
    lines: list[str] = []
    record = run_workflow(settings, workflow=fake_workflow(_Fails(raised)), out=lines.append)
    said = (
        "Py4JJavaError: org.apache.spark.SparkException: [SPARK_JOB_CANCELLED] Job 8 cancelled "
        "as part of cancellation of all jobs"
    )
    assert record.tasks["combine"].errors == [said] * 3  # each attempt's, in the run record
    failed = [line for line in lines if line.startswith("x combine: failed")]
    assert len(failed) == 3 and all(said in line for line in failed), failed
    # Nor in the failure mail, printed here: its Python frames and where the rest is.
    output = "\n".join(lines)
    assert "DAGScheduler" not in output, output
    assert f"Task output, with the whole traceback: {record.tasks['combine'].log}" in output
    assert "Where it failed (the last Python frames):" in output
    log = Path(record.tasks["combine"].log).read_text()
    assert log.count("DAGScheduler.f39(D.scala:39)") == 3, log  # each attempt's traceback
    assert "Traceback (most recent call last)" in log


def test_a_task_log_that_cannot_take_the_traceback_leaves_the_failure_the_tasks(
    settings, monkeypatch
):
    # A full disk, say: the traceback's write must not end the run as "a bug in quest".
    real = output.RedactingFile.write

    def full(self, text):
        if "Traceback" in text:
            raise OSError(28, "No space left on device")
        return real(self, text)

    monkeypatch.setattr(output.RedactingFile, "write", full)
    lines: list[str] = []
    behave = _Fails(ValueError("the task's own error"))
    record = run_workflow(settings, workflow=fake_workflow(behave, retries=0), out=lines.append)
    assert record.tasks["combine"].status == FAILED
    assert record.tasks["combine"].errors == ["ValueError: the task's own error"]
    assert lines[-3].startswith("Done. changed=0") and record.path, lines


def test_the_failure_mail_shows_the_tasks_own_frames_not_pysparks():
    from quest.runner.local import _own_frames

    namespace: dict = {}
    # A function "of PySpark": code whose file is under site-packages, as Spark's calls are.
    exec(
        compile("def sql():\n    raise ValueError('x')\n", "/v/site-packages/pyspark/s.py", "exec"),
        namespace,
    )

    def task():
        namespace["sql"]()

    try:
        task()
    except ValueError as exc:
        frames = _own_frames(exc)
    assert [f.name for f in frames] == [
        "test_the_failure_mail_shows_the_tasks_own_frames_not_pysparks",
        "task",
    ]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="a device whose writes fail ENOSPC")
def test_a_task_log_on_a_full_disk_leaves_the_failure_the_tasks(settings, monkeypatch):
    import builtins

    from quest.runner import local

    def task_logs_on_a_full_disk(path, mode="r", **kwargs):
        if str(path).endswith("combine.log"):  # buffered, then each flush and the close fail
            return builtins.open("/dev/full", mode, **kwargs)
        return builtins.open(path, mode, **kwargs)

    monkeypatch.setattr(local, "open", task_logs_on_a_full_disk, raising=False)
    behave = _Fails(ValueError("the task's own error"))
    record = run_workflow(settings, workflow=fake_workflow(behave, retries=0), out=lambda _: None)
    assert record.tasks["combine"].status == FAILED
    assert record.tasks["combine"].errors == ["ValueError: the task's own error"]
    assert record.status == FAILED and Path(record.path).is_file()
