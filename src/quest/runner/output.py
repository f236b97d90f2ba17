"""Where a local run's output goes: task prints to per-task logs, secrets nowhere."""

from __future__ import annotations

import io
import logging
import threading

from quest.config import Settings
from quest.runner.notify import redact


class TaskOutput(io.TextIOBase):
    """Stands in for sys.stdout during a run: what a task's thread prints (a notebook's tables
    and JSON) goes to that task's log file, everything else to the console."""

    def __init__(self, console) -> None:
        self.console = console
        self._local = threading.local()

    def route(self, handle) -> None:
        self._local.handle = handle

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        target = getattr(self._local, "handle", None) or self.console
        return target.write(text)

    def flush(self) -> None:
        target = getattr(self._local, "handle", None) or self.console
        target.flush()


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
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
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
