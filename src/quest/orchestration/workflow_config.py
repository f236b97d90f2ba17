"""Everything the workflows need to know per environment, in one place.

`quest.config.Settings` says where data lives and how a task behaves; this module adds what only
the orchestration needs: schedule, compute, retries, permissions, tags and the wheel. The
workflow modules in `workflows/` read `workflow_config(env)` and hold no literal of their own.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from brickflow import (
    Cluster,
    EmailNotifications,
    Group,
    NotebookTask,
    PypiTaskLibrary,
    TaskSettings,
    WorkflowEmailNotifications,
    WorkflowPermissions,
)
from brickflow.engine.task import TaskLibrary

from quest.config import ENVIRONMENTS, Settings, load_settings
from quest.errors import ConfigError
from quest.store.credentials import ACCESS_KEY, SECRET_KEY

# Databricks Runtime 19 runs Apache Spark 4.2.0, the Spark of the pinned pyspark 4.2.0 +
# delta-spark 4.4.0: the cluster runs what the tests ran. 18 LTS (Spark 4.1) is the LTS fallback.
DBR_VERSION = "19.x-scala2.13"
# A few MB of BLS text and one JSON: one small worker is plenty, the driver does most of it.
NODE_TYPE = "m5d.large"
NUM_WORKERS = 1
CLUSTER_NAME = "quest_cluster"

# Times in seconds / milliseconds; the two sync tasks talk to the internet and get more retries.
WORKFLOW_TIMEOUT = 3 * 3600
SYNC_TIMEOUT = 1800
NOTEBOOK_TIMEOUT = 3600
SYNC_RETRIES = 3
SYNC_RETRY_INTERVAL_MS = 5 * 60 * 1000
TASK_RETRIES = 1
TASK_RETRY_INTERVAL_MS = 60 * 1000

# Notebook widgets (Settings field names) passed as base_parameters.
LOCATION_WIDGETS = ("env", "store", "catalog", "schema_prefix")
GOLD_WIDGETS = (
    "current_file",
    "start_year",
    "end_year",
    "include_annual",
    "report_series",
    "report_period",
)
NOTEBOOK_WIDGETS = {
    "load_bronze": LOCATION_WIDGETS,
    "load_silver": LOCATION_WIDGETS,
    "gold_analysis": (*LOCATION_WIDGETS, *GOLD_WIDGETS),
}

# Secret-scope keys holding the AWS credentials of the store (see docs/deploy.md).
AWS_KEY_ID_SECRET = ACCESS_KEY
AWS_SECRET_SECRET = SECRET_KEY

_PER_ENV: dict[str, dict[str, object]] = {
    "local": {
        "schedule": "0 0 7 * * ?",
        "managers": ("quest-engineers",),
        "runners": ("quest-oncall",),
        "viewers": ("quest-analysts",),
    },
    "dev": {
        "schedule": "0 0 7 * * ?",
        "managers": ("quest-engineers",),
        "runners": ("quest-oncall",),
        "viewers": ("quest-analysts",),
    },
    "prod": {
        # 06:00 New York: after BLS's 08:30 ET releases of the previous day have settled.
        "schedule": "0 0 6 * * ?",
        "managers": ("quest-admins",),
        "runners": ("quest-oncall",),
        "viewers": ("quest-analysts", "quest-engineers"),
    },
}


@dataclass(frozen=True)
class WorkflowConfig:
    """The orchestration settings of one environment."""

    env: str
    settings: Settings
    schedule: str
    timezone: str = "America/New_York"
    managers: tuple[str, ...] = ()
    runners: tuple[str, ...] = ()
    viewers: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def notify(self) -> list[str]:
        return sorted(self.settings.notify)

    @property
    def contact(self) -> str:
        """The contact e-mail BLS requires: the configured one, else the first notify address."""
        return self.settings.contact or (self.notify[0] if self.notify else "")

    @property
    def serverless(self) -> bool:
        return self.settings.serverless

    @property
    def catalog(self) -> str:
        # A local (per-user) deploy lands in the dev workspace, so it borrows dev's catalog.
        return self.settings.catalog or "quest_dev"

    @property
    def wheel_path(self) -> str:
        """The project wheel in a Unity Catalog volume (uploaded by `docs/deploy.md` step 4)."""
        return f"/Volumes/{self.catalog}/ops/wheels/quest-{project_version()}-py3-none-any.whl"

    @property
    def datausa_prefix_url(self) -> str:
        """The S3 folder the DataUSA sync writes to: the file-arrival trigger watches it."""
        store = self.settings.store
        if not store.startswith("s3://"):
            store = str(load_settings({"QUEST_ENV": "dev"}).store)
        folder = posixpath.dirname(self.settings.datausa_key)
        return f"{store.rstrip('/')}/{folder}/"

    @property
    def secret_scope(self) -> str:
        return self.settings.secret_scope or f"quest-{self.env}"

    def spark_env_vars(self) -> dict[str, str]:
        """Cluster environment: which settings the tasks load. The AWS keys are not here: the
        code reads them from the secret scope (`quest.store.credentials`)."""
        return {
            "QUEST_ENV": self.env if self.env != "local" else "dev",
            "QUEST_SECRET_SCOPE": self.secret_scope,
        }

    def spark_conf(self) -> dict[str, str]:
        """Spark's own S3 access, as secret references Databricks resolves at cluster start, so
        neither the bundle nor the job definition ever holds a key."""
        return {
            "spark.hadoop.fs.s3a.access.key": f"{{{{secrets/{self.secret_scope}/{AWS_KEY_ID_SECRET}}}}}",
            "spark.hadoop.fs.s3a.secret.key": f"{{{{secrets/{self.secret_scope}/{AWS_SECRET_SECRET}}}}}",
        }

    def widget_values(self, *names: str) -> dict[str, str]:
        """Notebook `base_parameters`: the given settings as the strings widgets carry."""
        values = {}
        for name in names:
            value = getattr(self.settings, name)
            if isinstance(value, tuple):
                value = ",".join(value)
            if isinstance(value, bool):
                value = "true" if value else "false"
            values[name] = str(value)
        return values

    def notebook(self, name: str) -> NotebookTask:
        """The medallion notebook `notebooks/<name>` with the widgets it declares as parameters."""
        return NotebookTask(
            notebook_path=f"notebooks/{name}",
            base_parameters=self.widget_values(*NOTEBOOK_WIDGETS[name]),
        )


def project_version() -> str:
    try:
        return version("quest")
    except PackageNotFoundError:  # a source checkout without `pip install -e .`
        from quest import __version__

        return __version__


def workflow_config(env: str, environ: dict[str, str] | None = None) -> WorkflowConfig:
    """The workflow settings of `env`, with `QUEST_*` overrides from `environ` (default: os.environ).

    Raises:
        ConfigError: for an environment that is not local, dev or prod.
    """
    if env not in ENVIRONMENTS:
        raise ConfigError(
            f"BRICKFLOW_ENV={env!r} is not a quest environment; use one of {', '.join(ENVIRONMENTS)}"
        )
    environ = dict(os.environ if environ is None else environ)
    environ["QUEST_ENV"] = env
    settings = load_settings(environ)
    per_env = _PER_ENV[env]
    return WorkflowConfig(
        env=env,
        settings=settings,
        schedule=str(per_env["schedule"]),
        managers=tuple(per_env["managers"]),
        runners=tuple(per_env["runners"]),
        viewers=tuple(per_env["viewers"]),
        tags={"project": "quest", "team": "data-engineering", "data": "bls-pr_datausa-population"},
    )


# --- BrickFlow objects built from a WorkflowConfig (shared by both workflows) ---------------


def job_cluster(cfg: WorkflowConfig):
    """The one shared job cluster, or None for serverless compute (`QUEST_SERVERLESS=true`)."""
    if cfg.serverless:
        return None
    return Cluster(
        name=CLUSTER_NAME,
        spark_version=DBR_VERSION,
        node_type_id=NODE_TYPE,
        num_workers=NUM_WORKERS,
        spark_env_vars=cfg.spark_env_vars(),
        spark_conf=cfg.spark_conf(),
    )


def workflow_emails(cfg: WorkflowConfig):
    return WorkflowEmailNotifications(
        on_start=cfg.notify, on_success=cfg.notify, on_failure=cfg.notify
    )


def task_settings(cfg: WorkflowConfig, *, internet: bool = False, timeout: int = NOTEBOOK_TIMEOUT):
    """Per-task settings: notifications, timeout and retries (more for tasks on the internet).

    Set on every task explicitly: `TaskSettings.merge` combines with `or`, so a task could not
    lower a workflow default to 0 or False anyway.
    """
    return TaskSettings(
        email_notifications=EmailNotifications(
            on_start=cfg.notify, on_success=cfg.notify, on_failure=cfg.notify
        ),
        timeout_seconds=timeout,
        max_retries=SYNC_RETRIES if internet else TASK_RETRIES,
        min_retry_interval_millis=SYNC_RETRY_INTERVAL_MS if internet else TASK_RETRY_INTERVAL_MS,
        retry_on_timeout=True,
    )


def default_task_settings(cfg: WorkflowConfig):
    """Defaults for tasks added later without settings of their own."""
    return task_settings(cfg)


def permissions(cfg: WorkflowConfig):
    return WorkflowPermissions(
        can_manage=[Group(g) for g in cfg.managers],
        can_manage_run=[Group(g) for g in cfg.runners],
        can_view=[Group(g) for g in cfg.viewers],
    )


def serverless_libraries(cfg: WorkflowConfig) -> list:
    """On serverless, workflow libraries become the job's environment (wheel + brickflow)."""
    if not cfg.serverless:
        return []
    return [PypiTaskLibrary(package=cfg.wheel_path), PypiTaskLibrary(package=brickflow_pin())]


def shared_workflow_settings(cfg: WorkflowConfig) -> dict:
    """The `Workflow` arguments both workflows share: one run at a time, the time limit, the
    cluster, task defaults, notifications, permissions, serverless libraries and tags."""
    return {
        "max_concurrent_runs": 1,
        "timeout_seconds": WORKFLOW_TIMEOUT,
        "default_cluster": job_cluster(cfg),
        "default_task_settings": default_task_settings(cfg),
        "email_notifications": workflow_emails(cfg),
        "permissions": permissions(cfg),
        "libraries": serverless_libraries(cfg),
        "tags": cfg.tags,
    }


def brickflow_pin() -> str:
    return f"brickflows=={version('brickflows')}"


@dataclass(frozen=True)
class VolumeWheelLibrary(TaskLibrary):
    """A wheel in a Unity Catalog volume: BrickFlow's WheelTaskLibrary only accepts dbfs:/ or
    s3:// paths, while Databricks keeps libraries in volumes."""

    whl: str
