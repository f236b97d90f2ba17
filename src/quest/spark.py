"""The one place a SparkSession is built.

Locally: Delta Lake (jars resolved from Maven Central by `spark.jars.packages`, cached by Ivy,
then named directly while Ivy's copies are there: `jars_record`), a persistent Hive catalog on an
embedded Derby metastore under the home, the UI off and few partitions: this data is small and
the machine has two cores. On Databricks: the active session.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from quest.config import Settings, on_databricks, validate_home
from quest.errors import ConfigError, brief

log = logging.getLogger(__name__)

# Delta's log replay defaults to 50 partitions; a laptop answers faster with a handful.
_LOCAL_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "static",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
    # A task writing a partitioned table keeps a writer per partition value open instead of
    # sorting its rows by that value first: a bronze task's rows all come from one file (one
    # partition), and sorting 10M of them cost 3-4 s and 300-400 MiB (docs/performance.md).
    # Past 16 values in one task, Spark sorts the rest as before.
    "spark.sql.maxConcurrentOutputFileWriters": "16",
}


# The local driver's heap. 2 GiB holds a 10M-row load (Spark spills what does not fit); a 4 GiB
# heap was not faster there, and G1 fills whatever heap it is given with garbage before it
# collects, so the process grew to 4.2 GiB where 2 GiB grows to 2.6 GiB.
DEFAULT_DRIVER_MEMORY = "2g"


# Hive's folder for the files an `ADD JAR` / `ADD FILE` fetches, which quest never uses. Its
# default is `<java.io.tmpdir>/<Hive session id>_resources`, made at each session's start and
# never removed (Spark does not close Hive's session): one empty folder left in /tmp per local
# run. One folder under the home instead, the same for every session.
HIVE_RESOURCES = "hive.downloaded.resources.dir"


# What a local driver's JVM takes for its heap (Spark's launcher hands the value to `-Xmx` as it
# is: a whole number and k, m, g or t; `4gb` or a bare number stop the JVM) and what Spark takes
# for a master (`local[N, F]`: spaces around the comma only); checked before the JVM starts,
# which otherwise fails in PySpark's words, naming neither.
_MEMORY = re.compile(r"[1-9][0-9]*[kmgt]", re.IGNORECASE)
_MASTER = re.compile(
    r"local(\[(\*|[1-9][0-9]*)(\s*,\s*[0-9]+)?\])?|local-cluster\[.+\]|yarn|[a-z0-9+]+://.+"
)


def driver_memory() -> str:
    """The local driver's heap: `QUEST_SPARK_DRIVER_MEMORY` (a JVM size such as `4g`), else 2g.

    Raises:
        ConfigError: naming the variable, when Spark would not take its value.
    """
    value = os.environ.get("QUEST_SPARK_DRIVER_MEMORY", "").strip() or DEFAULT_DRIVER_MEMORY
    if not _MEMORY.fullmatch(value):
        raise ConfigError(
            f"QUEST_SPARK_DRIVER_MEMORY={value!r} is not a memory size Spark takes; use a whole "
            "number with k, m, g or t, like 4g"
        )
    return value


def spark_master() -> str:
    """The local session's master: `QUEST_SPARK_MASTER`, else `local[2]`.

    Raises:
        ConfigError: naming the variable, when Spark would not take its value.
    """
    value = os.environ.get("QUEST_SPARK_MASTER", "").strip() or "local[2]"
    if not _MASTER.fullmatch(value):
        raise ConfigError(
            f"QUEST_SPARK_MASTER={value!r} is not a Spark master; use local[N] (N cores), "
            "local[*] (every core) or a cluster's URL"
        )
    return value


def local_session_settings() -> tuple[str, str]:
    """The local session's master and driver heap (`spark_master`, `driver_memory`): a command
    calls it to refuse a value Spark would not take before it says Spark starts.

    Raises:
        ConfigError: naming the variable whose value Spark would not take.
    """
    return spark_master(), driver_memory()


# The local driver's garbage collector: the parallel (throughput) one. A batch run has no pause
# goal for G1 to meet, and on the 2 GiB heap the parallel collector finished a cold `quest run`
# 7% sooner (49.0 s against 52.9 s, five runs each, alternated) and a 10M-row load 12% sooner
# with a lower peak (2,800 against 2,947 MiB); see docs/performance.md.
DRIVER_JAVA_OPTIONS = ("-XX:+UseParallelGC",)


def driver_java_options(*extra: str) -> str:
    """The local driver JVM's options: `DRIVER_JAVA_OPTIONS`, then `extra`."""
    return " ".join((*DRIVER_JAVA_OPTIONS, *extra))


