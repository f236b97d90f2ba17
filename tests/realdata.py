"""The real BLS and DataUSA snapshot shipped in `tests/data/`, unpacked and checked.

Each file is stored xz-compressed beside `SOURCES.md`, whose table gives the size and sha256 of
every original. `unpack` writes the originals under a folder (same relative paths, `.xz`
dropped) and fails on any file that is missing, unlisted or not byte-identical. The tests get it
once per session through the `real_data` fixture (tests/conftest.py); `python -m bench` uses it
too, so this module needs nothing beyond the standard library.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
PROVENANCE = "SOURCES.md"
SUFFIX = ".xz"
READ_ONLY = 0o444
# The command line's copy is the user's, to edit for the mirror (docs/sources.md).
EDITABLE = 0o644

# A row of the provenance table: the file, its size, its sha256, its origin, what state of the
# source it shows ("as of"), then the upstream columns.
_ROW = re.compile(
    r"^\| `(?P<name>[^`]+)` \| (?P<size>\d+) \| (?P<sha256>[0-9a-f]{64}) \|"
    r"(?: [^|]* \| (?P<as_of>[^|]*) \|)?"
)
_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
# The BLS release the snapshot shows (SOURCES.md), at 08:30 New York time: each unpacked file is
# dated so, or on the day its "as of" names, as the source dated it. A file dated the moment it
# was unpacked would read as saved just now, which the sync asks for again on its next run
# (`quest.sources.bls.SAME_MINUTE_WINDOW`).
RELEASE = datetime(2026, 8, 6, 12, 30, tzinfo=UTC)


class SnapshotError(Exception):
    """The shipped snapshot is missing, incomplete, or not what its provenance says."""


@dataclass(frozen=True)
class Original:
    """One original file as the provenance table records it."""

    name: str
    size: int
    sha256: str
    as_of: str = ""

    @property
    def dated(self) -> float:
        """The file's modification time once unpacked (POSIX seconds): the day its "as of"
        names at the release's hour, else the snapshot's release."""
        day = _DAY.search(self.as_of)
        if day is None:
            return RELEASE.timestamp()
        return RELEASE.replace(year=int(day[1]), month=int(day[2]), day=int(day[3])).timestamp()


def provenance(data: Path = DATA) -> dict[str, Original]:
    """The originals listed in `data`/SOURCES.md, by relative path.

    Raises:
        SnapshotError: the file is absent, lists no original, or lists one twice.
    """
    table = data / PROVENANCE
    if not table.is_file():
        raise SnapshotError(f"{table} is missing: the real snapshot has no provenance")
    originals: dict[str, Original] = {}
    for number, line in enumerate(table.read_text(encoding="utf-8").splitlines(), start=1):
        row = _ROW.match(line)
        if row is None:
            continue
        name = row["name"]
        if name in originals:
            raise SnapshotError(f"{table}:{number}: {name} is listed twice")
        originals[name] = Original(
            name, int(row["size"]), row["sha256"], (row["as_of"] or "").strip()
        )
    if not originals:
        raise SnapshotError(f"{table} lists no file (rows look like | `path` | bytes | sha256 |)")
    return originals


def packed(data: Path = DATA) -> dict[str, Path]:
    """The compressed files under `data`, by the relative path of their original."""
    return {
        path.relative_to(data).as_posix().removesuffix(SUFFIX): path
        for path in sorted(data.rglob(f"*{SUFFIX}"))
    }


def original_bytes(path: Path, original: Original) -> bytes:
    """The decompressed content of `path`, checked against its provenance row.

    Raises:
        SnapshotError: `path` is not a readable xz file, or its content differs in size or sha256.
    """
    try:
        body = lzma.decompress(path.read_bytes())
    except (OSError, lzma.LZMAError) as exc:
        raise SnapshotError(f"{path}: cannot be decompressed ({exc})") from exc
    digest = hashlib.sha256(body).hexdigest()
    if (len(body), digest) != (original.size, original.sha256):
        raise SnapshotError(
            f"{path}: decompresses to {len(body)} bytes with sha256 {digest}; "
            f"{PROVENANCE} says {original.size} bytes with sha256 {original.sha256}"
        )
    return body


def unpack(target: Path, data: Path = DATA, mode: int = READ_ONLY) -> Path:
    """Write every original of the snapshot under `target` with `mode` (read-only unless told
    otherwise), and return `target`.

    Raises:
        SnapshotError: a listed file has no compressed copy, a compressed copy has no row in the
            provenance, or a copy is not byte-identical to its original.
    """
    originals, copies = provenance(data), packed(data)
    missing = sorted(set(originals) - set(copies))
    unlisted = sorted(set(copies) - set(originals))
    if missing or unlisted:
        problems = [f"{data / (name + SUFFIX)} is missing" for name in missing]
        problems += [f"{copies[name]} has no row in {PROVENANCE}" for name in unlisted]
        raise SnapshotError("the real snapshot is incomplete: " + "; ".join(problems))
    for name, original in originals.items():
        out = target / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.unlink(missing_ok=True)
        out.write_bytes(original_bytes(copies[name], original))
        os.utime(out, (original.dated, original.dated))
        # Read-only for the tests: one unpacked copy serves the whole session, so no test may
        # edit it in place.
        out.chmod(mode)
    return target


def fingerprint(target: Path) -> dict[str, tuple[int, int]]:
    """Every file under `target` by relative path, with its size and modification time (ns): a
    cheap record to tell, after each test, whether one changed (`changed_since`). Read with `os`
    alone: it runs after every test, some of which patch `Path`'s methods."""
    found = {}
    for folder, _, names in os.walk(target):
        for name in names:
            status = os.stat(os.path.join(folder, name))
            relative = os.path.relpath(os.path.join(folder, name), target).replace(os.sep, "/")
            found[relative] = (status.st_size, status.st_mtime_ns)
    return dict(sorted(found.items()))


def changed_since(target: Path, before: dict[str, tuple[int, int]]) -> list[str]:
    """The files under `target` added, removed, or written since `before` was taken."""
    after = fingerprint(target)
    return sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )


def altered(target: Path, data: Path = DATA) -> list[str]:
    """What under `target` differs from the originals `data`'s provenance lists: a file missing,
    unlisted, or of other bytes (size and sha256 compared). Empty when `target` is intact."""
    originals = provenance(data)
    present = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    problems = [f"{name} is missing" for name in sorted(originals.keys() - present)]
    problems += [f"{name} is no original" for name in sorted(present - originals.keys())]
    for name in sorted(originals.keys() & present):
        body = (target / name).read_bytes()
        if (len(body), hashlib.sha256(body).hexdigest()) != (
            originals[name].size,
            originals[name].sha256,
        ):
            problems.append(f"{name} is not the original's bytes")
    return problems


def main(argv: list[str]) -> int:
    """`python -m tests.realdata FOLDER`: unpack the snapshot there (e.g. for `quest mirror`),
    writable, so that a value can be changed to watch it go through."""
    if len(argv) != 1:
        print("usage: python -m tests.realdata FOLDER", file=sys.stderr)
        return 2
    try:
        print(unpack(Path(argv[0]), mode=EDITABLE))
    except (SnapshotError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
