"""The `quest` command line: version, verbosity anywhere, task names in `run --help`, and one
error line with its own exit status for each bad input, found before any work starts."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys

import pytest

from quest.cli import build_parser, main
from quest.errors import ConfigError
from tests.realdata import REPO
from tests.workflow.support import PIPELINE_TASKS as TASKS


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("quest: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("quest 0.")


@pytest.mark.parametrize(
    "argv, verbose, quiet",
    [
        (["-v", "run"], True, False),
        (["run", "-v"], True, False),
        (["run", "-q"], False, True),
        (["sync", "bls", "-q"], False, True),
        (["-q", "report"], False, True),
        # given on both sides, the one after the command wins (both were set: DEBUG logging
        # with no progress, table or report)
        (["-q", "run", "-v"], True, False),
        (["-v", "run", "-q"], False, True),
    ],
)
def test_verbosity_is_accepted_before_and_after_the_command(argv, verbose, quiet):
    args = build_parser().parse_args(argv)
    assert (bool(args.verbose), bool(args.quiet)) == (verbose, quiet)


def test_run_help_lists_the_workflows_tasks(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert f"tasks: {', '.join(TASKS)}" in " ".join(out.split())


def test_run_help_says_why_it_cannot_list_the_tasks(capsys, monkeypatch):
    # An invalid setting stops the workflow's loading: the list vanished without a word.
    import quest.runner.local

    def broken():
        raise ConfigError("QUEST_HTTP_RETRIES='x' is not a whole number")

    monkeypatch.setattr(quest.runner.local, "load_pipeline", broken)
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "tasks: (the workflow could not be loaded: QUEST_HTTP_RETRIES='x'" in out


@pytest.mark.parametrize("argv", [["runs"], ["report"], ["sync", "bls"], ["sync", "datausa"]])
def test_only_run_loads_the_workflow_other_commands_start_without_brickflow(argv):
    # BrickFlow's import is a second of every command that builds the parser with the task list;
    # a new interpreter, because this one has imported it already.
    code = (
        "import sys, quest.cli\n"
        f"quest.cli.build_parser().parse_args({argv!r})\n"
        "print('brickflow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as done:
        main(["run", "--no-such-option"])
    assert done.value.code == 2


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["run", "--bogus"], "usage: quest run "),
        (["sync", "bls", "extra"], "usage: quest sync bls "),
        # given before the command, an option of that command is the top level's mistake
        (["--json", "report"], "usage: quest [-h]"),
    ],
)
def test_an_argument_a_command_does_not_know_is_said_with_that_commands_usage(capsys, argv, usage):
    # Before, `quest run --bogus` printed the top level's usage, which lists no option of run.
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.startswith(usage), err
    assert f"unrecognized arguments: {argv[-1] if argv[0] != '--json' else '--json'}" in err


def test_the_exit_statuses_are_distinct_and_each_is_in_the_readmes_table():
    import re
    from pathlib import Path

    from quest import errors

    kinds, waiting = [], [errors.QuestError]
    while waiting:  # every error class that sets a status of its own, and its subclasses
        kind = waiting.pop()
        waiting.extend(kind.__subclasses__())
        if "exit_status" in vars(kind):
            kinds.append((kind.__name__, kind.exit_status))
    statuses = [status for _, status in kinds] + [2, errors.RUN_FAILED, errors.INTERRUPTED]
    assert len(statuses) == len(set(statuses)), sorted(kinds, key=lambda kind: kind[1])
    readme = Path(__file__).resolve().parents[2].joinpath("README.md").read_text()
    table = [int(status) for status in re.findall(r"^\| (\d+) \| ", readme, re.MULTILINE)]
    assert sorted(table) == sorted(statuses)


@pytest.fixture
def place(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUEST_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("QUEST_CONTACT", "cli-tests@example.org")
    (tmp_path / "FILE").write_text("not a folder")
    (tmp_path / "LOOP").symlink_to("LOOP")
    (tmp_path / "aws-config").write_text(
        "[profile quest-process]\ncredential_process = /nonexistent/quest-credentials\n"
    )
    return tmp_path


@pytest.mark.parametrize(
    "argv, status, words",
    [
        (["sync", "bls", "--store", "FILE"], 3, "is a file, not a folder"),
        (["sync", "datausa", "--home", "FILE"], 9, "QUEST_HOME (or --home)"),
        (["demo", "--home", "FILE"], 9, "QUEST_HOME (or --home)"),
        (["sample", "FILE"], 9, "is a file, not a folder"),
        (["sample", "FILE/inside"], 9, "lies under"),
        # sysfs refuses even root a new folder (no "unexpected PermissionError ... a bug")
        (["sample", "/sys/kernel/quest-sample"], 9, "cannot be written"),
        (["mirror", "--data", "/nonexistent"], 9, "--data /nonexistent: no such folder"),
        (["mirror", "--data", "FILE"], 9, "is a file, not a folder; give the folder to serve"),
        # Path("") is the current folder: before, it was served (or written) as given.
        (["mirror", "--data", " "], 9, "--data is blank: give the folder to serve"),
        (["sample", ""], 9, "the sample's folder is blank"),
        (["run", "--only", "nope"], 9, "the tasks are bls_sync"),
        (["report"], 9, "no catalog under"),
        # A home no catalog can be in: before, "no catalog under ...: run `quest run` first",
        # which refuses that home.
        (["report", "--home", "a:b"], 9, "holds a ':', which Spark's local catalog cannot use"),
        # Off Databricks, dev's answers are in a catalog the local Spark does not have: before,
        # `quest report` started Spark and asked it for quest_dev.gold.* all the same.
        (["report", "--env-dev"], 9, "in the Unity Catalog catalog 'quest_dev'"),
        # Refused before Spark starts, as `quest run` refuses it: before, after the JVM's start.
        (["report", "--series-lowercase"], 9, "report_series='prs30006032' (QUEST_REPORT_SERIES)"),
        (["run", "--bls-prefix-cut"], 9, "QUEST_BLS_PREFIX='bls/pr' must be a folder"),
        (["sync", "datausa", "--start-after-end"], 9, "QUEST_START_YEAR=2018 and QUEST_END_YEAR"),
        # The environment's own mistakes, each named: before, a quoted store was a folder named
        # '"/tmp/..."' under the current one (exit 0), and the others were "a bug in quest".
        (["sync", "datausa", "--quoted-store"], 9, "QUEST_STORE='\"/tmp/q\"' is wrapped in quotes"),
        (
            ["sync", "bls", "--source-url", "https://127.0.0.1:9/pr/", "--no-ca-bundle"],
            9,
            "REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE names a certificate bundle that is not there",
        ),
        (["sync", "datausa", "--store", "s3://b/p", "--no-profile"], 9, "check AWS_PROFILE"),
        (["sync", "datausa", "--store", "s3://b/p", "--bad-region"], 9, "AWS region is not usable"),
        (["sync", "datausa", "--store", "s3://b/p", "--no-process"], 9, "credential_process"),
        (["sync", "datausa", "--store", "LOOP"], 3, "runs into a loop of symbolic links"),
        (["sync", "datausa", "--home", "LOOP"], 9, "QUEST_HOME (or --home)"),
        (["sync", "bls", "--spaced-prefix"], 9, "no space around a segment"),
    ],
)
def test_bad_input_is_one_line_with_its_status(place, capsys, monkeypatch, argv, status, words):
    # A setting the case needs, given as a variable (the flag is the case's name alone).
    variables = {
        "--env-dev": {"QUEST_ENV": "dev"},
        "--bls-prefix-cut": {"QUEST_BLS_PREFIX": "bls/pr"},
        "--start-after-end": {"QUEST_START_YEAR": "2018", "QUEST_END_YEAR": "2013"},
        "--series-lowercase": {"QUEST_REPORT_SERIES": "prs30006032"},
        "--quoted-store": {"QUEST_STORE": '"/tmp/q"'},
        "--no-ca-bundle": {"REQUESTS_CA_BUNDLE": "/nonexistent/ca.pem"},
        "--no-profile": {"AWS_PROFILE": "quest-no-such-profile"},
        "--bad-region": {"AWS_DEFAULT_REGION": "us east 1"},
        "--spaced-prefix": {"QUEST_BLS_PREFIX": "bls/pr /"},
        "--no-process": {"AWS_PROFILE": "quest-process", "AWS_CONFIG_FILE": "aws-config"},
    }
    for flag, given in variables.items():
        if flag in argv:
            argv = [a for a in argv if a != flag]
            for var, value in given.items():
                monkeypatch.setenv(var, value)
    if argv[0] == "sync" and "--source-url" not in argv:
        argv = [*argv, "--source-url", "http://127.0.0.1:9/"]  # never reached
    assert main(argv) == status
    assert words in _one_line(capsys.readouterr().err)


def test_a_run_refused_before_its_tasks_makes_no_home(place, capsys, monkeypatch):
    # Before, the home was made first: `quest runs` then found it and said "no runs recorded"
    # instead of the missing home's exit 9.
    assert main(["run", "--only", "nope"]) == 9
    assert "the tasks are bls_sync" in _one_line(capsys.readouterr().err)
    assert not (place / "home").exists()
    monkeypatch.delenv("QUEST_CONTACT")
    assert main(["run"]) == 9
    assert "QUEST_CONTACT (--contact) is not set" in _one_line(capsys.readouterr().err)
    assert not (place / "home").exists()


@pytest.mark.parametrize(
    ("argv", "closed", "status"),
    [(["--version"], 1, 0), (["runs", "--home", "/nonexistent/quest-home"], 2, 9)],
)
def test_a_stream_closed_at_start_changes_no_exit_status(argv, closed, status):
    # `quest ... >&-`: Python gives a closed stream as None; wrapping it made every command
    # end on an AttributeError, exit 120.
    done = subprocess.run(
        [sys.executable, "-m", "quest", *argv],
        preexec_fn=lambda: os.close(closed),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == status, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("problem", "gone"),
    [(errno.EPIPE, True), (errno.EIO, True), (errno.ENOSPC, False)],
)
def test_a_reader_gone_is_told_from_another_write_error(problem, gone):
    # A hung-up terminal (EIO) is a reader gone, as a pipe whose reader quit (EPIPE) is; a
    # full disk is an error all the same.
    from quest.cli import ReaderGone

    class Failing:
        def write(self, text):
            raise OSError(problem, os.strerror(problem))

        def flush(self):
            pass

        def fileno(self):
            raise ValueError("no descriptor")  # nothing to point at /dev/null

    stream = ReaderGone(Failing())
    if gone:
        assert stream.write("line\n") == 5 and stream.gone
        assert stream.write("more\n") == 5  # discarded
    else:
        with pytest.raises(OSError):
            stream.write("line\n")


def test_the_demo_sends_its_own_contact_to_its_mirror_whatever_quest_contact_says():
    # Before, `QUEST_CONTACT=x quest demo` was refused, telling the user to pass a --contact
    # the demo does not have, for a contact only the live sources need.
    from quest.config import Settings
    from quest.runner.demo import DEMO_CONTACT, demo_settings

    for given in ("x", "", "you@example.org"):
        demo = demo_settings(Settings(contact=given), "http://127.0.0.1:1/", "http://127.0.0.1:1/")
        assert demo.contact == DEMO_CONTACT


def test_sample_refuses_a_folder_holding_other_files_and_changes_nothing(place, capsys):
    # Before, `quest sample` wrote over a real snapshot's pr.data.0.Current and left its
    # pr.contacts beside the sample's files: a folder that was neither source.
    pr = place / "snapshot" / "bls" / "pr"
    pr.mkdir(parents=True)
    (pr / "pr.data.0.Current").write_bytes(b"the real file\r\n")
    (pr / "pr.contacts").write_bytes(b"contacts\r\n")
    assert main(["sample", "snapshot"]) == 9
    error = _one_line(capsys.readouterr().err)
    assert "holds files the sample does not write (bls/pr/pr.contacts)" in error
    assert "choose a new or empty folder" in error
    assert sorted(p.name for p in pr.iterdir()) == ["pr.contacts", "pr.data.0.Current"]
    assert (pr / "pr.data.0.Current").read_bytes() == b"the real file\r\n"
    assert not (place / "snapshot" / "datausa").exists()
    # A sample, edited or not, is written again: its own files back to the sample's bytes.
    assert main(["sample", "again"]) == 0
    written = (place / "again" / "bls/pr/pr.series").read_bytes()
    (place / "again" / "bls/pr/pr.series").write_bytes(b"edited\r\n")
    assert main(["sample", "again"]) == 0
    assert (place / "again" / "bls/pr/pr.series").read_bytes() == written


@pytest.mark.parametrize("command", [["run", "--only", "bls_sync"], ["demo"]])
def test_run_and_demo_from_the_wheel_alone_say_they_need_the_repository(
    place, capsys, monkeypatch, command
):
    # The wheel holds src/quest only: before, `quest run` from it ended in "unexpected
    # ModuleNotFoundError: No module named 'workflows'. This is a bug in quest".
    monkeypatch.setattr("quest.runner.local.REPO", place / "site-packages")
    assert main(command) == 9
    error = _one_line(capsys.readouterr().err)
    assert "workflows/ and notebooks/, which the wheel does not hold" in error
    assert not (place / "home" / "runs").exists()
    assert not (place / "home" / "demo-source").exists()  # no sample written, no mirror


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["sync", "datausa", "--store", " "], "--store is blank"),
        (["sync", "datausa", "--contact", ""], "--contact is blank"),
        (["sync", "bls", "--source-url", ""], "--bls-url (or sync bls --source-url) is blank"),
    ],
)
def test_a_blank_option_is_refused_not_taken_for_another_target(place, capsys, argv, named):
    # `--store "$UNSET"` in a shell with QUEST_STORE set wrote <home>/store; falling back on
    # the variable instead could write a shared store, and a blank --source-url the live one.
    assert main(argv) == 9
    assert named in _one_line(capsys.readouterr().err)
    assert not (place / "home" / "store").exists()


def test_spaces_around_an_option_are_no_part_of_it(place):
    from quest.cli import _settings

    args = build_parser().parse_args(["sync", "datausa", "--store", f" {place}/given "])
    assert _settings(args).store_uri == f"{place}/given"


def test_run_with_a_file_as_store_stops_before_any_task(place, capsys):
    assert main(["run", "--store", "FILE"]) == 3
    assert "is a file, not a folder" in _one_line(capsys.readouterr().err)
    assert not (place / "home" / "runs").exists(), "no task ran, nothing was mailed"


def test_report_refuses_a_bad_driver_heap_before_it_says_spark_starts(place, capsys, monkeypatch):
    (place / "home" / "metastore_db").mkdir(parents=True)  # a home a run has made
    monkeypatch.setenv("QUEST_SPARK_DRIVER_MEMORY", "lots")
    assert main(["report"]) == 9
    # Before, "starting Spark to read the catalog under ... " came first, then the refusal.
    assert _one_line(capsys.readouterr().err).startswith(
        "quest: error: QUEST_SPARK_DRIVER_MEMORY='lots' is not a memory size"
    )


def test_report_meets_another_processs_catalog_lock_before_it_says_spark_starts(place, capsys):
    # Before, "starting Spark to read the catalog under ..." came first, then the lock.
    from quest.locking import file_lock
    from quest.spark import CATALOG_LOCK

    home = place / "home"
    (home / "metastore_db").mkdir(parents=True)  # a home a run has made
    with file_lock(home / CATALOG_LOCK, "the test's hold"):
        assert main(["report"]) == 7
    err = capsys.readouterr().err
    assert "starting Spark" not in err
    assert _one_line(err).startswith("quest: error: the local catalog under ")


def test_report_on_an_empty_home_fails_at_once_and_leaves_nothing_behind(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "quest", "report", "--home", str(empty)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 9 and "no catalog under" in _one_line(done.stderr)
    # Spark would have left metastore_db/ and derby.log in the home or the working folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
    assert not list(empty.iterdir())


def test_a_misspelt_variable_is_named_not_silently_ignored(tmp_path):
    # QUEST_STROE left the default store standing, and nothing said so.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("QUEST_")}
    environ.update(QUEST_STROE="/data/quest", QUEST_WHATEVER="1", QUEST_SPARK_MASTER="local[1]")
    done = subprocess.run(
        [sys.executable, "-m", "quest", "-q", "runs", "--home", str(tmp_path / "none")],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    warnings, error = done.stderr.splitlines()[:-1], done.stderr.splitlines()[-1]
    assert done.returncode == 9 and error.startswith("quest: error: "), done.stderr
    assert [w.split(" quest: ", 1)[-1] for w in warnings] == [
        "QUEST_STROE is no quest setting and is ignored (did you mean QUEST_STORE?)",
        "QUEST_WHATEVER is no quest setting and is ignored",
    ], done.stderr


def test_a_source_host_that_does_not_exist_fails_at_once_without_retries(
    place, capsys, monkeypatch
):
    # `.invalid` never resolves (RFC 2606). The name server's answer is made certain here: an
    # offline machine's resolver may answer "try again" instead, which is retried.
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == "quest-source.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    status = main(["sync", "datausa", "--source-url", "http://quest-source.invalid/x.json"])
    assert status == 4
    line = _one_line(capsys.readouterr().err)
    assert "quest-source.invalid" in line and "does not exist" in line
    assert "retr" not in line.split("not retried")[0]


def _notebook_as_a_script(script: str, cwd, home, arguments=(), env=None):
    """`python notebooks/<script> [arguments]` run in `cwd`, with QUEST_HOME=`home`."""
    return subprocess.run(
        [sys.executable, str(REPO / "notebooks" / script), *arguments],
        capture_output=True,
        text=True,
        env={**os.environ, "QUEST_HOME": str(home), **(env or {})},
        cwd=cwd,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("script", "argument", "env", "said"),
    [
        ("load_bronze.py", "bogus", {}, "notebook argument 'bogus': give widgets as name=value"),
        ("gold_analysis.py", "colour=red", {}, "'colour=red': no widget 'colour'; the widgets are"),
        ("load_silver.py", "write=maybe", {}, "widget write='maybe': use true"),
        ("gold_analysis.py", "", {"QUEST_ENV": "x"}, "QUEST_ENV='x' is not a known environment"),
        ("load_bronze.py", "env=staging", {}, "widget env='staging': use one of local, dev"),
        # Only to read, on a home with no catalog: before, an empty catalog was created there
        # and bronze and silver said every file was as last loaded.
        ("load_bronze.py", "", {}, "no catalog under"),
        ("load_silver.py", "write=false", {}, "no catalog under"),
        # Before, it told the gold notebook's reader to give write=true, which made a catalog
        # and then failed for want of silver's tables.
        ("gold_analysis.py", "", {}, "with write=true, the bronze notebook first"),
        # A workspace's catalog, which no local Spark has: before, Spark's own error.
        ("gold_analysis.py", "env=dev", {}, "the Unity Catalog catalog 'quest_dev' (env=dev"),
        ("load_bronze.py", "write=true", {"QUEST_ENV": "prod"}, "catalog 'quest' (env=prod"),
    ],
)
def test_a_notebook_run_as_a_script_ends_a_mistake_with_one_line(
    tmp_path, script, argument, env, said
):
    # Before, a full traceback ending in quest.errors.ConfigError.
    done = _notebook_as_a_script(script, tmp_path, tmp_path, [argument] if argument else [], env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{script}: error: "), lines
    assert said in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "metastore_db").exists(), "a catalog was created"


@pytest.mark.parametrize(
    ("home", "said"),
    [
        ("fresh", "no catalog under"),  # a typo, say: before, made empty, then found empty
        ("a-file/home", "cannot be used (Not a directory)"),  # said as such, not "no catalog"
    ],
)
def test_a_notebook_only_reading_a_home_that_is_not_there_makes_no_folder(tmp_path, home, said):
    (tmp_path / "a-file").write_text("not a folder")
    done = _notebook_as_a_script("load_bronze.py", tmp_path, tmp_path / home)
    assert done.returncode == 1 and said in done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