def java_property(name: str, value: str) -> str:
    """`-Dname=value` as one option of `spark.driver.extraJavaOptions`: Spark's launcher splits
    that string on white space outside double quotes, so a home such as
    `/Users/me/My Projects/quest/.quest` would otherwise start a JVM that takes `Projects/...` for
    its main class."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"-D{name}={escaped}"'


# The local catalog is an embedded Derby database, which one JVM at a time may open, and holds
# until that JVM ends. A second process starting Spark on the same home (a `quest report` or a
# notebook while a run loads, two notebooks) failed in Hive's client on Derby's lock ("Unable to
# instantiate ...SessionHiveMetaStoreClient", which `quest report` called a bug). The process
# that starts a local session now holds this lock until it ends, and a second one is told who
# holds it before its JVM starts.
CATALOG_LOCK = "catalog.lock"
_held_catalogs: dict[Path, contextlib.ExitStack] = {}


def hold_catalog(home: Path, timeout: float = 0.0) -> None:
    """Hold the lock on the local catalog under `home` until this process ends (a second call
    for the same home holds nothing more).

    Raises:
        LockError: another process holds it past `timeout` seconds; the message names it.
    """
    from quest.locking import file_lock

    key = home.resolve()
    if key in _held_catalogs:
        return
    held = contextlib.ExitStack()
    held.enter_context(
        file_lock(
            key / CATALOG_LOCK,
            f"local catalog under {home} (Spark's embedded Derby metastore: one process at a time)",
            timeout,
            holder="another process: a run, a `quest report`, a notebook or a Spark session",
        )
    )
    _held_catalogs[key] = held


def local_catalog(home: Path) -> Path:
    """The local catalog's Derby metastore under `home`: a folder once a session has made it
    (`quest run`, `quest demo`), which a command only reading the catalog looks for first."""
    return home / "metastore_db"


def require_local_catalog(home: Path, point: str) -> None:
    """Refuse, before any session starts, a home with no local catalog to read (`quest
    report`, the dashboard picture): a session would make an empty one there, then fail.
    `point`: the setting and option that name the home, as the command spells them."""
    if not local_catalog(home).is_dir():
        raise ConfigError(
            f"no catalog under {home} (no metastore_db there): run `quest run` (or `make "
            f"demo`) first, or point {point} at the right home"
        )


def get_spark(
    settings: Settings,
    app_name: str = "quest",
    engine_log: Path | None = None,
    conf: Mapping[str, str] | None = None,
):
    """The SparkSession for `settings`: the active one on Databricks, a local Delta one here.

    A session that already exists in this process is reused, so one session serves every task.
    A new local session's JVM writes its output (Ivy's resolution report, log4j) to `engine_log`
    (default: `<home>/engine.log`), appended to, never to the terminal. `conf`: Spark settings
    over the local ones, for a new local session only (the test suite's, for its small tables).
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None or on_databricks():
        if conf:
            log.warning(
                "Spark settings not applied (%s): this process's session already exists",
                ", ".join(sorted(conf)),
            )
        return active or SparkSession.builder.getOrCreate()

    from delta import configure_spark_with_delta_pip

    master, memory = local_session_settings()
    home = validate_home(settings)
    hold_catalog(home, settings.lock_timeout)
    metastore = local_catalog(home)
    builder = SparkSession.builder.master(master)
    builder = builder.appName(app_name)
    # Python workers run this interpreter, not whatever `python3` is first on PATH: PySpark
    # refuses a worker whose minor version differs from the driver's. PySpark's driver reads
    # the worker's interpreter from PYSPARK_PYTHON, not from the Spark conf.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in {**_LOCAL_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    builder = builder.config("spark.driver.memory", memory)
    builder = (
        builder.config("spark.sql.warehouse.dir", str(settings.warehouse))
        .config(
            "javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={metastore};create=true",
        )
        .config(
            "spark.driver.extraJavaOptions",
            driver_java_options(java_property("derby.system.home", str(home))),
        )
        .config(f"spark.hadoop.{HIVE_RESOURCES}", str(home / "hive-resources"))
        .enableHiveSupport()
    )
    engine_log = engine_log or home / "engine.log"
    record, jars = _usable_record()
    start = _log_size(engine_log)
    try:
        with _output_to(engine_log):
            if jars:
                spark = builder.config("spark.jars", ",".join(jars)).getOrCreate()
            else:
                spark = configure_spark_with_delta_pip(builder).getOrCreate()
    except Exception as exc:  # PySpark's JAVA_GATEWAY_EXITED, or Py4J's own
        failure = ConfigError(_start_failed(exc, engine_log, start))
        # Ivy that could not reach Maven Central may the next time; a missing Java will not.
        failure.retryable = _resolution_failed(engine_log, start)
        raise failure from exc
    spark.sparkContext.setLogLevel("ERROR")
    _error_records_to(engine_log, settings)
    if record is not None and not jars:
        conf = spark.sparkContext.getConf()
        save_jars_record(record, conf.get("spark.jars.packages", ""), conf.get("spark.jars", ""))
    return spark


# PySpark logs every SQL error it raises, caught or not, as an ERROR record through loggers of
# its own, which write to stderr and never pass a record on (`PySparkException._log_exception`):
# a caught lookup of a table that is not there, or an alert query run before its table exists,
# printed a JSON line with a Java stack trace on the terminal, where quest says what went wrong
# its own way.
PYSPARK_ERROR_LOGGERS = ("SQLQueryContextLogger", "DataFrameQueryContextLogger")


def _error_records_to(path: Path, settings: Settings) -> None:
    """PySpark's error records go to `path`, the engine log the session's JVM writes to, in its
    lines' format and with secrets redacted, instead of to the terminal."""
    from pyspark.logger import PySparkLogger

    from quest.runner.output import LOG_FORMAT, RedactingFilter

    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter(settings))
    for name in PYSPARK_ERROR_LOGGERS:
        logger = PySparkLogger.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
            old.close()  # a stream handler leaves stderr open
        # `PySparkLogger.addHandler` would give the handler PySpark's JSON format.
        logging.Logger.addHandler(logger, handler)
        logger.propagate = False


