"""Task bodies build their settings from string parameters; summaries and secrets are handled."""

from __future__ import annotations

from quest.config import Settings
from quest.orchestration.tasks import settings_scope, small_summary, task_settings
from quest.runner.notify import redact
from quest.runner.record import describe


def test_task_parameters_override_the_environment_and_empty_or_none_keep_defaults(monkeypatch):
    monkeypatch.setenv("QUEST_CONTACT", "env@example.org")
    settings = task_settings({"env": "dev", "store": "s3://b/p", "contact": "", "bls_url": "None"})
    assert settings.env == "dev" and settings.catalog == "quest_dev"
    assert settings.store == "s3://b/p"
    assert settings.contact == "env@example.org"
    assert settings.bls_url.startswith("https://download.bls.gov/")


def test_a_local_run_puts_its_own_settings_under_the_parameters(tmp_path):
    base = Settings(home=tmp_path, http_retries=9, contact="run@example.org")
    with settings_scope(base):
        settings = task_settings({"env": "dev", "store": str(tmp_path / "s")})
    assert settings.http_retries == 9 and settings.home == tmp_path
    assert settings.store == str(tmp_path / "s")
    assert task_settings({}).http_retries != 9, "the scope must end with the block"


def test_oversized_summary_drops_its_lists_but_keeps_the_counts():
    summary = {"uploaded": 3, "files": [f"file-{i}" * 50 for i in range(500)]}
    small = small_summary(summary)
    assert small == {"uploaded": 3, "truncated": True}
    assert small_summary({"uploaded": 1, "files": ["a"]}) == {"uploaded": 1, "files": ["a"]}


def test_describe_says_unchanged_with_the_reason_or_the_row_counts():
    assert describe({"files_seen": 12, "uploaded": 0, "replaced": 0, "deleted": 0}) == (
        "unchanged, skipped (all 12 files unchanged at the source)",
        True,
    )
    line, unchanged = describe(
        {
            "tables": {
                "silver.population": {"action": "merged", "rows_inserted": 1, "rows_updated": 2},
                "silver.quarantine": {"action": "unchanged", "reason": "no file changed"},
            },
            "commits": 1,
        }
    )
    assert unchanged is False
    assert "silver.population: merged (inserted 1, updated 2)" in line
    assert line == (
        "silver.population: merged (inserted 1, updated 2); "
        "1 table unchanged (no file changed) (1 Delta commits)"
    )
    quiet = {"tables": {"a": {"action": "unchanged", "reason": "r"}}, "commits": 0}
    assert describe(quiet) == ("unchanged, skipped (r): 1 table (0 Delta commits)", True)
    assert describe({"changed": False, "records": 10})[1] is True


def test_redact_hides_url_passwords_and_secret_environment_values(monkeypatch):
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-secret-value-1")
    settings = Settings(smtp_url="smtp://me:pa%40ss@mail:25")
    text = redact("smtp://me:pa%40ss@mail:25 and token dapi-secret-value-1 and pa@ss", settings)
    assert text == "smtp://me:***@mail:25 and token *** and ***"
    assert "pa%40ss" not in repr(settings)
