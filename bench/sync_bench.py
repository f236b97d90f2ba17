"""Benchmark 1: the BLS republish against the local mirror of the real snapshot.

Run as a child: `python -m bench.sync_bench DATA_DIR HOME OUT.json`, where DATA_DIR is a
writable copy of the real snapshot (the third scenario changes one value in it). Three syncs into a
fresh local store: cold, nothing changed, one file changed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bench.scenario import change_one_value, mirror_settings, scenario_main
from quest.store import open_store
from quest.store.base import hash_file

SCENARIOS = ("cold", "unchanged", "one_file_changed")
CHANGED_FILE = "pr.data.0.Current"


def _store_matches(store_dir: Path, source_dir: Path) -> bool:
    # the mirror serves no name that starts with a dot (.DS_Store): nor is it synced
    source = {
        p.relative_to(source_dir): p
        for p in source_dir.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(source_dir).parts)
    }
    stored = {p.relative_to(store_dir) for p in store_dir.rglob("*") if p.is_file()}
    if stored != set(source):
        return False
    for rel, path in source.items():
        copy = store_dir / rel
        if not copy.is_file() or hash_file(str(copy)).sha256 != hash_file(str(path)).sha256:
            return False
    return True


def served(log: list[tuple[str, str, int, int]]) -> dict:
    """What the mirror itself sent: file bodies apart from listing pages (its own count)."""
    bodies = [(p, n) for m, p, status, n in log if m == "GET" and status == 200 and n]
    files = [(p, n) for p, n in bodies if not p.endswith("/")]
    return {
        "file_bodies_sent": [p for p, _ in files],
        "file_body_bytes": sum(n for _, n in files),
        "listing_bytes": sum(n for p, n in bodies if p.endswith("/")),
        "mirror_requests": len(log),
    }


def run(data_dir: Path, home: Path) -> dict:
    """The three syncs; each scenario's summary, wall seconds and what was changed."""
    from quest.mirror.server import MirrorServer
    from quest.sources.bls import sync_bls

    results: dict[str, dict] = {}
    with MirrorServer(str(data_dir)) as server:
        settings = mirror_settings(server, home)
        store = open_store(settings.store_uri)
        for scenario in SCENARIOS:
            change = None
            if scenario == "one_file_changed":
                change = change_one_value(data_dir / "bls" / "pr" / CHANGED_FILE)
            seen = len(server.log)
            started = time.perf_counter()
            summary = sync_bls(settings, store=store)
            wall = time.perf_counter() - started
            results[scenario] = {
                "summary": summary.to_dict(),
                "wall_seconds": round(wall, 3),
                "changed": change,
                **served(server.log[seen:]),
            }
        results["store_matches_source"] = _store_matches(
            Path(settings.store_uri) / settings.bls_prefix, data_dir / "bls" / "pr"
        )
    if not results["store_matches_source"]:
        results["error"] = "after the three syncs the store differs from the source"
    return results


def main(argv: list[str] | None = None) -> int:
    return scenario_main(run, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