# Delta's jars as Ivy resolved them for `spark.jars.packages`, recorded so that the next JVM is
# given the files directly (`spark.jars`) instead of having Ivy resolve the same 33 jars from
# its cache again: 1.2 s to 3.4 s of every local session's start (docs/performance.md). A Maven
# artifact never changes under its coordinate, so the record holds while its files are there;
# it is keyed by the installed pyspark and delta-spark, which make the coordinate.
JARS_RECORD_DIR = Path(sys.prefix) / "share" / "quest"


def jars_record(folder: Path | None = None) -> Path:
    """Where the record of Delta's jars for the installed pyspark and delta-spark is kept
    (`JARS_RECORD_DIR` unless `folder` says otherwise)."""
    from importlib.metadata import version

    import pyspark

    folder = JARS_RECORD_DIR if folder is None else folder
    name = f"delta-jars-pyspark-{pyspark.__version__}-delta-{version('delta-spark')}.txt"
    return folder / name


def _jars_set_elsewhere() -> bool:
    """Whether jars or packages may come from outside this module: PYSPARK_SUBMIT_ARGS (its
    `--jars` would replace ours) or a spark-defaults.conf naming `spark.jars*` (Ivy would add
    its packages beside ours, or the defaults' jars would be dropped). Then Ivy resolves, as
    `configure_spark_with_delta_pip` always did."""
    if os.environ.get("PYSPARK_SUBMIT_ARGS", "pyspark-shell").strip() != "pyspark-shell":
        return True
    import pyspark

    # Where Spark reads spark-defaults.conf: SPARK_CONF_DIR, else SPARK_HOME's (PySpark's own
    # folder when SPARK_HOME is not set).
    spark_home = os.environ.get("SPARK_HOME") or str(Path(pyspark.__file__).parent)
    for folder in filter(None, (os.environ.get("SPARK_CONF_DIR"), f"{spark_home}/conf")):
        try:
            text = (Path(folder) / "spark-defaults.conf").read_text(errors="replace")
        except OSError:
            continue
        if any(line.strip().startswith("spark.jars") for line in text.splitlines()):
            return True
    return False


