"""The `quest` command: sync, mirror, sample, run, runs, report, demo, spark-setup.

Options that set a setting fall back to their `QUEST_*` variable (see `quest.config`), so the same
command works on a laptop, in CI and in a scheduled job.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

from quest.config import VAR_OF, load_settings, unknown_variables
from quest.errors import (
    INTERRUPTED,
    RUN_FAILED,
    ConfigError,
    IncompleteSyncError,
    QuestError,
    brief,
)
from quest.redaction import UserinfoFilter, hide_userinfo
from quest.text_table import some

log = logging.getLogger("quest")


def _common(parser: argparse.ArgumentParser, *names: str) -> None:
    helps = {
        "store": "store URI: a folder or s3://bucket/prefix (QUEST_STORE; default <home>/store)",
        "home": "local home for the catalog, warehouse and run records (QUEST_HOME; default "
        ".quest in the current folder)",
        "contact": "contact e-mail sent in the User-Agent (QUEST_CONTACT; BLS requires one)",
        "bls_url": "BLS directory URL (QUEST_BLS_URL)",
        "datausa_url": "DataUSA population URL (QUEST_DATAUSA_URL)",
    }
    flags = {"bls_url": "--bls-url", "datausa_url": "--datausa-url"}
    for name in names:
        parser.add_argument(flags.get(name, f"--{name}"), dest=name, help=helps[name])


class _Verbosity(argparse.Action):
    """`-v` or `-q`: sets its own flag and clears the other, so that of `quest -q run -v` the
    one after the command wins, as with any other option given twice."""

    def __init__(self, *args, other: str, **kwargs):
        super().__init__(*args, nargs=0, **kwargs)
        self.other = other

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, True)
        setattr(namespace, self.other, False)


def _verbosity(parser: argparse.ArgumentParser, default=None) -> None:
    """`-v`/`-q`, accepted before the command and after it (`quest run -q`)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v",
        "--verbose",
        action=_Verbosity,
        other="quiet",
        default=default,
        help="debug logging",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action=_Verbosity,
        other="verbose",
        default=default,
        help="no progress lines: warnings, errors and the closing line only",
    )


class _Parser(argparse.ArgumentParser):
    """An argument parser whose epilog may be a function, called when the help is printed:
    `quest run`'s list of tasks loads the workflow, and with it BrickFlow, a second that
    `quest runs`, `report` or `sync` would otherwise pay just to build their command line."""

    def format_help(self) -> str:
        if callable(self.epilog):
            self.epilog = self.epilog()
        return super().format_help()


def _task_names() -> str:
    """The workflow's task names, for `quest run --help` (or why they cannot be listed)."""
    try:
        from quest.runner.local import load_pipeline

        names = [n for n in load_pipeline().graph.nodes if n != "root"]
    except Exception as exc:  # help must print even when the workflow cannot be loaded
        why = " ".join(hide_userinfo(str(exc)).split())[:300]
        return f"tasks: (the workflow could not be loaded: {why})"
    return "tasks: " + ", ".join(names)


