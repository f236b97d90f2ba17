"""One typed configuration for the whole project.

Every setting has a default per environment (`local`, `dev`, `prod`) and can be overridden by an
environment variable (`QUEST_*`); command-line options override both. Besides this module, only
`quest.spark` reads variables of its own (`QUEST_SPARK_MASTER`, the local Spark master, and
`QUEST_SPARK_DRIVER_MEMORY`, the local driver's heap).
"""

from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from quest.errors import ConfigError
from quest.store.base import folder_of, key_segments

BLS_URL = "https://download.bls.gov/pub/time.series/pr/"
DATAUSA_URL = (
    "https://honolulu-api.datausa.io/tesseract/data.jsonrecords"
    "?cube=acs_yg_total_population_1&drilldowns=Year%2CNation&locale=en&measures=Population"
)
ENVIRONMENTS = ("local", "dev", "prod")
# The time zone of the jobs' schedules and of the alerts' daily check.
SCHEDULE_TIMEZONE = "America/New_York"
# Printable ASCII only: the address goes into the User-Agent header, which http.client sends as
# Latin-1 and refuses with a control character in it.
_EMAIL = re.compile(r"[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+")


@dataclass(frozen=True)
class Settings:
    """Everything a task needs to know about where it runs.

    Attributes mirror the `QUEST_*` environment variables listed in `ENV_VARS`.
    """

    env: str = "local"
    home: Path = field(default_factory=lambda: Path(".quest").resolve())
    store: str = ""
    bls_url: str = BLS_URL
    datausa_url: str = DATAUSA_URL
    contact: str = ""
    bls_prefix: str = "bls/pr/"
    # Names below the BLS URL the sync leaves alone (fnmatch patterns): never fetched, and a
    # stored copy never deleted; the way out of a name the store can never hold.
    bls_exclude: tuple[str, ...] = ()
    datausa_key: str = "datausa/population.json"
    s3_endpoint_url: str = ""
    secret_scope: str = ""
    catalog: str = ""
    schema_prefix: str = ""
    http_timeout: float = 30.0
    http_retries: int = 4
    http_backoff: float = 1.0
    retry_after_cap: float = 60.0
    http_deadline: float = 120.0
    http_low_speed_limit: int = 1024
    http_low_speed_time: float = 30.0
    max_body_bytes: int = 4 << 30
    max_listing_bytes: int = 32 << 20
    max_listing_pages: int = 200
    max_listing_depth: int = 8
    max_delete_fraction: float = 0.5
    current_file: str = "pr.data.0.Current"
    start_year: int = 2013
    end_year: int = 2018
    datausa_allow_dropped_years: bool = False
    include_annual: bool = False
    report_series: str = "PRS30006032"
    report_period: str = "Q01"
    smtp_url: str = field(default="", repr=False)  # may hold a password: never printed
    notify: tuple[str, ...] = ()
    # Workspace notification destinations (their IDs) the SQL alerts also mail: a team list that
    # is no workspace user, Slack, a webhook. Deploy-only.
    alert_destinations: tuple[str, ...] = ()
    retry_wait_scale: float = 1.0
    lock_timeout: float = 0.0
    serverless: bool = False
    bundle_offline: bool = False
    # A replay: bronze and silver reload every file, whatever their manifests say.
    full_refresh: bool = False
    # Deploy-only: the version of the project wheel the jobs install (`make deploy` sets it).
    wheel_version: str = ""
    # Deploy-only: who the jobs run as, and how the job cluster reaches S3 (docs/deploy.md).
    run_as_service_principal: str = ""
    instance_profile_arn: str = ""
    spark_keys_from_secrets: bool = False

    @property
    def store_uri(self) -> str:
        """The store location; locally it defaults to a folder under the home."""
        return self.store or str(self.home / "store")

    @property
    def workspace_catalog(self) -> bool:
        """Whether the tables are in a Unity Catalog catalog, which no local Spark has (the
        local session's own, `spark_catalog`, resolves here)."""
        return self.catalog not in ("", LOCAL_CATALOG)

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse"

    def table(self, schema: str, name: str) -> str:
        """A table name: `catalog.schema.name` on Databricks, `schema.name` locally."""
        return f"{self.schema(schema)}.{name}"

    def schema(self, schema: str) -> str:
        """A schema name, with the optional prefix that keeps test or user runs apart."""
        name = f"{self.schema_prefix}{schema}"
        return f"{self.catalog}.{name}" if self.catalog else name

    def with_overrides(self, **overrides: object) -> Settings:
        """A copy with the given non-None values replaced (used by CLI options)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        # An empty folder option is no option, as an empty QUEST_HOME is no setting: a Path of
        # "" would be the current directory (`--home "$UNSET"`).
        if "home" in given and not str(given["home"]).strip():
            del given["home"]
        if "home" in given:
            given["home"] = _folder(str(given["home"]).strip(), "QUEST_HOME (or --home)")
        return replace(self, **given)


# The local session's own catalog: a three-part name in it resolves here (the tests use it).
LOCAL_CATALOG = "spark_catalog"

# Per-environment defaults; the environment variables below override them.
_DEFAULTS: dict[str, dict[str, object]] = {
    "local": {"notify": ("quest-local@example.org",)},
    "dev": {
        "store": "s3://quest-dev-republish",
        "catalog": "quest_dev",
        "secret_scope": "quest-dev",
        "notify": ("quest-dev@example.org",),
    },
    "prod": {
        "store": "s3://quest-republish",
        "catalog": "quest",
        "secret_scope": "quest",
        "notify": ("quest-oncall@example.org",),
    },
}


def environment_default(env: str, attr: str) -> object:
    """The default of setting `attr` in environment `env` (before any variable)."""
    return _DEFAULTS[env].get(attr, getattr(Settings(), attr))


ENV_VARS: dict[str, str] = {
    "QUEST_ENV": "env",
    "QUEST_HOME": "home",
    "QUEST_STORE": "store",
    "QUEST_BLS_URL": "bls_url",
    "QUEST_DATAUSA_URL": "datausa_url",
    "QUEST_CONTACT": "contact",
    "QUEST_BLS_PREFIX": "bls_prefix",
    "QUEST_BLS_EXCLUDE": "bls_exclude",
    "QUEST_DATAUSA_KEY": "datausa_key",
    "QUEST_S3_ENDPOINT_URL": "s3_endpoint_url",
    "QUEST_SECRET_SCOPE": "secret_scope",
    "QUEST_CATALOG": "catalog",
    "QUEST_SCHEMA_PREFIX": "schema_prefix",
    "QUEST_HTTP_TIMEOUT": "http_timeout",
    "QUEST_HTTP_RETRIES": "http_retries",
    "QUEST_HTTP_BACKOFF": "http_backoff",
    "QUEST_RETRY_AFTER_CAP": "retry_after_cap",
    "QUEST_HTTP_DEADLINE": "http_deadline",
    "QUEST_HTTP_LOW_SPEED_LIMIT": "http_low_speed_limit",
    "QUEST_HTTP_LOW_SPEED_TIME": "http_low_speed_time",
    "QUEST_MAX_BODY_BYTES": "max_body_bytes",
    "QUEST_MAX_LISTING_BYTES": "max_listing_bytes",
    "QUEST_MAX_LISTING_PAGES": "max_listing_pages",
    "QUEST_MAX_LISTING_DEPTH": "max_listing_depth",
    "QUEST_MAX_DELETE_FRACTION": "max_delete_fraction",
    "QUEST_CURRENT_FILE": "current_file",
    "QUEST_START_YEAR": "start_year",
    "QUEST_END_YEAR": "end_year",
    "QUEST_DATAUSA_ALLOW_DROPPED_YEARS": "datausa_allow_dropped_years",
    "QUEST_INCLUDE_ANNUAL": "include_annual",
    "QUEST_REPORT_SERIES": "report_series",
    "QUEST_REPORT_PERIOD": "report_period",
    "QUEST_SMTP_URL": "smtp_url",
    "QUEST_NOTIFY": "notify",
    "QUEST_ALERT_DESTINATIONS": "alert_destinations",
    "QUEST_RETRY_WAIT_SCALE": "retry_wait_scale",
    "QUEST_LOCK_TIMEOUT": "lock_timeout",
    "QUEST_SERVERLESS": "serverless",
    "QUEST_BUNDLE_OFFLINE": "bundle_offline",
    "QUEST_FULL_REFRESH": "full_refresh",
    "QUEST_WHEEL_VERSION": "wheel_version",
    "QUEST_RUN_AS_SERVICE_PRINCIPAL": "run_as_service_principal",
    "QUEST_INSTANCE_PROFILE_ARN": "instance_profile_arn",
    "QUEST_SPARK_KEYS_FROM_SECRETS": "spark_keys_from_secrets",
}
# The variable of each setting, as errors name it.
VAR_OF = {attr: var for var, attr in ENV_VARS.items()}
# Read by `quest.spark` when a local session starts, not settings of their own.
SPARK_VARS = ("QUEST_SPARK_MASTER", "QUEST_SPARK_DRIVER_MEMORY")
_TYPES = {f.name: f.type for f in fields(Settings)}


def unknown_variables(environ: dict[str, str] | None = None) -> list[str]:
    """A line for each `QUEST_*` variable that nothing reads, with the known name it is likely
    a typo of (`QUEST_STROE`): such a variable is ignored, and its default stands unsaid."""
    environ = os.environ if environ is None else environ
    known = [*ENV_VARS, *SPARK_VARS]
    lines = []
    for var in sorted(v for v in environ if v.startswith("QUEST_") and v not in known):
        near = difflib.get_close_matches(var, known, n=1, cutoff=0.8)
        hint = f" (did you mean {near[0]}?)" if near else ""
        lines.append(f"{var} is no quest setting and is ignored{hint}")
    return lines


def _number(kind: type):
    def parse(raw: str, var: str) -> object:
        try:
            value = kind(raw)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise ConfigError(f"{var}={raw!r} is not {what}; set it to one or unset it") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{var}={raw!r} is not a finite number; set it to one or unset it")
        return value

    return parse


# A day: the most any wait or time limit may be. Far beyond (`1e10` meant as "no limit") the
# clocks and sockets below overflow, which quest reported as a bug in itself.
_DAY = 86_400

# The range of each bounded number: (lowest, highest, whether the lowest itself is allowed).
_RANGES: dict[str, tuple[float, float | None, bool]] = {
    "http_timeout": (0, _DAY, False),
    "http_retries": (0, 100, True),
    "http_backoff": (0, _DAY, True),
    "retry_after_cap": (0, _DAY, True),
    "http_deadline": (0, _DAY, True),
    "http_low_speed_limit": (0, None, True),
    "http_low_speed_time": (0, _DAY, True),
    "max_body_bytes": (0, None, False),
    "max_listing_bytes": (0, None, False),
    "max_listing_pages": (0, None, False),
    "max_listing_depth": (0, None, True),
    "max_delete_fraction": (0, 1, True),
    "retry_wait_scale": (0, 100, True),
    "lock_timeout": (0, _DAY, True),
}


def _check_range(attr: str, value: float, raw: str, var: str) -> None:
    low, high, low_allowed = _RANGES[attr]
    if value < low or (value == low and not low_allowed) or (high is not None and value > high):
        above = f"{low} or more" if low_allowed else f"more than {low}"
        if high is None:
            wanted = above
        else:
            wanted = f"from {low} to {high}" if low_allowed else f"{above} and at most {high}"
        raise ConfigError(f"{var}={raw!r} is out of range: it must be {wanted}")


# One reading of a boolean for every place that takes one (variables, job parameters, widgets):
# case and surrounding spaces aside; "none" is how Databricks renders an empty parameter.
_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"", "0", "false", "no", "off", "none"})


def boolean_word(raw: str) -> bool | None:
    """`raw` as a boolean, or None when it is no boolean word."""
    word = raw.strip().lower()
    if word in _TRUE_WORDS:
        return True
    return False if word in _FALSE_WORDS else None


def _boolean(raw: str, var: str) -> bool:
    value = boolean_word(raw)
    if value is None:
        raise ConfigError(f"{var}={raw!r} is not a boolean; use true or false")
    return value


def _folder(raw: str, var: str) -> Path:
    try:
        return Path(raw).expanduser().resolve()
    except RuntimeError:  # Python 3.12: a loop of symbolic links ("Symlink loop from ...")
        raise ConfigError(
            f"{var}={raw!r} runs into a loop of symbolic links: point it at a folder"
        ) from None


# How the text of a setting becomes its value, by the field's declared type.
_PARSERS = {
    "int": _number(int),
    "float": _number(float),
    "bool": _boolean,
    "Path": _folder,
    "tuple[str, ...]": lambda raw, var: tuple(p.strip() for p in raw.split(",") if p.strip()),
}


# Settings that become part of a table's name, written unquoted into SQL (`catalog.schema.t`).
_NAME_PARTS = {
    "catalog": re.compile(r"([A-Za-z_][A-Za-z0-9_]*)?"),
    "schema_prefix": re.compile(r"[A-Za-z0-9_]*"),
}


def _as_name_part(attr: str, raw: str) -> str:
    """`raw` with every character a name part cannot hold made '_' (a suggestion)."""
    fixed = re.sub(r"[^A-Za-z0-9_]", "_", raw)
    return f"_{fixed}" if attr == "catalog" and fixed[:1].isdigit() else fixed


def parse_setting(attr: str, raw: str) -> object:
    """The typed value of setting `attr` from its text (as an environment variable or a
    Databricks parameter gives it).

    Raises:
        ConfigError: a value of the wrong type, naming the variable.
    """
    var = VAR_OF.get(attr, attr)
    if len(raw) > 1 and raw[0] == raw[-1] and raw[0] in "\"'":
        # An env file (`docker --env-file`) or a variable editor keeps the quotes a shell would
        # drop: '"/data/store"' was a folder named so under the current one.
        # (not a URL's value: it may hold a password, which `hide_userinfo` misses past a '/')
        shown = "" if attr in _URLS else f"={raw!r}"
        raise ConfigError(
            f"{var}{shown} is wrapped in quotes, which no setting holds (an env file or a "
            "variable editor kept them): remove them"
        )
    if attr in _NAME_PARTS and not _NAME_PARTS[attr].fullmatch(raw):
        first = " (and start with a letter or '_': Spark reads 2024.bronze as a number)"
        raise ConfigError(
            f"{var}={raw!r} may only hold letters, digits and '_'"
            + (first if attr == "catalog" else "")
            + f": it becomes part of every table's name in SQL; try {_as_name_part(attr, raw)!r}"
        )
    parse = _PARSERS.get(_TYPES[attr])
    value = raw if parse is None else parse(raw, var)
    if attr in _RANGES:
        _check_range(attr, value, raw, var)
    if attr == "smtp_url" and (problem := smtp_url_problem(raw)):
        raise ConfigError(f"{var} {problem}")
    return value


def smtp_url_problem(url: str) -> str | None:
    """What is wrong with `url` as QUEST_SMTP_URL (`smtp://` or `smtps://`, a host, and
    perhaps a user, a password and a port), or None; the URL itself is never quoted: it may
    hold a password."""
    if not url:
        return None
    parts = urlsplit(url)
    if "@" in url.partition("://")[2] and "@" not in parts.netloc:
        # `smtp://user:pa/ss@host`: the host part ends at the '/', and the port was blamed.
        return "has a '/', '?' or '#' in its user or password: percent-encode them (%2F, %3F, %23)"
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        # (no user:pass@ after the scheme: every error line is redacted, which would hide it)
        return (
            "must look like smtp://host:port or smtps://host:port, with USER:PASSWORD@ before "
            "the host when the server wants a login"
        )
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or (port is None and parts.netloc.rpartition("@")[2].endswith(":")):
        return "has a port that is not a whole number from 1 to 65535"
    return None


# Settings (by type, or by name) whose blank value is no setting.
_BLANK_IS_UNSET = frozenset(
    {"int", "float", "Path", "store", "bls_url", "datausa_url", "bls_prefix", "datausa_key"}
    | {"current_file", "report_series", "report_period", "s3_endpoint_url", "smtp_url"}
)


def blank_is_unset(attr: str, raw: str) -> bool:
    """Whether `raw`, given for setting `attr`, is no setting: blank, where a blank value means
    nothing of its own (a number, a folder, a URL, a key)."""
    return not raw.strip() and (_TYPES[attr] in _BLANK_IS_UNSET or attr in _BLANK_IS_UNSET)


# Settings whose surrounding white space is no part of them: folders and URLs (a URL's line
# break was sent as `%0A`, a 404 whose message showed the URL as it should be).
_URLS = frozenset({"bls_url", "datausa_url", "s3_endpoint_url", "smtp_url"})
_STRIPPED = _URLS | {"store"}


def setting_text(attr: str, raw: str) -> str:
    """`raw` as the setting `attr` reads it: a folder's or a URL's surrounding white space
    dropped."""
    return raw.strip() if _TYPES[attr] == "Path" or attr in _STRIPPED else raw


def parse_given(given: dict[str, object]) -> dict[str, object]:
    """The typed values of settings given by name, as a job's task parameters or a notebook's
    widgets give them: a blank one, or Databricks' "None" for an empty one, is no value."""
    return {
        name: parse_setting(name, setting_text(name, str(raw)))
        for name, raw in given.items()
        if raw is not None and str(raw).strip() not in ("", "None")
    }


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build the settings from the environment's defaults and the `QUEST_*` variables.

    Raises:
        ConfigError: an unknown environment or a value of the wrong type, naming the variable.
    """
    environ = os.environ if environ is None else environ
    env = environ.get("QUEST_ENV", "local")
    if env not in ENVIRONMENTS:
        raise ConfigError(
            f"QUEST_ENV={env!r} is not a known environment; use one of {', '.join(ENVIRONMENTS)}"
        )
    values: dict[str, object] = dict(_DEFAULTS[env])
    for var, attr in ENV_VARS.items():
        if var not in environ or var == "QUEST_ENV":
            continue
        # A blank number, folder, URL or key is no setting (a Path of "" would be the current
        # directory, a number of "" an error): its default stands. Where a blank value means
        # something (QUEST_CATALOG: two-part names; QUEST_NOTIFY: nobody), it is kept. And
        # " /data/quest" is no folder named " " under the current one.
        if not blank_is_unset(attr, environ[var]):
            values[attr] = parse_setting(attr, setting_text(attr, environ[var]))
    values["env"] = env
    settings = Settings(**values)
    validate_years(settings)
    return settings


def on_databricks() -> bool:
    """True inside a Databricks cluster or serverless compute."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def validate_source_url(url: str, var: str) -> str:
    """`url` when it is one a source can be fetched from: http or https, with a host.

    Raises:
        ConfigError: naming `var` (the setting and its flag), before any request.
    """
    from quest.redaction import hide_userinfo

    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{var} is {hide_userinfo(url)!r}, not an http:// or https:// URL with a host: "
            "give the source's URL"
        )
    return url


