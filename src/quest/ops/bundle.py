"""The dashboard and the SQL alerts as bundle resources, added to what BrickFlow synthesizes.

BrickFlow 2.0.0's bundle model knows jobs and pipelines but not `dashboards` or `alerts`, so
`add_ops_resources` adds them to the `bundle.yml` BrickFlow just wrote, for its one target:

- `dashboards.quest`: `dashboards/quest.lvdash.json`, its datasets reading the target's catalog
  (`dataset_catalog`), on the SQL warehouse named by the `quest_warehouse_id` variable; inline,
  its tables named, for a target with a schema prefix;
- `alerts.<name>`: one per `quest.ops.alerts.ALERTS`, the query with the target's table names,
  checked on a daily schedule after the pipeline's, e-mailing the workflow's notify list.

`workflows/entrypoint.py` calls it after synth, so `bf projects deploy` and `make bundle` both
produce it. Deploying these resources needs Databricks CLI 0.281.0 or newer (SQL alerts v2 came in
0.279.0, the dashboard's `dataset_catalog` in 0.281.0), which the bundle declares
(`bundle.databricks_cli_version`): an older CLI, such as the 0.236.1 `bf` downloads by default,
stops with an error before it deploys anything, instead of meeting resources it does not know.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import yaml

from quest.ops.alerts import ALERTS, Alert
from quest.ops.dashboard import REPO
from quest.ops.names import qualify
from quest.orchestration.workflow_config import WorkflowConfig, workflow_config

# The oldest Databricks CLI that deploys every resource of the bundle (see above).
MIN_CLI_VERSION = "0.281.0"
DASHBOARD_KEY = "quest"
DASHBOARD_FILE = "dashboards/quest.lvdash.json"
WAREHOUSE_VARIABLE = "quest_warehouse_id"
# Every serverless-enabled workspace has it; `--var quest_warehouse_id=<id>` picks another.
WAREHOUSE_NAME = "Serverless Starter Warehouse"
# 09:00 in the workflow's time zone: after the daily pipeline (06:00 prod, 07:00 dev).
ALERT_SCHEDULE = "0 0 9 * * ?"
# A firing alert mails again at each daily evaluation while it keeps firing: the wait before
# another mail is shorter than a day between evaluations, even the 23-hour day of a daylight
# saving change (a full 24 hours would skip a day whenever an evaluation came a little early).
RETRIGGER_SECONDS = 12 * 3600


def variables() -> dict:
    return {
        WAREHOUSE_VARIABLE: {
            "description": "ID of the SQL warehouse that runs quest's dashboard and alerts",
            "lookup": {"warehouse": WAREHOUSE_NAME},
        }
    }


def _permissions(cfg: WorkflowConfig) -> list[dict]:
    levels = (("CAN_MANAGE", cfg.managers), ("CAN_RUN", cfg.runners), ("CAN_READ", cfg.viewers))
    return [{"group_name": group, "level": level} for level, groups in levels for group in groups]


def dashboard_resource(cfg: WorkflowConfig, root: Path = REPO) -> dict:
    """The dashboard of one target. Its datasets name tables by schema only and
    `dataset_catalog` gives them the target's catalog; a schema prefix (the personal `local`
    target's `<you>_gold`) is not something Lakeview can set, so such a target deploys the
    dashboard inline (`serialized_dashboard`), its tables named as the alerts name them, and
    the CLI resolves `${workspace.current_user.short_name}` in it as in every resource string."""
    resource: dict = {
        "display_name": f"quest ({cfg.env}): answers, data quality, freshness and runs",
        "file_path": DASHBOARD_FILE,
        "warehouse_id": f"${{var.{WAREHOUSE_VARIABLE}}}",
        "dataset_catalog": cfg.catalog,
        "embed_credentials": False,
        "permissions": _permissions(cfg),
    }
    if cfg.settings.schema_prefix:
        del resource["file_path"]
        # A JSON string, sent as it is: the CLI's direct engine saves what it sent, and a mapping
        # here would never equal that string, so every deploy would republish the dashboard.
        resource["serialized_dashboard"] = json.dumps(
            prefixed_dashboard(cfg, root / DASHBOARD_FILE), indent=2
        )
    return resource


def prefixed_dashboard(cfg: WorkflowConfig, path: Path) -> dict:
    """The dashboard file with each dataset's tables named for the target (catalog and schema
    prefix), line by line: a table name never spans two lines of a query."""
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    settings = replace(cfg.settings, catalog=cfg.catalog)
    for dataset in dashboard["datasets"]:
        if "queryLines" in dataset:
            dataset["queryLines"] = [qualify(line, settings) for line in dataset["queryLines"]]
        else:
            dataset["query"] = qualify(dataset["query"], settings)
    return dashboard


def alert_resource(alert: Alert, cfg: WorkflowConfig) -> dict:
    """One SQL alert of one target; where the jobs run as a service principal (prod), its query
    runs as that principal too, not as whoever deployed."""
    settings = replace(cfg.settings, catalog=cfg.catalog)
    resource = {
        "display_name": f"quest ({cfg.env}): {alert.title}",
        "custom_summary": f"quest {cfg.env}: {alert.title} ({alert.condition()})",
        "custom_description": f"{alert.meaning}. What to do: {alert.action}. See docs/operate.md.",
        "query_text": qualify(alert.sql(cfg.timezone), settings),
        "warehouse_id": f"${{var.{WAREHOUSE_VARIABLE}}}",
        "evaluation": {
            "source": {
                "name": alert.column,
                "display": alert.column,
                "aggregation": alert.aggregation,
            },
            "comparison_operator": alert.operator,
            "threshold": {"value": {"double_value": float(alert.threshold)}},
            "empty_result_state": "UNKNOWN",
            "notification": {
                "notify_on_ok": True,
                "retrigger_seconds": RETRIGGER_SECONDS,
                # Alerts mail workspace users only; anything else through a destination.
                "subscriptions": [{"user_email": email} for email in cfg.notify]
                + [{"destination_id": d} for d in cfg.settings.alert_destinations],
            },
        },
        "schedule": {
            "quartz_cron_schedule": ALERT_SCHEDULE,
            "timezone_id": cfg.timezone,
            "pause_status": "UNPAUSED" if cfg.env == "prod" else "PAUSED",
        },
        "permissions": _permissions(cfg),
    }
    if cfg.run_as:
        resource["run_as"] = {"service_principal_name": cfg.run_as}
    return resource


def ops_resources(cfg: WorkflowConfig, root: Path = REPO) -> dict:
    """The `dashboards` and `alerts` resources of one target (`root`: the bundle's root, where
    the dashboard file is)."""
    return {
        "dashboards": {DASHBOARD_KEY: dashboard_resource(cfg, root)},
        "alerts": {f"quest_{a.name}": alert_resource(a, cfg) for a in ALERTS},
    }


def add_to_bundle(bundle: dict, env: str, root: Path = REPO) -> dict:
    """`bundle` (as BrickFlow wrote it) with the ops resources in each target, the warehouse
    variable and the oldest CLI that deploys them."""
    cfg = workflow_config(env)
    bundle.setdefault("bundle", {})["databricks_cli_version"] = f">= {MIN_CLI_VERSION}"
    for target in (bundle.get("targets") or {}).values():
        target.setdefault("resources", {}).update(ops_resources(cfg, root))
    bundle.setdefault("variables", {}).update(variables())
    return bundle


def add_ops_resources(env: str, path: Path = Path("bundle.yml")) -> bool:
    """After BrickFlow's synth (deploy mode only): add the ops resources to `path`.

    Returns:
        Whether the file was rewritten (False when BrickFlow ran a task instead of a synth).
    """
    if os.environ.get("BRICKFLOW_MODE", "execute") != "deploy" or not path.exists():
        return False
    bundle = add_to_bundle(yaml.safe_load(path.read_text(encoding="utf-8")), env, path.parent)
    # The dumper keeps BrickFlow's style: it registered its quoted-string representer at synth.
    path.write_text(yaml.dump(bundle, sort_keys=True, default_flow_style=False), encoding="utf-8")
    return True
