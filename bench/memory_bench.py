"""Benchmark 4: republishing a 1 GiB file keeps the sync process's memory flat.

Three processes, so that only the sync is measured: the mirror serving the big file
(`python -m bench.memory_bench serve-mirror DATA_DIR`), moto's S3 server
(`python -m bench.memory_bench serve-s3`), and the sync itself
(`python -m bench.memory_bench sync BLS_URL STORE_URI OUT.json [--endpoint URL]`), which the
benchmark runs as a measured child (`bench.child.run_child`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

from bench.child import GIB, MIB, high_water_mark, python_module, run_child

CONTACT = "quest-bench@example.org"
BUCKET = "quest-bench"
BIG_FILE = "pr.big.bin"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def write_big_file(path: Path, size: int = GIB, seed: int = 0) -> Path:
    """A deterministic file of `size` bytes, written 1 MiB at a time (kept when already there)."""
    if path.exists() and path.stat().st_size == size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    block = random.Random(seed).randbytes(MIB)
    with open(path, "wb") as out:
        written = 0
        while written < size:
            piece = block[: min(MIB, size - written)]
            out.write(piece)
            written += len(piece)
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_mirror(data_dir: str) -> None:
    from quest.mirror.server import MirrorServer

    with MirrorServer(data_dir) as server:
        print(json.dumps({"bls_url": server.bls_url}), flush=True)
        sys.stdin.read()


def serve_s3(port: int) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print(json.dumps({"endpoint_url": f"http://127.0.0.1:{port}"}), flush=True)
    sys.stdin.read()
    server.stop()


def sync(bls_url: str, store_uri: str, out: Path, endpoint: str, home: Path) -> None:
    from quest.config import Settings
    from quest.sources.bls import sync_bls

    settings = Settings(
        home=home, store=store_uri, bls_url=bls_url, s3_endpoint_url=endpoint, contact=CONTACT
    )
    summary = sync_bls(settings)
    # The process's own high-water mark, exact where sampling is not.
    peak = high_water_mark(os.getpid())
    out.write_text(json.dumps({"summary": summary.to_dict(), "self_peak_rss": peak}, default=str))


class _Server:
    """A helper server in a process of its own; its first output line is its address as JSON."""

    def __init__(self, argv: list[str], log: Path, env: dict | None = None) -> None:
        self._log = open(log, "ab")  # noqa: SIM115 - open while the server runs
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env={**os.environ, **(env or {})},
            cwd=str(Path(__file__).resolve().parents[1]),
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(
                f"{' '.join(argv)} exited before it served (exit {self.proc.wait()})"
            )
        self.address = json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def _create_bucket(endpoint: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_keys())
    client.create_bucket(Bucket=BUCKET)


def _keys() -> dict:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
    }


def run(workdir: Path, size: int = GIB, goal: int = 150 * MIB, log=print) -> dict:
    """Sync one generated file of `size` bytes to a local folder and to S3; each one measured."""
    data_dir = workdir / "memory-data"
    write_big_file(data_dir / "bls" / "pr" / BIG_FILE, size)
    results: dict[str, dict] = {"file_bytes": size, "goal_bytes": goal}
    mirror = _Server(
        python_module("bench.memory_bench", "serve-mirror", str(data_dir)),
        workdir / "memory-mirror.log",
    )
    s3 = None
    try:
        bls_url = mirror.address["bls_url"]
        targets = {"local": (str(workdir / "memory-store"), "")}
        try:
            s3 = _Server(
                python_module("bench.memory_bench", "serve-s3", str(_free_port())),
                workdir / "memory-moto.log",
                env=S3_ENV,
            )
            endpoint = s3.address["endpoint_url"]
            _create_bucket(endpoint)
            targets["s3"] = (f"s3://{BUCKET}/republish", endpoint)
        except Exception as exc:  # noqa: BLE001 - the local figure still counts
            results["s3"] = {"status": f"moto server failed: {exc}"}
        for target, (store_uri, endpoint) in targets.items():
            log(f"memory: syncing {size / GIB:.2f} GiB to {target} ...")
            out = workdir / f"memory-{target}.json"
            home = workdir / f"memory-home-{target}"
            child = run_child(
                python_module(
                    "bench.memory_bench",
                    "sync",
                    bls_url,
                    store_uri,
                    str(out),
                    "--endpoint",
                    endpoint,
                    "--home",
                    str(home),
                ),
                env=S3_ENV,
                timeout=1800,
            )
            entry = {"status": child.status, "seconds": round(child.seconds, 3)}
            entry["peak_rss"] = child.peak_rss
            if child.ok and out.exists():
                reported = json.loads(out.read_text())
                entry["summary"] = reported["summary"]
                entry["self_peak_rss"] = reported["self_peak_rss"]
            else:
                entry["stderr"] = child.stderr[-3000:]
            results[target] = entry
    finally:
        if s3 is not None:
            s3.close()
        mirror.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    mirror = sub.add_parser("serve-mirror")
    mirror.add_argument("data_dir")
    s3 = sub.add_parser("serve-s3")
    s3.add_argument("port", type=int)
    syncing = sub.add_parser("sync")
    syncing.add_argument("bls_url")
    syncing.add_argument("store")
    syncing.add_argument("out", type=Path)
    syncing.add_argument("--endpoint", default="")
    syncing.add_argument("--home", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "serve-mirror":
        serve_mirror(args.data_dir)
    elif args.command == "serve-s3":
        serve_s3(args.port)
    else:
        sync(args.bls_url, args.store, args.out, args.endpoint, args.home.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
