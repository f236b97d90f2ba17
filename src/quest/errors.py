"""The project's errors: each one says what went wrong and, where it can, how to fix it.

`exit_status` is the status every `quest` command exits with for the error (README,
"Commands"); a bad command line exits 2 (argparse's), a run in which a task failed `RUN_FAILED`.
"""

from __future__ import annotations

import re

RUN_FAILED = 10
# A run or command stopped with Ctrl-C (the shell's 128 + SIGINT), or a run with SIGTERM.
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


class SourceCutOff(SourceUnavailable):
    """A download was cut off by `QUEST_HTTP_DEADLINE` or the low-speed limit: that URL's answer
    was too slow, which says less of the source than a failure of every try."""


class HostNotFound(SourceUnavailable):
    """A source's host name does not resolve (offline, or a typo in the URL)."""

    retryable = False


class NothingListens(SourceUnavailable):
    """A source URL names this machine and every try was refused: most often a `quest mirror`
    stopped while QUEST_BLS_URL or QUEST_DATAUSA_URL still name it. The client's own tries
    have waited already; another task attempt would wait for nothing. (A BLS file or sub-folder
    refused after the listing answered is retried all the same: its server went away mid-sync.)"""

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
# above it. Py4J's own first line, before the Java exception's (`z:` for a static method; a
# `Py4JError` adds "Trace:"). The first line of a Java exception's account: its qualified class
# name, then its message. And the line a Python worker's error starts with, inside a Spark one.
_JAVA_FRAME = re.compile(r"\s+(at \S+\(.*\)|\.\.\. \d+ (more|common frames omitted))$")
_PY4J_CALL = re.compile(r"An error occurred while calling \S+?\.(?: Trace:)?")
_JAVA_THROWN = re.compile(r"[A-Za-z_$][\w$]*(\.[\w$]+)+(: .*)?")
_PY_TRACEBACK = "Traceback (most recent call last):"
_CAUSED = "Caused by: "


def error_text(exc: BaseException) -> str:
    """`str(exc)`, or for an error that cannot say it (a Py4J error asks the JVM for its text,
    and the JVM may be gone) what it holds of it."""
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - whatever the gateway raises
        return str(getattr(exc, "errmsg", "") or "").strip()


def brief(exc: BaseException, limit: int | None = None) -> str:
    """`Type: message` of `exc`, without the Java stack trace a Spark error's text carries (a
    `Py4JJavaError`, for a Spark job cancelled or failed, holds every frame of the Java
    exception and of each cause: 35 to 140 lines). Such an error is said in one line: the Java
    exception's first line and, after `; caused by `, its deepest cause's; a Python worker's
    error (inside it, or PySpark's `PythonException`) by its own line, `ValueError: ...`. Any
    other error's text is kept whole. With `limit`: the first line only, cut to `limit`
    characters, keeping room for the cause.
    """
    text = error_text(exc).rstrip()
    lines = text.splitlines()
    said = _java_account(lines)
    if said is None and lines and lines[0].strip() == _PY_TRACEBACK:
        said = (_said(lines, 0), "")  # a Python worker's traceback, as PySpark raises it
    if said is not None and any(said):
        text = _joined(*said, limit)
    elif said is not None:  # Py4J's first line is all there is
        text = lines[0]
    if limit is not None:
        text = text.strip().splitlines()[0][:limit] if text.strip() else ""
    name = type(exc).__name__
    return f"{name}: {text}" if text.strip() else name


# Under this much room a cause is not worth its "; caused by ".
_CAUSE_ROOM = 40


def _joined(message: str, cause: str, limit: int | None) -> str:
    """A Java exception's message and its deepest cause's in one line, within `limit`: the
    cause (a full disk, a missing file) is what to act on, so the message keeps a third of the
    room, or what it needs of it. A cause the message already ends with (Spark repeats a
    failed task's error in the job's) is said once, moved to the end when the cut would drop
    it."""
    if cause and cause in message:
        if limit is None or len(message) <= limit:
            return message
        message = message[: message.rfind(cause)].rstrip(" :")
    suffix = f"; caused by {cause}" if cause else ""
    if not message:
        return cause
    if limit is not None and len(message) + len(suffix) > limit:
        if limit < _CAUSE_ROOM:
            return message[:limit]
        suffix = suffix[: limit - min(len(message), limit // 3)]
        message = message[: limit - len(suffix)]
    return message + suffix


def _java_account(lines: list[str]) -> tuple[str, str] | None:
    """(the Java exception's message, its deepest cause's) when `lines` are a Java exception's
    account with its stack (from Py4J, or PySpark's "JVM stacktrace:"), else None."""
    java, stack_lines = False, lines
    if lines and _PY4J_CALL.fullmatch(lines[0]):
        java, lines = True, lines[1:]
        if lines and lines[0].startswith(": "):
            lines = [lines[0][2:], *lines[1:]]
        stack_lines = lines
    elif "JVM stacktrace:" in lines:  # PySpark's own error, when asked to add the stack
        at = lines.index("JVM stacktrace:")
        own = [line for line in lines[:at] if line.strip()]
        java, stack_lines = True, lines[at + 1 :]
        lines = own or stack_lines
    stack = next((i for i, line in enumerate(lines) if _JAVA_FRAME.match(line)), len(lines))
    head = [line for line in lines[:stack] if line.strip()]
    if not java and not (stack < len(lines) and head and _JAVA_THROWN.fullmatch(head[0])):
        return None  # no Java account: a Python error's text, even one with a line like a frame
    message = ""
    if head:
        message = _said(lines, lines.index(head[0])).strip()
        if message.endswith(":") and len(head) > 1:  # a Java message on its own line
            message = f"{message} {head[1].strip()}"
    causes = [i for i, line in enumerate(stack_lines) if line.startswith(_CAUSED)]
    cause = _said(stack_lines, causes[-1]).removeprefix(_CAUSED).strip() if causes else ""
    return message, cause


def _said(lines: list[str], at: int) -> str:
    """Line `at` of a Java account; when it starts a Python traceback, with the traceback's
    error (the first line after its last frame that is not indented) in place of its first."""
    line = lines[at]
    if not line.rstrip().endswith(_PY_TRACEBACK):
        return line
    told = []
    for following in lines[at + 1 :]:
        if _JAVA_FRAME.match(following) or following.startswith(_CAUSED):
            break
        if following.startswith("  File "):
            told = []  # a frame: the error comes after the last one
        elif following.strip() and not following[0].isspace():
            told.append(following)
    return line.rstrip()[: -len(_PY_TRACEBACK)] + told[0] if told else line
