"""`.ci/check_secrets.py` in a tree without git (an archive of the repository): it scans every
file `.gitignore` does not list, instead of failing on `git ls-files`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "check_secrets.py"
LEAK = 'password = "correct-horse-battery-staple-42"\n'  # pragma: allowlist secret


def test_a_tree_without_git_is_scanned_but_for_what_gitignore_lists(tmp_path):
    (tmp_path / ".gitignore").write_text(".quest/\n__pycache__/\nbench/results/*.json\n")
    (tmp_path / ".secrets.baseline").write_text(json.dumps({"results": {}}))
    for name in (".quest/store/leak.py", "src/__pycache__/leak.py", "bench/results/leak.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(LEAK)
    (tmp_path / "src" / "settings.py").write_text(LEAK)
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    named = [line for line in done.stderr.splitlines() if "new finding" in line]
    assert named == [
        "secrets: new finding not in .secrets.baseline: Secret Keyword in src/settings.py"
    ]
