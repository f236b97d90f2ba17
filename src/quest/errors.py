"""The project's errors: each one says what went wrong and, where it can, how to fix it."""


class QuestError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigError(QuestError):
    """A setting is missing or wrong; raised before any work starts."""


class SourceError(QuestError):
    """A source (BLS, DataUSA) answered with something we refuse to store."""


class SyncGuardError(SourceError):
    """The sync refused to act because the result would look like data loss."""


class StoreError(QuestError):
    """The store could not read or write an object."""


class LockError(QuestError):
    """Another run holds the lock on the same store or home."""


class DataFileError(QuestError):
    """A whole file cannot be loaded (missing header, empty file); names the file.

    Raised by a layer after it loaded every other file: `result` (a `quest.results.LayerResult`)
    says what it did.
    """

    result = None
