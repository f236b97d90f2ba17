"""Where the real snapshots live (../shared/data beside the repo), and a skip when they do not."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()


def shared_data(*parts: str) -> Path:
    """A file or folder of the real snapshots in ../shared/data, or skip the test."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real snapshot {path} is absent (../shared is not beside the repo)")
    return path