def _subcommands(parser: argparse.ArgumentParser, dest: str):
    """Subparsers whose every parser takes `-v`/`-q` too; given there, they win over the ones
    before the command, and absent there they leave those alone."""
    sub = parser.add_subparsers(dest=dest, required=True, parser_class=_Parser)
    plain = sub.add_parser

    def add_parser(*args, **kwargs):
        child = plain(*args, **kwargs)
        _verbosity(child, default=argparse.SUPPRESS)
        # The innermost command parsed names itself: an argument it does not know is its error,
        # said with its usage (not the top level's).
        child.set_defaults(command_parser=child)
        return child

    sub.add_parser = add_parser
    return sub


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="quest", description=(__doc__ or "quest").splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _verbosity(parser)
    sub = _subcommands(parser, dest="command")

    sync = sub.add_parser("sync", help="republish a source to the store")
    sync_sub = _subcommands(sync, dest="source")
    bls = sync_sub.add_parser("bls", help="mirror the BLS pr directory into the store")
    bls.add_argument("--source-url", dest="bls_url", help="BLS directory URL (QUEST_BLS_URL)")
    _common(bls, "store", "contact", "home")
    bls.set_defaults(handler=_sync_bls)
    datausa = sync_sub.add_parser("datausa", help="fetch US population into the store")
    datausa.add_argument("--source-url", dest="datausa_url", help="DataUSA URL (QUEST_DATAUSA_URL)")
    _common(datausa, "store", "contact", "home")
    datausa.set_defaults(handler=_sync_datausa)

    mirror = sub.add_parser(
        "mirror",
        help="serve BLS and DataUSA look-alikes on 127.0.0.1",
        description="Serve a folder laid out as bls/pr/** and datausa/... the way BLS and "
        "DataUSA serve theirs, on 127.0.0.1, until Ctrl-C. It prints two `export` lines "
        "(QUEST_BLS_URL, QUEST_DATAUSA_URL): paste them in another shell, then `quest sync` "
        "or `quest run` reads from the mirror.",
    )
    mirror.add_argument("--data", help="folder to serve (default: a generated sample)")
    mirror.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    mirror.set_defaults(handler=_mirror)

    sample = sub.add_parser("sample", help="write the deterministic offline sample to a folder")
    sample.add_argument("out", help="folder to write")
    sample.set_defaults(handler=_sample)

    run = sub.add_parser("run", help="run the quest_pipeline workflow locally", epilog=_task_names)
    _common(run, "bls_url", "datausa_url", "store", "home", "contact")
    run.add_argument("--only", nargs="+", metavar="TASK", help="run only these tasks")
    run.add_argument(
        "--full-refresh",
        action="store_true",
        default=None,
        help="replay: bronze and silver reload every file, changed or not (QUEST_FULL_REFRESH)",
    )
    run.set_defaults(handler=_run)

    demo = sub.add_parser(
        "demo",
        help="offline demo: mirror + sample, then run, then report",
        description="Write the deterministic sample to <home>/demo-source, serve it on 127.0.0.1 "
        "as BLS and DataUSA would, run the whole workflow into the store (<home>/store, or the "
        "local folder QUEST_STORE names) and the home's catalog, and print the report. The "
        "home is --home, else QUEST_HOME (default .quest in the current folder); refused for "
        "QUEST_ENV dev or prod and for a store that is not a local folder.",
    )
    _common(demo, "home")
    demo.set_defaults(handler=_demo)

    report = sub.add_parser("report", help="print the three gold answers")
    _common(report, "home")
    report.add_argument("--json", action="store_true", help="machine-readable output")
    report.add_argument(
        "--all",
        action="store_true",
        dest="show_all",
        help="every best-year row, not only the first ones",
    )
    report.set_defaults(handler=_report)

    runs = sub.add_parser("runs", help="list the past runs recorded under the home")
    _common(runs, "home")
    runs.set_defaults(handler=_runs)

    setup = sub.add_parser(
        "spark-setup", help="resolve Delta's jars once (Ivy cache) and record them"
    )
    _common(setup, "home")
    setup.set_defaults(handler=_spark_setup)
    return parser


# The options that set a setting, as a user types them.
_OPTIONS = {
    "store": "--store",
    "contact": "--contact",
    "bls_url": "--bls-url (or sync bls --source-url)",
    "datausa_url": "--datausa-url (or sync datausa --source-url)",
}


def _settings(args: argparse.Namespace):
    names = ("store", "home", "contact", "bls_url", "datausa_url", "full_refresh")
    given = {n: getattr(args, n, None) for n in names}
    # A blank option (`--store "$UNSET"`) is refused: falling back on the variable or the
    # default could point a sync at a shared store or the live source, where writing
    # <home>/store (as it did) was as little meant. A blank --home is no option, as documented.
    for name, value in given.items():
        if name != "home" and isinstance(value, str) and not value.strip():
            raise ConfigError(
                f"{_OPTIONS[name]} is blank: give it a value, or leave it out for "
                f"{VAR_OF[name]} (or its default)"
            )
    given = {n: v.strip() if isinstance(v, str) else v for n, v in given.items()}
    settings = load_settings().with_overrides(**given)
    _no_file_in_the_way(settings.home, "QUEST_HOME (or --home)")
    return settings


def _no_file_in_the_way(path, what: str) -> None:
    """A ConfigError when `path`, or a folder above it, exists as something else than a folder."""
    path = Path(path).expanduser().absolute()
    for part in (path, *path.parents):
        if part.exists() or part.is_symlink():
            if not part.is_dir():
                where = "is" if part == path else f"lies under {part}, which is"
                raise ConfigError(f"{what}: {path} {where} a file, not a folder")
            return


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("quest")
    except metadata.PackageNotFoundError:
        return "unknown"