def validate_contact(settings: Settings) -> str:
    """The contact e-mail BLS requires in the User-Agent.

    Raises:
        ConfigError: when it is missing or not an e-mail address.
    """
    contact = settings.contact.strip()
    if not _EMAIL.fullmatch(contact):
        shown = f"{contact!r}, not an e-mail address" if contact else "not set"
        if contact and not contact.isascii():
            shown += " in ASCII (an HTTP header holds no other characters)"
        raise ConfigError(
            f"QUEST_CONTACT (--contact) is {shown}: BLS refuses requests without a contact "
            "e-mail in the User-Agent. Set QUEST_CONTACT=you@example.org (or pass --contact)."
        )
    return contact


# Values that end up inside SQL text (view parameters, replaceWhere predicates on file names and
# store keys) must be plain: BLS keys and file names never contain quotes, so anything else is
# refused rather than escaped. Spaces only inside: a parameter with a stray space or newline at
# an end matched no row, and the views answered nothing without an error (`fullmatch`: `$` also
# matches before a final newline).
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.\-/]+( +[A-Za-z0-9_.\-/]+)*")


def is_plain(value: str) -> bool:
    """Whether `value` may be written into SQL as a quoted literal (`tables.sql_str`)."""
    return bool(_PLAIN_VALUE.fullmatch(value or ""))


