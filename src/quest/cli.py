"""The `quest` command: sync, mirror, run, report, demo.

Every option falls back to its `QUEST_*` environment variable (see `quest.config`), so the same
command works on a laptop, in CI and in a scheduled job.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from quest.config import load_settings
from quest.errors import QuestError

log = logging.getLogger("quest")


def _common(parser: argparse.ArgumentParser, *names: str) -> None:
    helps = {
        "store": "store URI: a folder or s3://bucket/prefix (QUEST_STORE)",
        "home": "local home for the catalog, warehouse and run records (QUEST_HOME)",
        "contact": "contact e-mail sent to BLS in the User-Agent (QUEST_CONTACT)",
        "bls_url": "BLS directory URL (QUEST_BLS_URL)",
        "datausa_url": "DataUSA population URL (QUEST_DATAUSA_URL)",
    }
    flags = {"bls_url": "--bls-url", "datausa_url": "--datausa-url"}
    for name in names:
        parser.add_argument(flags.get(name, f"--{name}"), dest=name, help=helps[name])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quest", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    sync = sub.add_parser("sync", help="republish a source to the store")
    sync_sub = sync.add_subparsers(dest="source", required=True)
    bls = sync_sub.add_parser("bls", help="mirror the BLS pr directory into the store")
    bls.add_argument("--source-url", dest="bls_url", help="BLS directory URL (QUEST_BLS_URL)")
    _common(bls, "store", "contact", "home")
    datausa = sync_sub.add_parser("datausa", help="fetch US population into the store")
    datausa.add_argument("--source-url", dest="datausa_url", help="DataUSA URL (QUEST_DATAUSA_URL)")
    _common(datausa, "store", "contact", "home")

    mirror = sub.add_parser("mirror", help="serve BLS and DataUSA look-alikes on 127.0.0.1")
    mirror.add_argument("--data", help="folder to serve (default: a generated sample)")
    mirror.add_argument("--port", type=int, default=0, help="port (default: a free one)")

    sample = sub.add_parser("sample", help="write the deterministic offline sample to a folder")
    sample.add_argument("out", help="folder to write")

    run = sub.add_parser("run", help="run the quest_pipeline workflow locally")
    _common(run, "bls_url", "datausa_url", "store", "home", "contact")
    run.add_argument("--only", nargs="+", metavar="TASK", help="run only these tasks")
    run.add_argument(
        "--full-refresh",
        action="store_true",
        default=None,
        help="replay: bronze and silver reload every file, changed or not (QUEST_FULL_REFRESH)",
    )

    sub.add_parser("demo", help="offline demo: mirror + sample, then run, then report")

    report = sub.add_parser("report", help="print the three gold answers")
    _common(report, "home")
    report.add_argument("--json", action="store_true", help="machine-readable output")

    setup = sub.add_parser("spark-setup", help="resolve Delta's jars once (Ivy cache)")
    _common(setup, "home")
    return parser


def _settings(args: argparse.Namespace):
    names = ("store", "home", "contact", "bls_url", "datausa_url", "full_refresh")
    return load_settings().with_overrides(**{n: getattr(args, n, None) for n in names})


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("py4j", "botocore", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return _dispatch(args)
    except QuestError as exc:
        print(f"quest: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "sync":
        settings = _settings(args)
        if args.source == "bls":
            from quest.sources.bls import sync_bls

            summary = sync_bls(settings)
        else:
            from quest.sources.datausa import sync_datausa

            summary = sync_datausa(settings)
        print(json.dumps(summary.to_dict(), indent=2))
        return 0
    if args.command == "mirror":
        from quest.mirror.server import serve_forever

        serve_forever(data_dir=args.data, port=args.port)
        return 0
    if args.command == "sample":
        from quest.mirror.sample import generate_sample

        generate_sample(args.out)
        print(f"sample written to {args.out}")
        return 0
    if args.command == "run":
        from quest.runner.local import run_cli

        return run_cli(_settings(args), only=args.only)
    if args.command == "demo":
        from quest.runner.demo import run_demo

        return run_demo(load_settings())
    if args.command == "report":
        from quest.medallion.report import print_report

        return print_report(_settings(args), as_json=args.json)
    if args.command == "spark-setup":
        from quest.spark import get_spark

        spark = get_spark(_settings(args), app_name="quest-setup")
        spark.range(1).count()
        spark.stop()
        print("Spark and Delta are ready")
        return 0
    raise AssertionError(args.command)
