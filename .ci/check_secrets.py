"""Fail on a secret-looking string that the reviewed `.secrets.baseline` does not list.

`detect-secrets-hook` also fails when only line numbers moved (it wants the baseline re-staged),
which is noise in CI. This check compares what a fresh scan finds with the baseline by file,
secret hash and type, so moving code does not fail and a new finding does.
Refresh the baseline after review with:
    .venv/bin/python .ci/check_secrets.py --update
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from pathlib import Path

BASELINE = Path(".secrets.baseline")


def findings(report: dict) -> set[tuple[str, str, str]]:
    return {
        (name, item["hashed_secret"], item["type"])
        for name, items in report["results"].items()
        for item in items
    }


def _ignored(path: Path, patterns: list[str]) -> bool:
    """Whether `.gitignore`'s simple patterns (names, globs, `dir/`, `a/b/*.json`) cover `path`."""
    for pattern in patterns:
        folder_only = pattern.endswith("/")
        pattern = pattern.strip("/")
        if "/" in pattern:
            hit = fnmatch.fnmatch(path.as_posix(), pattern)
        else:
            parts = path.parts[:-1] if folder_only else path.parts
            hit = any(fnmatch.fnmatch(part, pattern) for part in parts)
        if hit:
            return True
    return False


def tracked_files() -> list[str]:
    """The files git tracks; in a tree without git (an archive of the repository), every file
    but `.git` and what `.gitignore` lists."""
    try:
        listed = subprocess.run(["git", "ls-files"], check=True, capture_output=True, text=True)
        return listed.stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pass
    patterns = [".git/"]
    if Path(".gitignore").is_file():
        lines = Path(".gitignore").read_text().splitlines()
        patterns += [line for line in lines if line and not line.startswith(("#", "!"))]
    return sorted(
        path.as_posix()
        for path in Path(".").rglob("*")
        if path.is_file() and not path.is_symlink() and not _ignored(path, patterns)
    )


def main() -> int:
    files = [f for f in tracked_files() if f != str(BASELINE)]
    scan = subprocess.run(
        [str(Path(sys.executable).with_name("detect-secrets")), "scan", *files],
        check=True,
        capture_output=True,
        text=True,
    )
    if "--update" in sys.argv[1:]:
        BASELINE.write_text(scan.stdout)
        print(f"secrets: {BASELINE} rewritten from {len(files)} tracked files; review its diff")
        return 0
    new = sorted(findings(json.loads(scan.stdout)) - findings(json.loads(BASELINE.read_text())))
    for name, _hash, kind in new:
        print(f"secrets: new finding not in {BASELINE}: {kind} in {name}", file=sys.stderr)
    if new:
        print("Remove the secret, or review and refresh the baseline (see .ci/check_secrets.py).")
        return 1
    print(f"secrets: {len(files)} tracked files scanned, no new finding")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
