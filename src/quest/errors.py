"""The project's errors: each one says what went wrong and, where it can, how to fix it.

`exit_status` is the status every `quest` command exits with for the error (README,
"Commands"); a bad command line exits 2 (argparse's), a run in which a task failed `RUN_FAILED`.
"""

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
