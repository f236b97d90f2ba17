"""Task bodies build their settings from string parameters; results and secrets are handled."""

from __future__ import annotations

import json

from quest.config import Settings
from quest.orchestration.tasks import (
    bls_result,
    datausa_result,
    settings_from_params,
    settings_scope,
    small_summary,
)
from quest.results import Action, FileResult, LayerResult, Status, TableResult, TaskResult
from quest.runner.notify import Notification, deliver, redact
from quest.sources.bls import EXCLUDED, KEPT_UNLISTED, SyncSummary
from quest.sources.datausa import DataUsaSummary


def test_task_parameters_override_the_environment_and_empty_or_none_keep_defaults(monkeypatch):
    monkeypatch.setenv("QUEST_CONTACT", "env@example.org")
    settings = settings_from_params(
        {"env": "dev", "store": "s3://b/p", "contact": "", "bls_url": "None"}
    )
    assert settings.env == "dev" and settings.catalog == "quest_dev"
    assert settings.store == "s3://b/p"
    assert settings.contact == "env@example.org"
    assert settings.bls_url.startswith("https://download.bls.gov/")


def test_a_local_run_puts_its_own_settings_under_the_parameters(tmp_path):
    base = Settings(home=tmp_path, http_retries=9, contact="run@example.org")
    with settings_scope(base):
        settings = settings_from_params({"env": "dev", "store": str(tmp_path / "s")})
    assert settings.http_retries == 9 and settings.home == tmp_path
    assert settings.store == str(tmp_path / "s")
    assert settings_from_params({}).http_retries != 9, "the scope must end with the block"


def test_oversized_summary_drops_its_lists_but_keeps_the_counts():
    summary = {"uploaded": 3, "files": [f"file-{i}" * 50 for i in range(500)]}
    small = small_summary(summary)
    assert small == {"uploaded": 3, "truncated": True}
    assert small_summary({"uploaded": 1, "files": ["a"]}) == {"uploaded": 1, "files": ["a"]}


def _said(result: TaskResult) -> tuple[str, bool]:
    return result.summary, result.status == Status.UNCHANGED


def _summary(files_seen: int, *files: tuple[str, str, str, str]) -> SyncSummary:
    """A sync summary of `files_seen` files with each (name, key, action, reason) recorded."""
    summary = SyncSummary(files_seen=files_seen)
    for file in files:
        summary.record(*file)
    return summary


UNCHANGED = "listing date and size unchanged"


def test_results_say_unchanged_with_the_reason_or_the_row_counts():
    assert _said(bls_result(SyncSummary(files_seen=12))) == (
        "unchanged, skipped (all 12 files unchanged at the source)",
        True,
    )
    # A stored file the listing no longer names, kept for want of a 404, is said, not counted
    # among the unchanged files (before, the line read "all files unchanged").
    kept = _summary(
        2,
        ("a", "bls/pr/a", "skipped", UNCHANGED),
        ("b", "bls/pr/b", "skipped", UNCHANGED),
        ("gone", "bls/pr/gone", "skipped", f"{KEPT_UNLISTED} x still answers 403: kept"),
    )
    assert _said(bls_result(kept)) == (
        "unchanged, skipped (all 2 files unchanged at the source); 1 no longer listed but "
        "kept, not confirmed gone: gone",
        True,
    )
    kept.record("c", "bls/pr/c", "replaced", "changed at the source")
    assert bls_result(kept).summary.startswith("2 files: 0 new, 1 replaced, 0 deleted, 2 unchanged")
    # A name QUEST_BLS_EXCLUDE leaves out is said, and counted neither unchanged nor synced.
    left_out = _summary(
        3,
        ("a", "bls/pr/a", "skipped", UNCHANGED),
        ("b", "", "skipped", f"{EXCLUDED} ('b'); the listed name climbs out"),
        ("c", "bls/pr/c", "skipped", f"{EXCLUDED} ('c'): not fetched"),
    )
    assert _said(bls_result(left_out)) == (
        "unchanged, skipped (1 files unchanged at the source); 2 left out by QUEST_BLS_EXCLUDE: "
        "b, c",
        True,
    )
    left_out.record("d", "bls/pr/d", "uploaded", "new at the source")
    assert bls_result(left_out).summary.startswith("3 files: 1 new, 0 replaced, 0 deleted, 1 unc")
    merged = TableResult(Action.LOADED, rows_inserted=1, rows_updated=2, commits=1)
    layer = LayerResult(
        "silver",
        {
            "silver.population": merged,
            "silver.quarantine": TableResult.unchanged("no file changed"),
        },
    )
    line, unchanged = _said(TaskResult.from_layer(layer))
    assert unchanged is False
    assert "silver.population: loaded (inserted 1, updated 2)" in line
    assert line == (
        "silver.population: loaded (inserted 1, updated 2); "
        "1 table unchanged (no file changed) (1 Delta commits)"
    )
    quiet = LayerResult("silver", {"a": TableResult.unchanged("r")})
    assert _said(TaskResult.from_layer(quiet)) == (
        "unchanged, skipped (r): 1 table (0 Delta commits)",
        True,
    )
    assert _said(datausa_result(DataUsaSummary(changed=False, records=10)))[1] is True


def test_a_task_result_crosses_a_process_boundary_as_json_unchanged():
    layer = LayerResult(
        "bronze",
        {"bronze.pr_data": TableResult(Action.LOADED, files=["pr.data.0.Current"], commits=2)},
        [FileResult("pr.data.0.Current", Action.LOADED, "bronze.pr_data", rows_written=3)],
    )
    result = TaskResult.from_layer(layer, report={"best_year": []})
    assert TaskResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_redact_hides_url_passwords_and_secret_environment_values(monkeypatch):
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-secret-value-1")
    settings = Settings(smtp_url="smtp://me:pa%40ss@mail:25")
    text = redact("smtp://me:pa%40ss@mail:25 and token dapi-secret-value-1 and pa@ss", settings)
    assert text == "smtp://me:***@mail:25 and token *** and ***"
    assert "pa%40ss" not in repr(settings)


def test_a_notification_through_an_smtp_url_with_a_bad_port_is_not_sent_and_says_why():
    # A Settings built in code is not parsed: before, the port's ValueError ended the run as "a
    # bug in quest" after its work, before its record was saved.
    note = Notification("on_success", "workflow", ("team@example.org",), "subject", "body")
    out: list[str] = []
    [result] = deliver([note], Settings(smtp_url="smtp://u:secret@mail:abc"), out=out.append)
    assert (
        result["delivery"]
        == "not sent: QUEST_SMTP_URL has a port that is not a whole number from 1 to 65535"
    )
    assert "secret" not in " ".join(out)
