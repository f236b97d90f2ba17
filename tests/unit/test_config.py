"""Bad configuration fails before any work starts, naming the setting and the fix."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from quest.config import Settings, load_settings, validate_contact, validate_home
from quest.errors import ConfigError
from quest.store import LocalStore, open_store


def test_defaults_are_local_and_keep_the_store_under_the_home(tmp_path):
    settings = load_settings({"QUEST_HOME": str(tmp_path)})
    assert settings.env == "local"
    assert settings.store_uri == str(tmp_path / "store")
    assert settings.table("silver", "population") == "silver.population"


def test_dev_environment_uses_unity_catalog_three_part_names():
    settings = load_settings({"QUEST_ENV": "dev"})
    assert settings.table("gold", "population_stats") == "quest_dev.gold.population_stats"
    assert settings.store_uri.startswith("s3://")


def test_environment_variables_override_and_are_typed():
    settings = load_settings(
        {
            "QUEST_HTTP_RETRIES": "7",
            "QUEST_INCLUDE_ANNUAL": "yes",
            "QUEST_NOTIFY": "a@x.org, b@x.org",
            "QUEST_BLS_EXCLUDE": " pr.x ,sub/*,",
        }
    )
    assert settings.bls_exclude == ("pr.x", "sub/*")
    assert settings.http_retries == 7
    assert settings.include_annual is True
    assert settings.notify == ("a@x.org", "b@x.org")


@pytest.mark.parametrize(
    ("var", "raw", "message"),
    [
        # 0 would reach requests as a timeout it refuses, reported as a bug in quest
        ("QUEST_HTTP_TIMEOUT", "0", "out of range: it must be more than 0 and at most 86400"),
        ("QUEST_HTTP_TIMEOUT", "nan", "not a finite number"),
        ("QUEST_HTTP_RETRIES", "1.5", "not a whole number"),
        ("QUEST_HTTP_RETRIES", "-1", "out of range: it must be from 0 to 100"),
        ("QUEST_MAX_DELETE_FRACTION", "2", "out of range: it must be from 0 to 1"),
        ("QUEST_MAX_LISTING_PAGES", "0", "out of range: it must be more than 0"),
        # meant as "no limit", these overflowed a clock or a socket: "a bug in quest"
        ("QUEST_HTTP_TIMEOUT", "1e10", "out of range: it must be more than 0 and at most 86400"),
        ("QUEST_HTTP_BACKOFF", "1e300", "out of range: it must be from 0 to 86400"),
        ("QUEST_HTTP_RETRIES", "1000", "out of range: it must be from 0 to 100"),
    ],
)
def test_a_number_setting_out_of_its_range_is_refused_naming_the_variable(var, raw, message):
    with pytest.raises(ConfigError, match=f"{var}='{raw}' is {message}"):
        load_settings({var: raw})


def test_an_empty_home_is_the_default_home_not_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings({"QUEST_HOME": ""}).home == load_settings({}).home
    assert load_settings({"QUEST_HOME": ""}).home != tmp_path


def test_an_empty_home_option_is_no_option_as_an_empty_variable_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Settings().with_overrides(home="").home == Settings().home
    assert Settings().with_overrides(home=" ").home != tmp_path


@pytest.mark.parametrize(
    "url",
    [
        "smtp://u:p@mail:abc",
        "smtp://mail:99999",
        "smtp://mail:587x",
        "smtp://mail:0",
        "mail:25",
        "http://mail",
        "smtps://:465",
    ],
)
def test_an_smtp_url_that_cannot_send_is_refused_without_its_password(url):
    with pytest.raises(ConfigError, match="QUEST_SMTP_URL") as refused:
        load_settings({"QUEST_SMTP_URL": url})
    assert "p@" not in str(refused.value) and url not in str(refused.value)


def test_the_smtp_url_form_an_error_shows_survives_the_hiding_of_passwords():
    # Every error line hides a URL's user and password: the example was `smtp://***@host:port`.
    from quest.redaction import hide_userinfo

    with pytest.raises(ConfigError) as refused:
        load_settings({"QUEST_SMTP_URL": "http://mail"})
    shown = hide_userinfo(str(refused.value))
    assert "***" not in shown and "smtp://host:port" in shown and "USER:PASSWORD@" in shown


@pytest.mark.parametrize("password", ["pa/ss", "pa?ss", "pa#ss"])
def test_an_smtp_password_with_a_slash_says_to_percent_encode_it(password):
    # The host part of `smtp://user:pa/ss@host:587` ends at the '/': the port was blamed.
    url = f"smtp://user:{password}@mail.example.org:587"
    with pytest.raises(ConfigError, match="percent-encode them") as refused:
        load_settings({"QUEST_SMTP_URL": url})
    assert password not in str(refused.value)
    encoded = url.replace(password, password.replace("/", "%2F").replace("?", "%3F"))
    assert load_settings({"QUEST_SMTP_URL": encoded.replace("#", "%23")}).smtp_url


@pytest.mark.parametrize("url", ["", "smtp://mail", "smtps://u:p@mail:465", "smtp://[::1]:2525"])
def test_an_smtp_url_that_can_send_is_taken(url):
    assert load_settings({"QUEST_SMTP_URL": url}).smtp_url == url


def test_zero_means_none_where_the_docs_say_so():
    given = {
        "QUEST_HTTP_DEADLINE": "0",
        "QUEST_HTTP_LOW_SPEED_LIMIT": "0",
        "QUEST_HTTP_RETRIES": "0",
    }
    settings = load_settings(given)
    assert (settings.http_deadline, settings.http_low_speed_limit, settings.http_retries) == (
        0,
        0,
        0,
    )
    # What each 0 means where it is used: no deadline, no speed floor, one try and no retry.
    from quest.sources.http import Attempts, Watchdog

    watchdog = Watchdog(settings)
    watchdog._started -= 3600  # an hour in, not a byte received
    watchdog._samples[0] = (watchdog._started, 0)
    watchdog._check()
    assert watchdog.tripped is None
    attempts = Attempts(settings)
    assert (attempts.take(), attempts.take()) == (0, None)


def test_unknown_environment_is_refused_naming_quest_env():
    with pytest.raises(ConfigError, match="QUEST_ENV='staging'.*local, dev, prod"):
        load_settings({"QUEST_ENV": "staging"})


def test_a_number_setting_with_text_is_refused_naming_the_variable():
    with pytest.raises(ConfigError, match="QUEST_HTTP_TIMEOUT='soon' is not a number"):
        load_settings({"QUEST_HTTP_TIMEOUT": "soon"})


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("QUEST_SCHEMA_PREFIX", "my-team_"),
        ("QUEST_CATALOG", "main.prod"),
        ("QUEST_CATALOG", "a`b"),
        ("QUEST_CATALOG", "2024"),
    ],
)
def test_a_name_part_sql_cannot_hold_unquoted_is_refused_naming_the_variable(var, value):
    # Without this, Spark's parser failed the bronze task on `CREATE SCHEMA my-team_bronze`.
    with pytest.raises(ConfigError, match=f"{var}=.*may only hold letters, digits and '_'") as e:
        load_settings({var: value})
    suggested = {"my-team_": "my_team_", "main.prod": "main_prod", "a`b": "a_b", "2024": "_2024"}
    assert str(e.value).endswith(f"try {suggested[value]!r}")
    assert ("start with a letter" in str(e.value)) == (var == "QUEST_CATALOG")


def test_name_parts_of_letters_digits_and_underscores_are_taken():
    settings = load_settings({"QUEST_SCHEMA_PREFIX": "1234_", "QUEST_CATALOG": "Quest_Dev2"})
    assert settings.table("bronze", "pr_data") == "Quest_Dev2.1234_bronze.pr_data"


@pytest.mark.parametrize("contact", ["", "nobody", "a@b", "ops@пример.рф", "a@b.org\r\nX: y"])
def test_missing_or_malformed_contact_is_refused_with_the_fix(contact):
    with pytest.raises(ConfigError, match="QUEST_CONTACT.*Set QUEST_CONTACT=you@example.org"):
        validate_contact(Settings(contact=contact))


def test_contact_e_mail_is_accepted():
    assert validate_contact(Settings(contact=" data@example.org ")) == "data@example.org"


@pytest.mark.parametrize("uri", ["ftp://host/x", "s3://", "http://bucket/x", "  "])
def test_malformed_store_uri_is_refused_naming_quest_store(uri):
    with pytest.raises(ConfigError, match="QUEST_STORE"):
        open_store(uri)


@pytest.mark.parametrize("uri", ["s3//quest-dev-republish", "S3A//b/p"])
def test_a_store_uri_that_lost_its_colon_is_refused_not_taken_for_a_folder(uri, tmp_path):
    # `s3//bucket` was the folder ./s3/bucket: a sync wrote there and exited 0.
    with pytest.raises(ConfigError, match=r"QUEST_STORE \(or --store\) .* without its ':'") as e:
        open_store(uri)
    suggested = re.search(r"write (\S+) \(or", str(e.value)).group(1)
    assert open_store(suggested).uri.startswith("s3://"), "the fix it gives must open"
    assert isinstance(open_store(f"./{uri}"), LocalStore)


def test_store_uri_forms_open_the_right_store(tmp_path):
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    assert open_store(f"file://{tmp_path}").uri == str(tmp_path)


def test_unwritable_home_is_refused_naming_quest_home(tmp_path):
    if os.geteuid() == 0:
        if not os.path.ismount("/sys"):
            pytest.skip("root writes anywhere, and no sysfs is mounted to refuse it")
        home = Path("/sys/kernel")  # sysfs refuses even root a new file
    else:
        home = tmp_path / "ro"
        home.mkdir(mode=0o500)
    with pytest.raises(ConfigError, match=r"QUEST_HOME='[^']+' cannot be used \(.+\); point"):
        validate_home(Settings(home=home))


def test_home_that_is_a_file_is_refused_naming_quest_home(tmp_path):
    home = tmp_path / "a-file"
    home.write_text("not a folder")
    with pytest.raises(ConfigError, match="QUEST_HOME=.*cannot be used"):
        validate_home(Settings(home=Path(home)))


def test_home_whose_path_holds_a_colon_is_refused_before_spark_starts(tmp_path):
    with pytest.raises(ConfigError, match="QUEST_HOME=.*holds a ':'"):
        validate_home(Settings(home=tmp_path / "runs:today"))
    assert not (tmp_path / "runs:today").exists()


@pytest.mark.parametrize(
    ("start", "end"),
    [("2018", "2013"), ("13", "18"), ("1999", "2018"), ("2013", "100000000"), ("2019", "2021")],
    ids=["out-of-order", "two-digits", "before-2000", "far-future", "across-2020"],
)
def test_years_out_of_order_or_range_are_refused_when_the_settings_are_read(start, end):
    # Before, 2018..2013 made the DataUSA sync check no year and failed only at the plan, after
    # both syncs; 13..18 was asked of DataUSA and failed as "rerun later"; a huge end year
    # built a set of that many years.
    environ = {"QUEST_START_YEAR": start, "QUEST_END_YEAR": end}
    with pytest.raises(ConfigError, match=rf"QUEST_START_YEAR={int(start)} and QUEST_END_YEAR"):
        load_settings(environ)


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        (None, True),  # the default: the tesseract cube of 1-year estimates
        (
            "https://honolulu-api.datausa.io/tesseract/data.jsonrecords"
            "?cube=acs_yg_total_population_5&drilldowns=Year%2CNation&measures=Population",
            False,
        ),
        ("https://datausa.io/api/data?drilldowns=Nation&measures=Population", False),
    ],
    ids=["1-year-cube", "5-year-cube", "retired-api"],
)
def test_a_range_across_2020_is_refused_only_for_a_source_of_1_year_estimates(url, refused):
    # The 5-year estimates, and the retired API that served them, have 2020 (326,569,308).
    environ = {"QUEST_START_YEAR": "2018", "QUEST_END_YEAR": "2022"}
    if url:
        environ["QUEST_DATAUSA_URL"] = url
    if refused:
        with pytest.raises(ConfigError, match="1-year cube QUEST_DATAUSA_URL asks has none"):
            load_settings(environ)
    else:
        assert load_settings(environ).end_year == 2022


def test_years_from_2000_to_last_year_in_order_are_taken():
    from datetime import UTC, datetime

    from quest.orchestration.notebook import settings_from_widgets
    from quest.orchestration.tasks import settings_from_params
    from quest.runner.dbutils import LocalDbutils

    last = datetime.now(UTC).year - 1  # the ACS publishes a year the September after it
    taken = load_settings({"QUEST_START_YEAR": "2021", "QUEST_END_YEAR": str(last)})
    assert (taken.start_year, taken.end_year) == (2021, last)
    with pytest.raises(ConfigError, match=f"must run from 2000 to {last}"):
        load_settings({"QUEST_START_YEAR": "2021", "QUEST_END_YEAR": str(last + 1)})
    # A job run's own parameters, and a notebook's widgets, are held to the same.
    with pytest.raises(ConfigError, match="the start no later than the end"):
        settings_from_params({"env": "local", "start_year": "2018", "end_year": "2013"})
    widgets = LocalDbutils({"start_year": "2019", "end_year": "2020"})
    with pytest.raises(ConfigError, match="holds 2020"):
        settings_from_widgets(widgets, ["start_year", "end_year"], Settings())


def test_a_blank_or_none_job_parameter_or_widget_is_no_value_and_a_folder_is_stripped(tmp_path):
    from quest.orchestration.notebook import settings_from_widgets
    from quest.orchestration.tasks import settings_from_params
    from quest.runner.dbutils import LocalDbutils

    params = {"env": "local", "start_year": " ", "end_year": "None", "store": f" {tmp_path} "}
    given = settings_from_params(params)
    assert (given.start_year, given.end_year, given.store) == (2013, 2018, str(tmp_path))
    widgets = LocalDbutils({"start_year": " ", "end_year": "None", "current_file": ""})
    read = settings_from_widgets(widgets, ["start_year", "end_year", "current_file"], Settings())
    assert read == Settings()


def test_a_blank_number_folder_url_or_key_is_no_setting_but_a_blank_catalog_is_one(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    blank = {
        var: " "
        for var in (
            "QUEST_HTTP_TIMEOUT",
            "QUEST_HTTP_RETRIES",
            "QUEST_STORE",
            "QUEST_BLS_URL",
            "QUEST_DATAUSA_KEY",
            "QUEST_REPORT_SERIES",
        )
    }
    assert load_settings(blank) == load_settings({})
    # QUEST_CATALOG= means two-part names, even in dev.
    assert load_settings({"QUEST_ENV": "dev", "QUEST_CATALOG": ""}).catalog == ""


def test_spaces_around_a_folder_are_no_part_of_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "h"
    settings = load_settings({"QUEST_HOME": f" {home} ", "QUEST_STORE": f" {home}/s "})
    assert (settings.home, settings.store_uri) == (home, f"{home}/s")
    assert Settings().with_overrides(home=f" {home}").home == home


@pytest.mark.parametrize("uri", ["file://./store", "file://server/share/store"])
def test_a_file_store_uri_naming_a_host_is_refused(uri):
    # `file://./store` was the folder /store, at the root of the file system.
    with pytest.raises(ConfigError, match="names the host"):
        open_store(uri)
    assert isinstance(open_store("file:///tmp/quest-store"), LocalStore)
    assert isinstance(open_store("file://localhost/tmp/quest-store"), LocalStore)


@pytest.mark.parametrize("prefix", ["bls/pr", "", "/bls/pr/", "bls//pr/"])
def test_a_bls_prefix_no_sync_can_keep_is_a_store_layout_error(prefix):
    from quest.config import validate_store_layout

    with pytest.raises(ConfigError, match="QUEST_BLS_PREFIX=.* must be a folder inside the store"):
        validate_store_layout(Settings(bls_prefix=prefix))


def test_every_variable_quest_names_is_one_the_typo_warning_knows():
    # A variable read or documented somewhere but missing from the known ones would be warned
    # of as a typo: every QUEST_* name in the repository's code and docs is known, but for the
    # tests' own misspellings.
    from quest.config import unknown_variables

    repo = Path(__file__).resolve().parents[2]
    places = ["src", "notebooks", "workflows", "bench", "docs", ".ci", "tests"]
    files = [f for place in places for f in (repo / place).rglob("*") if f.is_file()]
    files += [repo / name for name in ("Makefile", "README.md", "bundle.yml", "pyproject.toml")]
    named = {
        var
        for path in files
        if path.suffix in {"", ".py", ".md", ".yml", ".toml", ".sql", ".json"}
        for var in re.findall(r"\bQUEST_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(errors="replace"))
    }
    assert {"QUEST_SPARK_MASTER", "QUEST_SPARK_DRIVER_MEMORY", "QUEST_STORE"} <= named
    misspelt = {"QUEST_STROE", "QUEST_WHATEVER"}  # the tests' own
    assert [line.split()[0] for line in unknown_variables(dict.fromkeys(named, "x"))] == sorted(
        misspelt & named
    )
    assert unknown_variables({"QUEST_STROE": "x", "PATH": "/bin", "quest_store": "x"}) == [
        "QUEST_STROE is no quest setting and is ignored (did you mean QUEST_STORE?)"
    ]


SMTP_PASSWORD = "-".join(("not", "a", "secret"))


@pytest.mark.parametrize(
    ("var", "raw"),
    [
        ("QUEST_STORE", '"/tmp/quest-store"'),
        ("QUEST_HOME", "'/tmp/quest-home'"),
        ("QUEST_CONTACT", '"data@example.org"'),
        # (the password built apart, as the secrets scan would take a literal one for a leak)
        ("QUEST_SMTP_URL", f'"smtp://user:{SMTP_PASSWORD}@mail.example.org:587"'),
        # a '/' in the password, where the error lines' redaction stops
        ("QUEST_S3_ENDPOINT_URL", f'"http://AKIAX:a/{SMTP_PASSWORD}@127.0.0.1:9000"'),
    ],
)
def test_a_value_wrapped_in_quotes_an_env_file_kept_is_refused(var, raw):
    # `docker --env-file` and some variable editors keep the quotes a shell drops: before,
    # QUEST_STORE='"/tmp/..."' was a folder of that name under the current one, and the sync
    # exited 0.
    with pytest.raises(ConfigError, match=rf"^{var}\b.* is wrapped in quotes") as refused:
        load_settings({var: raw})
    assert SMTP_PASSWORD not in str(refused.value)


def test_a_urls_surrounding_white_space_is_no_part_of_it():
    # A line break kept at the end of QUEST_BLS_URL was sent as `%0A`: a 404 whose message showed
    # the URL as it should be.
    settings = load_settings({"QUEST_BLS_URL": "http://127.0.0.1:8000/pr/\n"})
    assert settings.bls_url == "http://127.0.0.1:8000/pr/"
    spaced = load_settings({"QUEST_DATAUSA_URL": "  http://127.0.0.1:8000/api "})
    assert spaced.datausa_url == "http://127.0.0.1:8000/api"


def test_years_past_this_machines_clock_name_the_clock():
    # A clock set years back (a dead battery, a VM restored from a snapshot) made every command,
    # the BLS sync too, refuse the default years as if they were wrong.
    from datetime import UTC, datetime

    year = datetime.now(UTC).year
    with pytest.raises(ConfigError, match=r"this machine's clock says \d{4}-\d\d-\d\d$"):
        load_settings({"QUEST_START_YEAR": "2013", "QUEST_END_YEAR": str(year)})
    with pytest.raises(ConfigError, match=r"the start no later than the end$"):
        load_settings({"QUEST_START_YEAR": "2016", "QUEST_END_YEAR": "2015"})