def _unknown_arguments(parser, args, argv: list[str], unknown: list[str]) -> None:
    """Refuse arguments no parser took, with the usage of the parser they were given to: the
    command's when they come after its name (`quest run --bogus`), the top level's when they
    come before it (`quest --json report`, where `report` would list `--json` as its own)."""
    where = argv.index(args.command) if args.command in argv else len(argv)
    after = all(i > where for i, a in enumerate(argv) if a in unknown)
    owner = getattr(args, "command_parser", parser) if after else parser
    owner.error(f"unrecognized arguments: {' '.join(unknown)}")


# A reader gone: a pipe whose reader quit (EPIPE), a terminal hung up (EIO).
_READER_GONE = (errno.EPIPE, errno.EIO)


class ReaderGone(io.TextIOBase):
    """Standard output or error whose reader went away (`quest run | head`, a pager quit early,
    a terminal closed): the command goes on to its end, a run recording itself, and what it
    prints is discarded, instead of a load stopped part-way and unrecorded by a broken pipe at
    its next line."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.gone = False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                self.stream.write(text)
            except OSError as exc:
                self._gone_if_reader(exc)
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except OSError as exc:
                self._gone_if_reader(exc)

    def _gone_if_reader(self, exc: OSError) -> None:
        if exc.errno not in _READER_GONE:
            raise exc
        self._discard()

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def _discard(self) -> None:
        """From now on the descriptor writes to /dev/null: Python flushes the stream once more
        at exit, and a line written to the descriptor itself (`os.write`) must not fail."""
        self.gone = True
        try:
            fd = self.stream.fileno()
        except (OSError, ValueError):  # no descriptor (a test's capture): nothing to point
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)
        # What the failed write left in the stream's buffer goes there now, not at exit to a
        # descriptor Spark's start may have pointed back at the pipe meanwhile.
        with contextlib.suppress(OSError, ValueError):
            self.stream.flush()


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status (README, "Commands")."""
    streams = sys.stdout, sys.stderr
    # A stream closed at start is None (`quest ... >&-`): printing to it does nothing, as before.
    sys.stdout, sys.stderr = (None if s is None else ReaderGone(s) for s in streams)
    try:
        return _main(argv)
    finally:
        for wrapped in (sys.stdout, sys.stderr):
            if wrapped is not None:
                wrapped.flush()
        sys.stdout, sys.stderr = streams


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        _unknown_arguments(parser, args, list(sys.argv[1:] if argv is None else argv), unknown)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    from quest.runner.output import LOG_FORMAT, NoPy4jTracebacks, QuestOnly

    logging.basicConfig(level=level, format=LOG_FORMAT)
    logging.getLogger().setLevel(level)
    for noisy in ("py4j", "botocore", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    for handler in logging.getLogger().handlers:
        # On the terminal's handler, not only the root logger: a run lowers the root to INFO
        # for its engine and task logs, and `-q` must keep the terminal quiet meanwhile.
        handler.setLevel(level)
        handler.addFilter(UserinfoFilter())
        if not args.verbose:
            handler.addFilter(QuestOnly())
            handler.addFilter(NoPy4jTracebacks())
    for line in unknown_variables():  # a typo'd variable left its default standing unsaid
        log.warning(line)
    try:
        return args.handler(args)
    except QuestError as exc:
        _error(str(exc))
        return exc.exit_status
    except KeyboardInterrupt:
        _error("interrupted (Ctrl-C)")
        return INTERRUPTED
    except Exception as exc:
        # A command fails with one line whatever happened; the traceback only when asked for.
        if args.verbose:
            log.exception("unexpected error")
        _error(
            f"unexpected {brief(exc)}. This is a bug in quest: rerun with -v "
            "for the traceback and report it"
        )
        return 1


def _error(message: str) -> None:
    """The one `quest: error:` line: on one line, and with no URL userinfo."""
    print(f"quest: error: {' '.join(hide_userinfo(message).split())}", file=sys.stderr)


def _print_sync(sync, args: argparse.Namespace) -> int:
    try:
        summary = sync(_settings(args))
    except IncompleteSyncError as exc:
        print(json.dumps(exc.summary.to_dict(), indent=2))  # what did sync, and what not
        raise
    print(json.dumps(summary.to_dict(), indent=2))
    return 0


def _sync_bls(args: argparse.Namespace) -> int:
    from quest.sources.bls import sync_bls

    return _print_sync(sync_bls, args)


def _sync_datausa(args: argparse.Namespace) -> int:
    from quest.sources.datausa import sync_datausa

    return _print_sync(sync_datausa, args)


def _mirror(args: argparse.Namespace) -> int:
    from quest.mirror.server import serve_forever

    if args.data is not None and not args.data.strip():
        # Path("") is the current folder: `--data "$UNSET"` would serve whatever is there.
        raise ConfigError("--data is blank: give the folder to serve, or leave it out for a sample")
    if args.data is not None and not Path(args.data).is_dir():
        what = "is a file, not a folder" if Path(args.data).exists() else "no such folder"
        raise ConfigError(f"--data {args.data}: {what}; give the folder to serve")
    if args.data is not None and not any(
        (Path(args.data) / part).is_dir() for part in ("bls/pr", "datausa")
    ):
        raise ConfigError(
            f"--data {args.data}: holds neither bls/pr/ nor datausa/, so every request would "
            "answer 404; give a folder laid out as `quest sample` writes one"
        )

    serve_forever(data_dir=args.data, port=args.port)
    return 0


def _sample(args: argparse.Namespace) -> int:
    from quest.mirror.sample import files_not_of_the_sample, generate_sample

    if not args.out.strip():
        # Path("") is the current folder: `quest sample "$UNSET"` would write into it.
        raise ConfigError("the sample's folder is blank: give the folder to write")
    _no_file_in_the_way(args.out, "the sample's folder")
    others = files_not_of_the_sample(args.out)
    if others:
        # The sample would replace files of the same names (a real snapshot's pr.data.0.Current)
        # and leave the others beside them: a folder that is neither source.
        raise ConfigError(
            f"the sample's folder {args.out} holds files the sample does not write "
            f"({some(others, 3)}); the sample would be mixed with them and replace those of its "
            "own names: choose a new or empty folder"
        )
    try:
        generate_sample(args.out)
    except OSError as exc:  # no permission, a read-only file system, no space
        where = exc.filename if isinstance(exc.filename, str) else args.out
        raise ConfigError(
            f"the sample's folder {args.out}: {where} cannot be written ({exc.strerror or exc}); "
            "choose a folder you can write"
        ) from None
    print(f"sample written to {args.out}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from quest.runner.local import run_cli

    return _said_if_stopped_or_failed(
        run_cli(_settings(args), only=args.only, quiet=bool(args.quiet))
    )


def _said_if_stopped_or_failed(status: int) -> int:
    """A run stopped with Ctrl-C or SIGTERM, or with a failed task, ended and recorded itself:
    one error line says so too, as for every command that fails."""
    if status == INTERRUPTED:
        _error("interrupted: no task started after it; the run is recorded as such")
    elif status == RUN_FAILED:
        _error(
            "a task failed: the lines marked x above and the run record say which and why, "
            "and its log what it did"
        )
    return status


def _demo(args: argparse.Namespace) -> int:
    from quest.runner.demo import run_demo

    return _said_if_stopped_or_failed(run_demo(_settings(args), quiet=bool(args.quiet)))


def _report(args: argparse.Namespace) -> int:
    from quest.medallion.report import print_report

    return print_report(_settings(args), as_json=args.json, show_all=args.show_all)


def _spark_setup(args: argparse.Namespace) -> int:
    from quest.spark import get_spark

    spark = get_spark(_settings(args), app_name="quest-setup")
    # One Delta write and read, so that "ready" means Delta's jars are there and load.
    with tempfile.TemporaryDirectory(prefix="quest-setup-") as folder:
        spark.range(1).write.format("delta").save(folder + "/check")
        spark.read.format("delta").load(folder + "/check").count()
    spark.stop()
    print("Spark and Delta are ready")
    return 0


def _runs(args: argparse.Namespace) -> int:
    from quest.runner.record import history

    home = _settings(args).home
    if not home.is_dir():  # a mistyped home, most likely: a script's `quest runs` fails
        raise ConfigError(f"no home at {home.absolute()} (QUEST_HOME or --home): no runs there")
    print(history(home / "runs"))
    return 0