def validate_store_layout(settings: Settings) -> None:
    """The BLS folder and the DataUSA key apart in the store: the BLS sync deletes whatever its
    folder holds that the listing does not show, and each sync clears temporary files a killed
    run left in its own folder, under its own lock.

    Raises:
        ConfigError: naming both settings when one lies inside the other, or
            QUEST_DATAUSA_KEY when SQL could not name it.
    """
    prefix, key = settings.bls_prefix, settings.datausa_key
    check_bls_prefix(prefix)
    if not is_plain(key):
        # Bronze and silver name the population's rows by key in SQL: refused there, it would
        # fail every load after the first, past their commits.
        raise ConfigError(
            f"QUEST_DATAUSA_KEY={key!r} may only hold letters, digits, '.', '_', '-', '/' and "
            "spaces between them: the medallion names the population by its key in SQL"
        )
    folder = folder_of(key)
    if key.startswith(prefix) or (folder and prefix.startswith(folder)):
        raise ConfigError(
            f"QUEST_DATAUSA_KEY={key!r} and QUEST_BLS_PREFIX={prefix!r} overlap: the BLS sync "
            "would delete the population answer as a file the listing no longer shows, or the "
            "DataUSA sync clear the BLS sync's temporary files. Put the population in a folder "
            "of its own, like datausa/population.json"
        )


