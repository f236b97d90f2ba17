"""`quest sync` failures: one `quest: error:` line naming what was wrong and what to do, a
distinct exit status per kind of failure, no traceback, and no URL userinfo anywhere.

Each case runs the real command (`quest.cli.main`) against the mirror over real HTTP.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from quest.cli import main
from quest.mirror.server import BLS_ROOT, TESSERACT_PATH
from tests.sources.support import CONTACT, make_s3_store, sample_files, stored_bytes

PASSWORD = "pw-Quest-0123"


@pytest.fixture
def world(tmp_path, monkeypatch, mirror, source, real_data):
    """A source with files and a population, and the environment `quest sync` reads."""
    for name, data in sample_files(3).items():
        source.write(name, data)
    population = source.root / "datausa" / "population.json"
    population.parent.mkdir(parents=True)
    population.write_bytes((real_data / "datausa" / "population.tesseract.json").read_bytes())
    env = {
        "QUEST_STORE": str(tmp_path / "store"),
        "QUEST_CONTACT": CONTACT,
        "QUEST_BLS_URL": mirror.bls_url,
        "QUEST_DATAUSA_URL": mirror.datausa_url,
        "QUEST_HTTP_RETRIES": "1",
        "QUEST_HTTP_BACKOFF": "0.01",
        "QUEST_HTTP_TIMEOUT": "2",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def _sync(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["sync", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("quest: error: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_clean_sync_exits_0_and_prints_its_summary(world, capsys):
    status, out, err = _sync(capsys, "bls")
    assert status == 0, err
    assert json.loads(out)["uploaded"] == 3


CASES = {
    "the store path is a file": (
        lambda world, mirror: ["bls", "--store", str(world / "a-file")],
        None,
        3,
        "is a file, not a folder; point QUEST_STORE",
    ),
    "the store path lies under a file": (
        lambda world, mirror: ["bls", "--store", str(world / "a-file" / "store")],
        None,
        3,
        "is a file, not a folder",
    ),
    "the source is unreachable": (
        lambda world, mirror: ["bls", "--source-url", f"http://127.0.0.1:{_free_port()}/pr/"],
        None,
        4,
        # (on this machine: nothing listens there, as for a stopped `quest mirror`)
        "failed after 2 attempts .*ConnectionRefusedError: Connection refused.*Nothing listens",
    ),
    "a source URL that is no http URL": (
        lambda world, mirror: ["bls", "--source-url", "download.bls.gov/pub/time.series/pr/"],
        None,
        9,
        "QUEST_BLS_URL .* is 'download.bls.gov/pub/time.series/pr/', not an http:// or https://",
    ),
    "a population URL of another scheme": (
        lambda world, mirror: ["datausa", "--source-url", "ftp://example.org/population"],
        None,
        9,
        "QUEST_DATAUSA_URL .* is 'ftp://example.org/population', not an http:// or https://",
    ),
    "the listing redirects to file://": (
        lambda world, mirror: ["bls"],
        (BLS_ROOT, {"kind": "status", "status": 302, "headers": {"Location": "file:///etc/"}}),
        5,
        "the listing page '/': .* redirects to file:///etc/, a file: URL",
    ),
    "the listing redirects in a loop": (
        lambda world, mirror: ["bls"],
        (BLS_ROOT, {"kind": "status", "status": 301, "headers": {"Location": BLS_ROOT}}),
        5,
        "a redirect loop",
    ),
    "a file with a malformed Content-Length": (
        lambda world, mirror: ["bls"],
        (BLS_ROOT + "pr.file1", {"kind": "body", "length": "12,5x"}),
        8,
        "1 of 3 listed files were not synced: pr.file1: .* malformed Content-Length",
    ),
    "a file in bad gzip": (
        lambda world, mirror: ["bls"],
        (
            BLS_ROOT + "pr.file0",
            {"kind": "body", "body": b"\x1f\x8b junk", "headers": {"Content-Encoding": "gzip"}},
        ),
        8,
        "pr.file0: .* not a valid gzip stream",
    ),
    "a population nested too deep": (
        lambda world, mirror: ["datausa"],
        (TESSERACT_PATH, {"kind": "body", "body": b"[" * 50_000 + b"]" * 50_000}),
        5,
        "the answer nests deeper than 32 levels",
    ),
    "a population in bad gzip": (
        lambda world, mirror: ["datausa"],
        (TESSERACT_PATH, {"kind": "body", "body": b"xx", "headers": {"Content-Encoding": "gzip"}}),
        5,
        "DataUSA population: .* not a valid gzip stream",
    ),
    "a listing URL that answers 404": (
        lambda world, mirror: ["bls", "--source-url", mirror.bls_url + "no-such-folder/"],
        None,
        5,
        r"answered 404 .*Check the URL \(QUEST_BLS_URL or QUEST_DATAUSA_URL, or `quest sync "
        r"--source-url`\)",
    ),
    "an empty listing": (
        lambda world, mirror: ["bls"],
        (BLS_ROOT, {"kind": "body", "body": b"<html><pre></pre></html>"}),
        6,
        "lists no files; refusing to mirror an empty directory",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_failure_is_one_error_line_with_its_exit_status(case, world, mirror, capsys):
    argv, fault, expected, message = CASES[case]
    (world / "a-file").write_text("not a folder")
    if expected == 6:
        assert _sync(capsys, "bls")[0] == 0  # a store with files, which the guard protects
    if fault is not None:
        path, options = fault
        mirror.faults.add(path, times=10, **options)
    status, _, err = _sync(capsys, *argv(world, mirror))
    line = _one_error_line(err)
    assert status == expected, line
    assert re.search(message, line), line


def test_a_store_that_cannot_be_written_is_one_error_line(world, capsys, tmp_path):
    if os.geteuid() == 0:
        unwritable = "/sys/quest-store"  # sysfs refuses even root a new folder
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        unwritable = str(locked / "store")
    status, _, err = _sync(capsys, "bls", "--store", unwritable)
    assert status == 3
    assert "permission denied" in _one_error_line(err)


def test_a_held_lock_and_a_missing_contact_have_their_own_statuses(world, capsys, monkeypatch):
    from quest.store.local import LocalStore

    with LocalStore(world / "store").lock("sync-bls"):
        status, _, err = _sync(capsys, "bls")
    assert status == 7 and "QUEST_LOCK_TIMEOUT" in _one_error_line(err)
    monkeypatch.setenv("QUEST_CONTACT", "")
    status, _, err = _sync(capsys, "bls")
    assert status == 9 and "QUEST_CONTACT" in _one_error_line(err)


def test_a_partly_failed_sync_still_prints_what_it_did(world, mirror, capsys):
    mirror.faults.add(BLS_ROOT + "pr.file1", "status", status=206, times=10)
    status, out, err = _sync(capsys, "bls")
    assert status == 8
    summary = json.loads(out)
    assert (summary["uploaded"], summary["failed"]) == (2, 1)
    assert "pr.file1" in _one_error_line(err)


def test_an_unusable_temporary_folder_is_one_error_line_naming_tmpdir(world, capsys, monkeypatch):
    import tempfile

    (world / "a-file").write_text("not a folder")
    monkeypatch.setattr(tempfile, "tempdir", str(world / "a-file"))
    status, _, err = _sync(capsys, "bls")
    assert status == 9
    assert "point TMPDIR at a writable folder" in _one_error_line(err)
    assert not (world / "store" / "bls").exists(), "nothing was published"


def test_an_unexpected_error_is_still_one_line_and_status_1(world, capsys, monkeypatch):
    import quest.sources.bls

    def broken(settings):
        raise RuntimeError("http://quest:" + PASSWORD + "@host/ went wrong")

    monkeypatch.setattr(quest.sources.bls, "sync_bls", broken)
    status, _, err = _sync(capsys, "bls")
    line = _one_error_line(err)
    assert status == 1
    assert "unexpected RuntimeError: http://***@host/ went wrong. This is a bug" in line
    assert PASSWORD not in err


def test_an_unexpected_spark_error_is_one_line_without_its_java_stack(world, capsys, monkeypatch):
    import quest.sources.bls

    class Py4JJavaError(Exception):
        """py4j's error (its text is the Java exception's stack trace), stood in for."""

    def broken(settings):
        frames = "".join(f"\tat org.apache.spark.Thing.f{i}(Thing.scala:{i})\n" for i in range(30))
        raise Py4JJavaError(
            f"An error occurred while calling o3.sql.\n: java.lang.IllegalStateException: shut\n{frames}"
        )

    monkeypatch.setattr(quest.sources.bls, "sync_bls", broken)
    status, _, err = _sync(capsys, "bls")
    assert status == 1
    assert _one_error_line(err) == (
        "quest: error: unexpected Py4JJavaError: java.lang.IllegalStateException: shut. This is "
        "a bug in quest: rerun with -v for the traceback and report it"
    )


# -- secrets ------------------------------------------------------------------------------------


def _with_password(url: str) -> str:
    return url.replace("http://", f"http://quest:{PASSWORD}@")


def _with_token(url: str) -> str:
    return url + ("&" if "?" in url else "?") + f"access_token={PASSWORD}"


@pytest.mark.parametrize(
    "case",
    [(o, s) for o in ("passing", "failing") for s in (_with_password, _with_token)],
    ids=lambda case: f"{case[0]}-{'userinfo' if case[1] is _with_password else 'query'}",
)
def test_source_url_passwords_reach_no_output_log_or_store(
    case, world, mirror, capsys, caplog, monkeypatch
):
    outcome, secret = case
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("QUEST_BLS_URL", secret(mirror.bls_url))
    monkeypatch.setenv("QUEST_DATAUSA_URL", secret(mirror.datausa_url))
    if outcome == "failing":
        mirror.faults.add(BLS_ROOT + "pr.file1", "status", status=500, times=10)
        mirror.faults.add(TESSERACT_PATH, "status", status=500, times=10)
    statuses = [main(["-v", "sync", "bls"]), main(["-v", "sync", "datausa"])]
    out, err = capsys.readouterr()
    assert statuses == ([0, 0] if outcome == "passing" else [8, 4])
    if outcome == "failing" and secret is _with_password:
        assert "quest:***@127.0.0.1" not in err  # the userinfo is gone whole, not masked
        assert f"http://***@127.0.0.1:{mirror.port}" in err
    if outcome == "failing" and secret is _with_token:
        assert "access_token=***" in err
    for where, text in {"stdout": out, "stderr": err, "logs": caplog.text}.items():
        assert PASSWORD not in text, where
    stored = [p.read_bytes() for p in (world / "store").rglob("*") if p.is_file()]
    assert stored and not any(PASSWORD.encode() in data for data in stored)


def test_an_s3_endpoint_password_is_redacted_from_botocore_errors(
    world, capsys, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    endpoint = f"http://quest:{PASSWORD}@127.0.0.1:{_free_port()}"
    monkeypatch.setenv("QUEST_S3_ENDPOINT_URL", endpoint)
    status = main(["-v", "sync", "bls", "--store", "s3://quest-nowhere/republish"])
    out, err = capsys.readouterr()
    line = _one_error_line(err)
    assert status == 3, line
    assert "Could not connect to the endpoint URL" in line and "http://***@127.0.0.1" in line
    for text in (out, err, caplog.text):
        assert PASSWORD not in text


def test_the_s3_store_works_through_the_cli_with_a_plain_endpoint(
    world, moto_endpoint, capsys, monkeypatch
):
    store = make_s3_store(moto_endpoint)
    monkeypatch.setenv("QUEST_S3_ENDPOINT_URL", moto_endpoint)
    status, out, err = _sync(capsys, "bls", "--store", store.uri)
    assert status == 0, err
    assert len(stored_bytes(store)) == 3


def test_the_mirror_on_a_taken_port_or_an_empty_folder_is_one_error_line(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        status = main(["mirror", "--port", str(taken.getsockname()[1])])
    line = _one_error_line(capsys.readouterr().err)
    assert status == 9 and "cannot listen there" in line and "leave --port out" in line
    assert main(["mirror", "--port", "99999"]) == 9
    assert "cannot listen there" in _one_error_line(capsys.readouterr().err)
    assert main(["mirror", "--data", str(tmp_path)]) == 9
    assert "holds neither bls/pr/ nor datausa/" in _one_error_line(capsys.readouterr().err)


# `python -m quest` with Ctrl-C as a terminal delivers it: a suite started as a background job
# (`make test &`, some CI runners) hands its children SIGINT ignored, and Python then raises no
# KeyboardInterrupt.
_AS_IN_A_TERMINAL = """
import runpy, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
runpy.run_module("quest", run_name="__main__", alter_sys=True)
"""


def test_the_export_lines_the_mirror_prints_set_both_urls_when_pasted_into_a_shell(tmp_path):
    import signal
    import subprocess
    import sys

    mirror = subprocess.Popen(
        [sys.executable, "-c", _AS_IN_A_TERMINAL, "mirror"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        lines = [mirror.stdout.readline() for _ in range(3)]
    finally:
        mirror.send_signal(signal.SIGINT)
        mirror.wait(timeout=30)
    exports = "".join(line for line in lines if line.strip().startswith("export "))
    script = exports + 'printf "%s\\n%s\\n" "$QUEST_BLS_URL" "$QUEST_DATAUSA_URL"\n'
    shell = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    bls, datausa = shell.stdout.splitlines()
    assert bls.endswith("/pub/time.series/pr/")
    assert datausa.endswith("&locale=en&measures=Population"), "the & cut the URL"


def _mirror_process(tmp_path, **options) -> subprocess.Popen:
    """`quest mirror` (its generated sample) in a process of its own, temporary files in
    `tmp_path`."""
    return subprocess.Popen(
        [sys.executable, "-m", "quest", "mirror"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        **options,
    )


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGHUP"])
def test_a_mirror_stopped_with_sigterm_removes_the_sample_it_generated(tmp_path, stop):
    # SIGHUP as a closing terminal sends it, to a mirror that does not inherit `nohup`'s SIG_IGN
    # from a suite started under nohup (it would keep it: the test below)
    mirror = _mirror_process(
        tmp_path, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL)
    )
    try:
        first = mirror.stdout.readline()
    finally:
        mirror.send_signal(getattr(signal, stop))
        status = mirror.wait(timeout=30)
    sample = Path(first.removeprefix("serving ").split(" (Ctrl-C")[0])
    assert sample.parent.parent == tmp_path and sample.name == "data", first
    assert status == 0 and "mirror stopped" in mirror.stdout.read()
    assert not sample.parent.exists(), "the generated sample was left behind"


def test_a_mirror_under_nohup_outlives_its_terminal(tmp_path):
    # what `nohup` does before it starts the command
    mirror = _mirror_process(
        tmp_path, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)
    )
    try:
        mirror.stdout.readline()
        mirror.send_signal(signal.SIGHUP)
        # Alive for as long as a mirror that took the signal would need, on a loaded machine,
        # to stop: judged sooner, one that stops slowly would pass.
        with pytest.raises(subprocess.TimeoutExpired):
            mirror.wait(timeout=10)
    finally:
        mirror.send_signal(signal.SIGTERM)
        status = mirror.wait(timeout=30)
    assert status == 0
