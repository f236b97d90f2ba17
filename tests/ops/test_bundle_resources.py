"""The dashboard and alerts as bundle resources: valid for Databricks, per target, in bundle.yml."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from databricks.bundles.alerts import Alert, AlertV2Subscription
from databricks.bundles.dashboards import Dashboard

from quest.ops import bundle as ob
from quest.ops import dashboard as dashboards
from quest.ops.alerts import ALERTS, TIMEZONE_MARK
from quest.ops.names import SCHEMAS, tables_in
from quest.orchestration.bundle import STAND_IN_SERVICE_PRINCIPAL
from quest.orchestration.workflow_config import workflow_config
from tests.realdata import REPO

TARGETS = {"quest-dev": "dev", "quest-prod": "prod"}


@pytest.fixture(scope="module")
def committed() -> dict:
    return yaml.safe_load((REPO / "bundle.yml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("env", ["local", "dev", "prod"])
def test_resources_pass_the_strict_databricks_models(env):
    resources = ob.ops_resources(workflow_config(env, environ={}))
    (dashboard,) = resources["dashboards"].values()
    Dashboard.from_dict(dashboard)
    assert set(resources["alerts"]) == {f"quest_{a.name}" for a in ALERTS}
    for alert in resources["alerts"].values():
        parsed = Alert.from_dict(alert)
        assert parsed.evaluation.threshold.value.double_value is not None


def test_each_target_reads_its_own_catalog():
    for env, catalog in (("dev", "quest_dev"), ("prod", "quest")):
        resources = ob.ops_resources(workflow_config(env, environ={}))
        assert resources["dashboards"]["quest"]["dataset_catalog"] == catalog
        for alert in resources["alerts"].values():
            assert f"FROM {catalog}." in alert["query_text"], alert["display_name"]


def test_the_answer_alert_looks_back_in_the_time_zone_of_its_schedule():
    cfg = replace(workflow_config("dev", environ={}), timezone="Europe/Paris")
    alerts = ob.ops_resources(cfg)["alerts"]
    changed = alerts["quest_answer_changed"]
    assert changed["schedule"]["timezone_id"] == "Europe/Paris"
    assert changed["query_text"].count("'Europe/Paris'") == 2
    assert not any(TIMEZONE_MARK in alert["query_text"] for alert in alerts.values())
    with pytest.raises(ValueError, match="not a time zone"):
        ALERTS[0].sql("America/New_York' OR '1")


def test_a_target_with_a_schema_prefix_deploys_the_dashboard_reading_its_own_schemas():
    # Lakeview sets a catalog (`dataset_catalog`) but no schema prefix: the file's two-part
    # names would read the dev tables from a personal `local` target's dashboard.
    shipped = dashboards.load()
    for env, environ, prefix in (
        ("local", {}, "${workspace.current_user.short_name}_"),
        ("dev", {"QUEST_SCHEMA_PREFIX": "t1234_"}, "t1234_"),
    ):
        cfg = workflow_config(env, environ=environ)
        resource = ob.ops_resources(cfg)["dashboards"]["quest"]
        assert "file_path" not in resource, env
        inline = json.loads(resource["serialized_dashboard"])
        assert inline["pages"] == shipped["pages"], "only the tables' names differ"
        read = set()
        for name, sql in dashboards.datasets(inline).items():
            expected = dashboards.datasets(shipped)[name]
            for schema in SCHEMAS:
                expected = re.sub(
                    rf"(?<![\w.`]){schema}\.", f"quest_dev.{prefix}{schema}.", expected
                )
            assert sql == expected, name
            named = re.findall(rf"quest_dev\.{re.escape(prefix)}(\w+)\.", sql)
            assert len(named) == sql.count("quest_dev."), name
            read |= set(named)
        assert read == {
            schema for sql in dashboards.datasets(shipped).values() for schema, _ in tables_in(sql)
        }, env
    plain = ob.ops_resources(workflow_config("dev", environ={}))["dashboards"]["quest"]
    assert plain["file_path"] == ob.DASHBOARD_FILE
    assert "serialized_dashboard" not in plain


def test_alerts_run_daily_mail_the_notify_list_and_only_run_unpaused_in_prod():
    dev = ob.ops_resources(workflow_config("dev", environ={}))["alerts"]
    prod = ob.ops_resources(workflow_config("prod", environ={}))["alerts"]
    for alert in dev.values():
        assert alert["schedule"]["pause_status"] == "PAUSED"
        assert alert["evaluation"]["notification"]["subscriptions"] == [
            {"user_email": "quest-dev@example.org"}
        ]
    for alert in prod.values():
        assert alert["schedule"] == {
            "quartz_cron_schedule": ob.ALERT_SCHEDULE,
            "timezone_id": "America/New_York",
            "pause_status": "UNPAUSED",
        }


def test_alerts_also_mail_the_notification_destinations_given_when_deploying():
    # A team list that is no workspace user cannot be an alert's `user_email`.
    given = {"QUEST_ALERT_DESTINATIONS": "6d1f3c2a-0b5e-4c8f-9a7d-2e4b1c0f8a93, team-list-id"}
    alerts = ob.ops_resources(workflow_config("prod", environ=given))["alerts"]
    for alert in alerts.values():
        assert Alert.from_dict(alert).evaluation.notification.subscriptions[1:] == [
            AlertV2Subscription(destination_id="6d1f3c2a-0b5e-4c8f-9a7d-2e4b1c0f8a93"),
            AlertV2Subscription(destination_id="team-list-id"),
        ]


def test_prod_alerts_run_as_the_jobs_service_principal_and_other_targets_as_the_deployer():
    # Without their own run_as, the alerts' queries ran as whoever deployed prod.
    principal = "11111111-2222-3333-4444-555555555555"
    prod = workflow_config("prod", environ={"QUEST_RUN_AS_SERVICE_PRINCIPAL": principal})
    for alert in ob.ops_resources(prod)["alerts"].values():
        assert alert["run_as"] == {"service_principal_name": principal}
        assert Alert.from_dict(alert).run_as.service_principal_name == principal
    for env in ("local", "dev"):
        for alert in ob.ops_resources(workflow_config(env, environ={}))["alerts"].values():
            assert "run_as" not in alert, env


def test_the_dashboard_file_the_bundle_deploys_exists_at_the_bundle_root():
    assert (REPO / ob.DASHBOARD_FILE).is_file()


def test_the_bundle_refuses_a_cli_too_old_for_its_alerts_and_dashboard(committed):
    # `bf` downloads CLI 0.236.1 unless told otherwise, which does not know the alerts.
    from brickflow.bundles.model import Bundle

    assert committed["bundle"]["databricks_cli_version"] == f">= {ob.MIN_CLI_VERSION}"
    assert Bundle(**committed["bundle"]).databricks_cli_version == f">= {ob.MIN_CLI_VERSION}"


def test_committed_bundle_carries_the_dashboard_alerts_and_warehouse_variable(committed):
    assert committed["variables"][ob.WAREHOUSE_VARIABLE]["lookup"] == {
        "warehouse": ob.WAREHOUSE_NAME
    }
    for target, env in TARGETS.items():
        resources = committed["targets"][target]["resources"]
        # The committed prod target is synthesized with a stand-in service principal.
        environ = (
            {"QUEST_RUN_AS_SERVICE_PRINCIPAL": STAND_IN_SERVICE_PRINCIPAL} if env == "prod" else {}
        )
        expected = ob.ops_resources(workflow_config(env, environ=environ))
        assert resources["dashboards"] == expected["dashboards"], target
        assert resources["alerts"] == expected["alerts"], target


def test_resources_are_added_after_a_synth_only(tmp_path, monkeypatch):
    path = tmp_path / "bundle.yml"
    path.write_text(yaml.dump({"targets": {"quest-dev": {"resources": {"jobs": {}}}}}))
    monkeypatch.delenv("BRICKFLOW_MODE", raising=False)
    assert ob.add_ops_resources("dev", path) is False, "a task run must not touch bundle.yml"
    monkeypatch.setenv("BRICKFLOW_MODE", "deploy")
    assert ob.add_ops_resources("dev", path) is True
    written = yaml.safe_load(path.read_text())
    assert set(written["targets"]["quest-dev"]["resources"]) == {"jobs", "dashboards", "alerts"}
    assert ob.add_ops_resources("dev", Path(tmp_path / "absent.yml")) is False