def _usable_record() -> tuple[Path | None, list[str] | None]:
    """The record's path and its jars when they can be named; (None, None) when no record may
    be used or kept. Whatever goes wrong here, Ivy resolves instead: a session never fails to
    start because of the record."""
    try:
        if _jars_set_elsewhere():
            return None, None
        record = jars_record()
        return record, recorded_jars(record)
    except Exception as exc:  # an unreadable record is never a reason not to start
        log.debug("Delta's jars record not used (%s): Ivy resolves them", exc)
        return None, None


def _local_file(uri: str) -> Path | None:
    """The file a `file:` URI names, when it is there and can be seen; else None."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    try:
        parsed = urlparse(uri)
        if parsed.scheme != "file" or not parsed.path:
            return None
        path = Path(url2pathname(parsed.path))
        return path if path.is_file() else None
    except (OSError, ValueError):  # a cache of another user's (permission denied), a bad URI
        return None


def recorded_jars(record: Path) -> list[str] | None:
    """The jars `record` lists (`file:` URIs, as Spark wrote them), or None when it is missing,
    unreadable, empty, or names a file that is not there any more (Ivy's cache cleared): then
    Ivy resolves them again."""
    try:
        lines = record.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    jars = [line.strip() for line in lines[1:] if line.strip()]
    if not jars or not all(_local_file(jar) for jar in jars):
        return None
    return jars


def save_jars_record(record: Path, packages: str, jars: str) -> None:
    """Record the jars Spark resolved for `packages` (its `spark.jars`: `file:` URIs, kept as they
    are, so a path with spaces reads back as Spark wrote it), first line the packages. Nothing is
    recorded when a jar is not a local file that is there; a record that cannot be written (a
    read-only interpreter) is skipped: the next start resolves again."""
    uris = [j.strip() for j in jars.split(",") if j.strip()]
    if not packages or not uris or not all(_local_file(uri) for uri in uris):
        return
    text = "\n".join([packages, *uris]) + "\n"
    partial = record.with_name(f".{record.name}.{os.getpid()}")
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text, encoding="utf-8")
        partial.replace(record)
    except OSError:
        with contextlib.suppress(OSError):
            partial.unlink()


def _log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# What the JVM prints as it fails to start, at most this much of it in the error.
_LAST_WORDS = 3


# What Ivy prints when it could not fetch Delta's jars (a network that may come back).
_IVY_FAILURES = ("unresolved dependenc", "download failed", "server access error")


def _output_since(engine_log: Path, start: int) -> str:
    """What the JVM wrote to `engine_log` from byte `start` ("" when it cannot be read)."""
    try:
        with open(engine_log, "rb") as log:
            log.seek(start)
            return log.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _resolution_failed(engine_log: Path, start: int) -> bool:
    """Whether the JVM's output since `start` says Ivy could not resolve Delta's jars."""
    said = _output_since(engine_log, start).lower()
    return any(words in said for words in _IVY_FAILURES)


def _start_failed(exc: Exception, engine_log: Path, start: int) -> str:
    """Why the local Spark did not start, for people: PySpark's own error says only that the
    Java gateway exited; what the JVM said (no Java, a Java Spark refuses, Ivy unable to reach
    Maven Central) went to `engine_log`, from byte `start`."""
    lines = _output_since(engine_log, start).splitlines()
    words = [line.strip() for line in lines if line.strip()][-_LAST_WORDS:]
    said = f"; the JVM said: {' | '.join(w[:300] for w in words)}" if words else ""
    return (
        f"the local Spark did not start ({brief(exc, limit=300)}){said}. Local Spark needs "
        "Java 17 or 21 (`java -version`, or JAVA_HOME) and, the first time, Maven Central for "
        f"Delta's jars; its whole output is in {engine_log}"
    )


@contextlib.contextmanager
def _output_to(path: Path):
    """File descriptors 1 and 2 point at `path` meanwhile: the JVM started here inherits them,
    so whatever it prints, now or later, goes to the file and not to the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def ensure_schemas(spark, settings: Settings) -> None:
    """Create the bronze, silver and gold schemas if they do not exist."""
    for schema in ("bronze", "silver", "gold"):
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS {settings.schema(schema)}")
