"""Secrets never leak: not to the console, the logs, the run records, the e-mails or the store."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from brickflow import EmailNotifications, TaskSettings, Workflow, WorkflowEmailNotifications

from quest.config import load_settings
from quest.errors import RUN_FAILED
from quest.mirror.sample import generate_sample
from quest.mirror.server import MirrorServer
from quest.orchestration import tasks
from quest.results import Status, TaskResult
from quest.runner.local import run_workflow
from tests.workflow.support import OPS, SmtpServer

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAQUESTFAKE0000001",
    "AWS_SECRET_ACCESS_KEY": "questFakeSecret/0123456789abcdefABCDEF",
    "DATABRICKS_TOKEN": "dapiquestfake0123456789abcdef",
}
SMTP_PASSWORD = "smtp-Fake-Pw-0123"


def _leaky_workflow(fail: bool) -> Workflow:
    """The real sync task bodies, then a careless task that prints and raises its secrets."""
    emails = EmailNotifications(on_failure=[OPS])
    wf = Workflow(
        "secret_flow",
        default_task_settings=TaskSettings(
            email_notifications=emails, max_retries=1, min_retry_interval_millis=1000
        ),
        email_notifications=WorkflowEmailNotifications(on_failure=[OPS], on_success=[OPS]),
    )

    @wf.task
    def bls_sync(*, env: str = "dev", store: str = "", contact: str = "", bls_url: str = ""):
        return tasks.bls_sync(None, env=env, store=store, contact=contact, bls_url=bls_url)

    @wf.task
    def datausa_sync(*, env: str = "dev", store: str = "", datausa_url: str = ""):
        return tasks.datausa_sync(None, env=env, store=store, datausa_url=datausa_url)

    @wf.task(depends_on=["bls_sync", "datausa_sync"])
    def careless():
        print("environment:", dict(os.environ))
        log = logging.getLogger("quest.careless")
        log.info("settings: %s", load_settings())
        log.warning(
            "using key %s and token %s",
            os.environ["AWS_SECRET_ACCESS_KEY"],
            os.environ["DATABRICKS_TOKEN"],
        )
        if fail:
            raise RuntimeError(
                f"cannot reach {load_settings().smtp_url} with {os.environ['AWS_SECRET_ACCESS_KEY']}"
            )
        return TaskResult(Status.UNCHANGED, "unchanged, skipped (nothing to do)").to_dict()

    return wf


def _files_under(*folders: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for f in folders for p in f.rglob("*") if p.is_file()}


@pytest.mark.parametrize("fail", [True, False], ids=["failing-run", "passing-run"])
def test_no_secret_reaches_output_logs_records_mail_or_store(
    fail, tmp_path, monkeypatch, capsys, caplog
):
    caplog.set_level(logging.DEBUG)
    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    secrets = [*FAKE_ENV.values(), SMTP_PASSWORD]
    source = generate_sample(tmp_path / "source")
    with SmtpServer() as smtp, MirrorServer(source) as mirror:
        monkeypatch.setenv("QUEST_SMTP_URL", f"smtp://quest:{SMTP_PASSWORD}@127.0.0.1:{smtp.port}")
        settings = load_settings().with_overrides(
            home=str(tmp_path / "home"),
            store=str(tmp_path / "store"),
            bls_url=mirror.bls_url,
            datausa_url=mirror.datausa_url,
            contact="secrets-test@example.org",
            retry_wait_scale=0.0,
        )
        record = run_workflow(settings, workflow=_leaky_workflow(fail))
    assert record.exit_code == (RUN_FAILED if fail else 0)
    assert record.tasks["bls_sync"].status == "success"
    assert ("quest", SMTP_PASSWORD) in smtp.logins, "the notifications were not sent"
    if fail:
        assert any("careless failed" in m["data"] for m in smtp.messages)

    captured = capsys.readouterr()
    places = {
        "stdout": captured.out,
        "stderr": captured.err,
        "logs": caplog.text,
        "e-mails": "\n".join(m["data"] for m in smtp.messages),
    }
    stored = _files_under(tmp_path / "home", tmp_path / "store")
    assert any(p.suffix == ".json" for p in stored), "no run record was written"
    assert any(p.suffix == ".log" for p in stored), "no task log was written"
    assert any("pr.data.0.Current" in p.name for p in stored), "the sync stored nothing"
    for secret in secrets:
        for where, text in places.items():
            assert secret not in text, f"{secret!r} leaked into {where}"
        for path, data in stored.items():
            assert secret.encode() not in data, f"{secret!r} leaked into {path}"
