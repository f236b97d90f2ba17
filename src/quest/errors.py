"""The project's errors: each one says what went wrong and, where it can, how to fix it.

`exit_status` is the status every `quest` command exits with for the error (README,
"Commands"); a bad command line exits 2 (argparse's), a run in which a task failed `RUN_FAILED`.
"""

from __future__ import annotations

import re

RUN_FAILED = 10
# A run or command stopped with Ctrl-C (the shell's 128 + SIGINT).
INTERRUPTED = 130


class QuestError(Exception):
    """Base of every error the project raises on purpose.

    `retryable`: whether trying again may help. `quest run` does not retry a task that failed
    with an error that waiting cannot fix (a setting, a host name that does not resolve).
    """

    exit_status = 1
    retryable = True


class ConfigError(QuestError):
    """A setting is missing or wrong; raised before any work starts."""

    exit_status = 9
    retryable = False


class StoreError(QuestError):
    """The store could not read or write an object."""

    exit_status = 3


class SourceError(QuestError):
    """A source (BLS, DataUSA) answered with something we refuse to store."""

    exit_status = 5


class SourceUnavailable(SourceError):
    """A source did not answer in time, or kept failing after the retries."""

    exit_status = 4


class HostNotFound(SourceUnavailable):
    """A source's host name does not resolve (offline, or a typo in the URL)."""

    retryable = False


class SyncGuardError(SourceError):
    """The sync refused to act because the result would look like data loss."""

    exit_status = 6


class LockError(QuestError):
    """Another run holds the lock on the same store or home."""

    exit_status = 7


class IncompleteSyncError(SourceError):
    """Some files were refused or could not be fetched; the others were synced.

    Attributes:
        summary: what the run did (its per-file list names each failure).
    """

    exit_status = 8

    def __init__(self, message: str, summary: object = None) -> None:
        super().__init__(message)
        self.summary = summary


class DataFileError(QuestError):
    """A whole file cannot be loaded (missing header, empty file); names the file.

    Raised by a layer after it loaded every other file: `result` (a `quest.results.LayerResult`)
    says what it did. Not retried: the file stays as it is until the next sync.
    """

    result = None
    retryable = False


# A line of a Java stack trace: a frame, or the count of frames a cause shares with the one
# above it; and the preamble of a Py4J error, before the Java exception's own line.
_JAVA_FRAME = re.compile(r"\s+(at \S+\(.*\)|\.\.\. \d+ (more|common frames omitted))$")
_PY4J_CALL = re.compile(r"An error occurred while calling [\w.$]+\.$")


def brief(exc: BaseException, limit: int | None = None) -> str:
    """`Type: message` of `exc`, without the Java stack trace a Py4J error's text carries (a
    `Py4JJavaError`, for a Spark job cancelled or failed, holds every frame of the Java
    exception and of each cause: 35 to 140 lines). What is left of such an error is the Java
    exception's own message and, after `; caused by `, its deepest cause's. Any other error's
    text is kept whole. With `limit`: the first line only, cut to `limit` characters.
    """
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a Py4J error asks the JVM for its text, which may be gone
        text = str(getattr(exc, "errmsg", "") or "").strip()
    lines = text.splitlines()
    stack = next((i for i, line in enumerate(lines) if _JAVA_FRAME.match(line)), None)
    if stack is not None:
        head = lines[:stack]
        if "JVM stacktrace:" in head:  # PySpark's own errors, when asked to add the stack
            head = head[: head.index("JVM stacktrace:")]
        elif len(head) >= 2 and _PY4J_CALL.fullmatch(head[0]) and head[1].startswith(": "):
            head = [head[1][2:], *head[2:]]
        head = "\n".join(head).strip().splitlines() or [""]
        causes = [line for line in lines[stack:] if line.startswith("Caused by: ")]
        if causes:
            head[0] += f"; caused by {causes[-1].removeprefix('Caused by: ')}"
        text = "\n".join(head)
    if limit is not None:
        text = text.strip().splitlines()[0][:limit] if text.strip() else ""
    return f"{type(exc).__name__}: {text}"
