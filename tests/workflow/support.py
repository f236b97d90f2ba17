"""Test helpers: a small real BrickFlow Workflow with Python tasks only, and an SMTP server."""

from __future__ import annotations

import base64
import socketserver
import threading
import time
from dataclasses import dataclass, field

from brickflow import (
    EmailNotifications,
    TaskSettings,
    Workflow,
    WorkflowEmailNotifications,
)

from quest.config import Settings
from quest.mirror.server import STOP_POLL_SECONDS
from quest.orchestration.conditions import loaded_tables, local_trace
from quest.results import Status, TaskResult

OPS = "ops@example.org"
# The tasks of quest_pipeline, in the order the workflow declares them.
PIPELINE_TASKS = (
    "bls_sync",
    "datausa_sync",
    "plan_medallion",
    "medallion_needed",
    "load_bronze",
    "load_silver",
    "gold_analysis",
    "record_medallion",
)


def runner_settings(tmp_path, **overrides) -> Settings:
    """Settings for a runner test: a home and a store under `tmp_path`, no retry waits."""
    return Settings(
        home=tmp_path / "home",
        store=str(tmp_path / "store"),
        contact="runner-tests@example.org",
        retry_wait_scale=0.0,
    ).with_overrides(**overrides)


@dataclass
class Behaviour:
    """What each fake task does: by default it succeeds after `delay` seconds."""

    delay: float = 0.0
    fail_times: dict[str, int] = field(default_factory=dict)  # task -> failures before success
    error: str = "boom"
    calls: dict[str, int] = field(default_factory=dict)
    spans: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    params: dict[str, dict] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, name: str, **params):
        start = time.monotonic()
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1
            n = self.calls[name]
            self.params[name] = params
        time.sleep(self.delay)
        with self._lock:
            self.spans.setdefault(name, []).append((start, time.monotonic()))
        if n <= self.fail_times.get(name, 0):
            raise RuntimeError(f"{self.error} in {name} (call {n})")
        return TaskResult(
            Status.UNCHANGED, f"unchanged, skipped ({name} had nothing to do)"
        ).to_dict()


def fake_workflow(behave: Behaviour, retries: int = 2, notify=(OPS,)) -> Workflow:
    """extract_a and extract_b (parallel heads) -> combine -> publish.

    `publish` depends on `combine` and on `extract_a` (BFS layers would run it beside `combine`); the retries, interval and
    notifications are declared the BrickFlow way, so the runner must read them from the object.
    """
    emails = EmailNotifications(on_failure=list(notify))
    wf = Workflow(
        "fake_flow",
        default_task_settings=TaskSettings(
            email_notifications=emails,
            max_retries=retries,
            min_retry_interval_millis=60_000,
            timeout_seconds=60,
        ),
        email_notifications=WorkflowEmailNotifications(
            on_start=list(notify), on_success=list(notify), on_failure=list(notify)
        ),
    )

    @wf.task
    def extract_a(*, env: str = "dev", store: str = "s3://not-used", contact: str = ""):
        return behave("extract_a", env=env, store=store, contact=contact)

    @wf.task
    def extract_b(*, env: str = "dev"):
        return behave("extract_b", env=env)

    @wf.task(depends_on=["extract_a", "extract_b"])
    def combine():
        return behave("combine")

    @wf.task(depends_on=["combine", "extract_a"])
    def publish():
        return behave("publish")

    return wf


class _SmtpHandler(socketserver.StreamRequestHandler):
    """A minimal RFC 5321 dialogue: enough for smtplib (one method a verb)."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 fake ESMTP")
        self.message: dict = {"rcpt": []}
        verbs = {
            "EHLO": self._hello,
            "HELO": self._hello,
            "AUTH": self._auth,
            "MAIL": self._mail,
            "RCPT": self._rcpt,
            "DATA": self._data,
        }
        while raw := self.rfile.readline():
            line = raw.decode().rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "QUIT":
                self.reply("221 bye")
                return
            verbs.get(verb, self._ok)(line)

    def _ok(self, line: str) -> None:
        self.reply("250 ok")

    def _hello(self, line: str) -> None:
        self.wfile.write(b"250-fake\r\n250 AUTH PLAIN LOGIN\r\n")

    def _auth(self, line: str) -> None:
        parts = line.split()
        if parts[1].upper() == "PLAIN":
            token = parts[2] if len(parts) > 2 else self._ask("334 ")
            _, user, password = base64.b64decode(token).decode().split("\0")
        else:
            user = base64.b64decode(self._ask("334 VXNlcm5hbWU6")).decode()
            password = base64.b64decode(self._ask("334 UGFzc3dvcmQ6")).decode()
        self.server.logins.append((user, password))
        self.reply("235 ok")

    def _mail(self, line: str) -> None:
        self.message = {"from": line, "rcpt": []}
        self.reply("250 ok")

    def _rcpt(self, line: str) -> None:
        self.message["rcpt"].append(line.split(":", 1)[1].strip(" <>"))
        self.reply("250 ok")

    def _data(self, line: str) -> None:
        self.reply("354 go")
        body = []
        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
            body.append(chunk.decode())
        self.message["data"] = "".join(body)
        self.server.messages.append(self.message)
        self.reply("250 queued")

    def _ask(self, prompt: str) -> str:
        self.reply(prompt)
        return self.rfile.readline().decode().strip()


class SmtpServer(socketserver.ThreadingTCPServer):
    """An SMTP server on 127.0.0.1 that keeps what it receives: `.messages`, `.logins`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.messages: list[dict] = []
        self.logins: list[tuple[str, str]] = []

    @property
    def port(self) -> int:
        return self.server_address[1]

    def __enter__(self):
        threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": STOP_POLL_SECONDS}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


def lay_out_loaded_tables(settings: Settings, inputs=()) -> None:
    """The warehouse folders a complete load (of the files `inputs`) leaves, where the plan looks
    for them without a JVM: a Delta log per table, a schema folder for the views."""
    for layer, name, is_view in loaded_tables(settings, inputs):
        local_trace(settings, settings.table(layer, name), is_view).mkdir(
            parents=True, exist_ok=True
        )
