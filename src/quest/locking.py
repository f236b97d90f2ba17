"""File locks that die with their holder: `flock` is released by the kernel when a process ends,
so a run killed with SIGKILL never leaves a stale lock behind."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from quest.errors import ConfigError, LockError, QuestError


@contextlib.contextmanager
def file_lock(
    path: str | Path,
    what: str,
    timeout: float = 0.0,
    opener=None,
    holder: str = "another run",
    error: type[QuestError] = ConfigError,
):
    """Hold an exclusive lock on `path` for the duration of the block.

    Args:
        path: the lock file (created if missing).
        what: words for the error message, e.g. "run lock on /home/.quest".
        timeout: seconds to wait for the lock before giving up (0: do not wait).
        opener: `open`'s opener, which then also creates the folder (a store uses one that
            never follows a symbolic link).
        holder: what holds it, for the error message; the holder's own line (`pid N`) follows.
        error: what is raised when the lock cannot be taken at all.

    Raises:
        LockError: when another process holds the lock past `timeout`.
        `error`: when the lock file cannot be opened or locked (a file system without locks).
    """
    path = Path(path)
    try:
        if opener is None:
            path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", opener=opener)  # noqa: SIM115 (closed by the with below)
    except OSError as exc:  # no permission (another user's file), a read-only file system
        raise _unusable(path, what, exc, error) from None
    with handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if not isinstance(exc, BlockingIOError):  # ENOLCK: NFS without its lock daemon
                    raise _unusable(path, what, exc, error) from None
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    held = handle.read(200).strip()
                    raise LockError(
                        f"the {what} is held by {holder}{f' ({held})' if held else ''}; wait "
                        "for it to finish or set QUEST_LOCK_TIMEOUT to wait for it"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _unusable(path: Path, what: str, exc: OSError, error: type[QuestError]) -> QuestError:
    why = exc.strerror or type(exc).__name__
    return error(
        f"cannot take the {what}: {path}: {why}; quest needs a folder it may write, on a file "
        "system with file locks (flock)"
    )
