"""The inputs the benchmarks change: a writable copy of the real snapshot, one changed value."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from quest.config import Settings

DAY = 86400
CONTACT = "quest-bench@example.org"


def copy_snapshot(source: Path, target: Path) -> Path:
    """Copy the snapshot folder to `target`, writable, keeping each file's modification time.

    `shutil.copytree` would copy the snapshot's read-only modes too, and a benchmark changes
    one of its files in place.
    """
    for dirpath, _, filenames in os.walk(source):
        folder = target / Path(dirpath).relative_to(source)
        folder.mkdir(parents=True, exist_ok=True)
        for name in filenames:
            src = Path(dirpath) / name
            dst = folder / name
            shutil.copyfile(src, dst)
            stat = src.stat()
            os.utime(dst, (stat.st_atime, stat.st_mtime))
    return target


def change_one_value(path: Path, line_number: int = 1) -> dict:
    """Change the last digit of the `value` on one data line, keeping the file's size.

    Like a BLS revision, the file also gets a new modification time (a day later), so a mirror
    lists it with a new date and answers with a new `Last-Modified`.

    Args:
        path: a BLS-format data file (tab-separated, `value` the fourth field).
        line_number: which line to change, 0 being the header.

    Returns:
        The file, the line, the old and new value, and the file's size in bytes.
    """
    data = path.read_bytes()
    lines = data.split(b"\n")
    fields = lines[line_number].split(b"\t")
    old = fields[3]
    digit = old.rstrip()[-1:]
    if not digit.isdigit():
        raise ValueError(f"{path} line {line_number}: value {old!r} does not end in a digit")
    new_digit = b"1" if digit != b"1" else b"2"
    stripped = old.rstrip()
    fields[3] = stripped[:-1] + new_digit + old[len(stripped) :]
    lines[line_number] = b"\t".join(fields)
    path.write_bytes(b"\n".join(lines))
    mtime = max(path.stat().st_mtime, time.time()) + DAY
    os.utime(path, (mtime, mtime))
    return {
        "file": path.name,
        "line": line_number,
        "old": old.decode().strip(),
        "new": fields[3].decode().strip(),
        "bytes": len(data),
    }


def mirror_settings(server, home: Path) -> Settings:
    """Settings of a benchmark run against `server` (a `MirrorServer`): store under `home`."""
    return Settings(
        home=home,
        store=str(home / "store"),
        bls_url=server.bls_url,
        datausa_url=server.datausa_url,
        contact=CONTACT,
    )


def count_delta_commits(root: Path) -> dict[str, int]:
    """Commits (`_delta_log/<version>.json`) of every Delta table under `root`, by table folder."""
    counts: dict[str, int] = {}
    for log_dir in root.rglob("_delta_log"):
        commits = [p for p in log_dir.glob("*.json") if p.stem.isdigit()]
        counts[str(log_dir.parent.relative_to(root))] = len(commits)
    return counts


# The ops schema's tables (run history, answer and quarantine snapshots) live in this folder of
# the warehouse: a run writes its history row even on a day the medallion is skipped.
OPS_FOLDER = "ops.db"


def is_ops_table(folder: str) -> bool:
    """Whether a table folder of `count_delta_commits` is an ops table."""
    return OPS_FOLDER in Path(folder).parts


def commits_between(
    before: dict[str, int], after: dict[str, int], *, ops: bool | None = None
) -> int:
    """Delta commits written between two `count_delta_commits` snapshots: of every table, or
    only of the ops tables (`ops=True`), or only of the others, the medallion's (`ops=False`)."""
    return sum(
        after.get(t, 0) - before.get(t, 0) for t in after if ops is None or is_ops_table(t) == ops
    )


def scenario_main(
    run: Callable[[Path, Path], dict], description: str, argv: list[str] | None = None
) -> int:
    """The command line of a scenario child: `data_dir home out`; runs it, writes its JSON."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("home", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    result = run(args.data_dir.resolve(), args.home.resolve())
    args.out.write_text(json.dumps(result, indent=1, default=str))
    return 0