def check_bls_prefix(prefix: str) -> None:
    """Refuse a BLS folder no sync can keep: an empty prefix would make every other object in
    the store look "gone from the source"; an empty, '.' or '..' segment would make every
    file's key one no store takes.

    Raises:
        ConfigError: naming QUEST_BLS_PREFIX.
    """
    try:
        plain = bool(key_segments(prefix.removesuffix("/")))
    except ValueError:
        plain = False
    # (a segment's surrounding spaces: ' bls/pr/' is another folder, synced from nothing)
    spaced = any(part != part.strip() for part in prefix.split("/"))
    if not plain or spaced or not prefix.endswith("/") or prefix.startswith("/"):
        raise ConfigError(
            f"QUEST_BLS_PREFIX={prefix!r} must be a folder inside the store ending with '/', "
            "with no empty, '.' or '..' segment and no space around a segment, like bls/pr/"
        )


def validate_years(
    settings: Settings, names: tuple[str, str] = ("QUEST_START_YEAR", "QUEST_END_YEAR")
) -> None:
    """The population statistics' years: from the first year DataUSA's answers are checked
    for (`population.FIRST_YEAR`) to last year (the ACS publishes a year's 1-year estimates
    the September after it), the start no later than the end, and, when QUEST_DATAUSA_URL asks
    the 1-year estimates (the default), not across 2020, which they lack. Such a year was asked
    of DataUSA, then refused as missing from its answer (for a recent year, "rerun later",
    retried daily); years out of order made the DataUSA sync check no year.

    Raises:
        ConfigError: naming both settings as `names` says (a notebook's: its widgets).
    """
    from datetime import UTC, datetime

    from quest.sources.population import FIRST_YEAR, NO_ACS_YEAR, one_year_estimates

    today = datetime.now(UTC).date()
    start, end, last = settings.start_year, settings.end_year, today.year - 1
    named = f"{names[0]}={start} and {names[1]}={end}"
    if not FIRST_YEAR <= start <= end <= last:
        # (the last year comes from this machine's clock: one set years back names it)
        clock = f"; this machine's clock says {today}" if end > last or last < FIRST_YEAR else ""
        raise ConfigError(
            f"{named}: the years of the population statistics must run from {FIRST_YEAR} to "
            f"{last} (the last year the ACS has published), the start no later than the end" + clock
        )
    if start <= NO_ACS_YEAR <= end and one_year_estimates(settings.datausa_url):
        raise ConfigError(
            f"{named}: the range holds {NO_ACS_YEAR}, for which the American Community Survey "
            "published no 1-year estimates, so the 1-year cube QUEST_DATAUSA_URL asks has none; "
            f"choose years on one side of {NO_ACS_YEAR} (the 5-year estimates have it)"
        )


def refuse_colon(home: Path) -> None:
    """Raises ConfigError for a home whose path holds a ':'. Spark's local catalog (Hive's
    client over Derby) cannot open a metastore there: it failed after a minute of retries with
    "Unable to instantiate SessionHiveMetaStoreClient"."""
    if ":" in str(home):
        raise ConfigError(
            f"QUEST_HOME={str(home)!r} holds a ':', which Spark's local catalog cannot use in "
            "a path; point QUEST_HOME (or --home) at a folder whose path has none"
        )


def validate_home(settings: Settings) -> Path:
    """Create the home folder if needed and check it is writable.

    Raises:
        ConfigError: naming QUEST_HOME when it cannot be used.
    """
    home = settings.home
    refuse_colon(home)
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe = home / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"QUEST_HOME={str(home)!r} cannot be used ({exc.strerror or exc}); "
            "point QUEST_HOME (or --home) at a folder you can write"
        ) from None
    return home
