"""Private temporary folders for downloads, cleaned up even after a run that was killed.

A sync streams bodies into `$TMPDIR/quest-<kind>-*` before publishing them. The folder is removed
when the sync ends; a run killed with SIGKILL cannot do that, so each folder holds a marker file
locked (`flock`) by its run for as long as it lives, and every sync first removes the folders of
its kind whose marker no live process holds. The kernel drops a dead process's locks, so a
folder in use by a concurrent run is never touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from quest.errors import ConfigError

log = logging.getLogger(__name__)

MARKER = ".in-use"
# A folder without its marker is being set up by a live run, unless it is older than this.
_SETUP_GRACE = 60.0


@contextlib.contextmanager
def scratch_folder(kind: str) -> Iterator[Path]:
    """A fresh folder `quest-<kind>-*` in the temporary folder, removed on exit; folders of the
    same kind that a killed run left behind are removed first."""
    base = Path(tempfile.gettempdir())
    removed = remove_abandoned(base, kind)
    if removed:
        log.info("removed %d temporary folder(s) a killed run left in %s", removed, base)
    try:
        path = Path(tempfile.mkdtemp(prefix=f"quest-{kind}-", dir=base))
    except OSError as exc:
        raise ConfigError(
            f"the temporary folder {base} cannot be used ({exc.strerror or exc}); point TMPDIR "
            "at a writable folder with room for every file a run downloads"
        ) from None
    try:
        # The marker is locked under another name, then renamed: a concurrent sync never sees
        # it unlocked (it would take the folder for a dead run's). Until then the folder is one
        # being set up, which `_abandoned` leaves alone for `_SETUP_GRACE` seconds.
        setup = path / (MARKER + ".new")
        marker = os.open(setup, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(marker, fcntl.LOCK_EX)
            os.rename(setup, path / MARKER)
            yield path
        finally:
            os.close(marker)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_abandoned(base: Path, kind: str) -> int:
    """Remove the `quest-<kind>-*` folders under `base` that no live run holds; how many."""
    removed = 0
    for folder in base.glob(f"quest-{kind}-*"):
        try:
            info = folder.lstat()
        except FileNotFoundError:
            continue
        if not folder.is_dir() or folder.is_symlink() or info.st_uid != os.getuid():
            continue
        if _abandoned(folder, info.st_mtime):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _abandoned(folder: Path, mtime: float) -> bool:
    try:
        marker = os.open(folder / MARKER, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return time.time() - mtime > _SETUP_GRACE
    except OSError:
        return False
    try:
        fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(marker)
    return True
