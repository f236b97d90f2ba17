"""Where a local run's output goes: task prints to per-task logs, secrets nowhere."""

from __future__ import annotations

import io
import logging
import platform
import threading
import time
from dataclasses import fields
from importlib import metadata
from pathlib import Path

from quest.config import Settings
from quest.redaction import hide_userinfo
from quest.runner.notify import redact

# The one layout of quest's log lines: on the terminal, in a task's log and in the engine log.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class TaskOutput(io.TextIOBase):
    """Stands in for sys.stdout during a run: what a task's thread prints (a notebook's tables
    and JSON) goes to that task's log file, everything else to the console."""

    def __init__(self, console) -> None:
        self.console = console
        self._local = threading.local()

    def route(self, handle) -> None:
        self._local.handle = handle

    def task_handle(self):
        """The log of the task running on this thread, or None outside a task."""
        return getattr(self._local, "handle", None)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        target = getattr(self._local, "handle", None) or self.console
        return target.write(text)

    def flush(self) -> None:
        target = getattr(self._local, "handle", None) or self.console
        target.flush()


class TaskLogHandler(logging.Handler):
    """Put on the root logger during a run: a log record emitted on a task's thread goes to that
    task's log too (through `TaskOutput`'s routing), so the log says what the task did."""

    def __init__(self, output: TaskOutput, settings: Settings) -> None:
        super().__init__(logging.INFO)
        self.output = output
        self.setFormatter(logging.Formatter(LOG_FORMAT))
        self.addFilter(RedactingFilter(settings))
        self.addFilter(QuestOnly())

    def emit(self, record: logging.LogRecord) -> None:
        handle = self.output.task_handle()
        if handle is None:
            return
        try:
            handle.write(self.format(record) + "\n")
            handle.flush()
        except Exception:  # a log line must never fail the task
            self.handleError(record)


class KeptInTheTaskLog(logging.Filter):
    """Put on the terminal's handler during a run (unless `-v`, which shows everything): a
    task's own INFO lines stay in its log (`TaskLogHandler`); the terminal shows the run's
    progress lines, and warnings or worse."""

    def __init__(self, output: TaskOutput) -> None:
        super().__init__()
        self.output = output

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or self.output.task_handle() is None


class RedactingFilter(logging.Filter):
    """Put on the root logger's handlers during a run: log lines lose their secrets too."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self.settings)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(
                logging.Formatter().formatException(record.exc_info), self.settings
            )
            record.exc_info = None
        return True


class RedactingFile:
    """A text file whose writes pass through `redact` (a task log never holds a secret)."""

    def __init__(self, handle, settings: Settings) -> None:
        self.handle, self.settings = handle, settings

    def write(self, text: str) -> int:
        self.handle.write(redact(text, self.settings))
        return len(text)

    def flush(self) -> None:
        self.handle.flush()


class QuestOnly(logging.Filter):
    """On the terminal's handler (unless `-v`) and the task logs' : quest's own log lines, and
    warnings or worse from anyone. The engines' chatter (py4j, BrickFlow's INFO lines) goes to
    the engine log only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] == "quest" or record.levelno >= logging.WARNING


class NoPy4jTracebacks(logging.Filter):
    """On the terminal's handler (unless `-v`): py4j logs its tracebacks on the root logger, as
    ERROR (a Ctrl-C while Spark answers printed four of them before `quest report`'s one error
    line). In a run they stay in the engine log and the task's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "root" and "py4j" in Path(record.pathname).parts)


class EngineLog:
    """While open, every log record (any logger, any level from INFO) is appended to `path`."""

    def __init__(self, path: Path, settings: Settings) -> None:
        self.path = path
        self.handler: logging.Handler | None = None
        self.settings = settings

    def __enter__(self) -> EngineLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handler = logging.FileHandler(self.path, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter(LOG_FORMAT))
        self.handler.addFilter(RedactingFilter(self.settings))
        root = logging.getLogger()
        root.addHandler(self.handler)
        self._level = root.level
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc) -> None:
        root = logging.getLogger()
        root.removeHandler(self.handler)
        root.setLevel(self._level)
        self.handler.close()


# A task running longer than this is said to be running, again every as many seconds.
HEARTBEAT_SECONDS = 15.0


class Heartbeat:
    """Says every `every` seconds which tasks are still running, and for how long, so a long
    step is never silent."""

    def __init__(self, say, every: float | None = None) -> None:
        self.say, self.every = say, every or HEARTBEAT_SECONDS
        self._running: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def started(self, name: str) -> None:
        with self._lock:
            self._running[name] = time.monotonic()

    def ended(self, name: str) -> None:
        with self._lock:
            self._running.pop(name, None)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            now = time.monotonic()
            with self._lock:
                due = sorted((name, now - t0) for name, t0 in self._running.items())
            for name, seconds in due:
                if seconds >= self.every:
                    self.say(f". {name}: still running ({seconds:.0f}s)")


def run_settings(settings: Settings) -> dict:
    """The settings a run used, for its record: URLs without userinfo, the SMTP URL hidden."""
    out = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.name == "smtp_url":
            value = "***" if value else ""
        elif isinstance(value, tuple):
            value = list(value)
        elif not isinstance(value, int | float | bool):
            value = hide_userinfo(str(value))
        out[f.name] = value
    out["store_uri"] = hide_userinfo(settings.store_uri)
    return out


def versions() -> dict:
    """The versions a run used: Python, quest and the engines."""
    found = {"python": platform.python_version()}
    for dist in ("quest", "pyspark", "delta-spark", "brickflows"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found
