"""Everything the workflows need to know per environment, in one place.

`quest.config.Settings` says where data lives and how a task behaves; this module adds what only
the orchestration needs: schedule and trigger, compute, retries, mail, permissions, who the jobs
run as, job parameters, tags and the wheel. The workflow modules in `workflows/` read
`workflow_config(env)` and hold no literal of their own.

Environments are BrickFlow's: `dev` and `prod` are shared deployments; `local` is what
`bf projects deploy` synthesizes without `--env`, a personal copy in the dev workspace whose
data lives apart from dev's (its own store folder and schema prefix, named after the deploying
user), and also what `quest run` executes on this machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from brickflow import (
    Cluster,
    Group,
    NotebookTask,
    ServicePrincipal,
    TaskSettings,
    Trigger,
    WorkflowEmailNotifications,
    WorkflowNotificationSettings,
    WorkflowPermissions,
)
from brickflow.bundles.model import (
    JobsHealthRules,
    JobsParameters,
    JobsTasksRunJobTask,
    JobsTriggerFileArrival,
)
from brickflow.engine.task import TaskLibrary

from quest.config import (
    ENVIRONMENTS,
    SCHEDULE_TIMEZONE,
    Settings,
    load_settings,
    validate_contact,
)
from quest.errors import ConfigError
from quest.orchestration.notebook import WRITE
from quest.orchestration.task_values import JOB_NAME_WIDGET, JOB_RUN_WIDGET, job_ref
from quest.redaction import hide_userinfo
from quest.sources.datausa import arrivals_folder
from quest.store.credentials import ACCESS_KEY, SECRET_KEY

# Databricks Runtime 19 was released with Apache Spark 4.2.0 and Python 3.12, the Spark of the
# `spark` extra (pyspark 4.2.0 + delta-spark 4.4.0) the tests run on. Runtime 19 is not an LTS
# release, and a cluster takes its latest update when it starts (docs/deploy.md, "Compute").
DBR_VERSION = "19.x-scala2.13"
# A few MB of BLS text and one JSON: one small worker is plenty, the driver does most of it.
NODE_TYPE = "m5d.large"
NUM_WORKERS = 1
CLUSTER_NAME = "quest_cluster"

# The two jobs. `quest_pipeline` is the only one that writes: `quest_reports` asks it to run.
PIPELINE = "quest_pipeline"
REPORTS = "quest_reports"

# Times in seconds / milliseconds; the two sync tasks talk to the internet and get more retries.
WORKFLOW_TIMEOUT = 3 * 3600
# A daily run takes minutes: past an hour something is stuck or slow, and the on-call hears of it.
DURATION_WARNING = 3600
SYNC_TIMEOUT = 1800
NOTEBOOK_TIMEOUT = 3600
SYNC_RETRIES = 3
SYNC_RETRY_INTERVAL_MS = 5 * 60 * 1000
TASK_RETRIES = 1
TASK_RETRY_INTERVAL_MS = 60 * 1000
# A run of `quest_reports` waits for the pipeline run it started, which may first wait in the
# queue behind the daily run.
REPORTS_TIMEOUT = 2 * WORKFLOW_TIMEOUT

# `quest_reports` watches the DataUSA folder of the store. The sync writes the object, then its
# metadata: wait for the burst to settle, and start at most one run per window.
FILE_ARRIVAL_MIN_SECONDS_BETWEEN_RUNS = 600
FILE_ARRIVAL_WAIT_AFTER_LAST_CHANGE_SECONDS = 120

# Job parameters of `quest_pipeline` and their defaults. Databricks pushes job parameters down to
# every notebook task as widgets; a run started with other values is a replay (see docs/deploy.md).
JOB_PARAMETERS = {"full_refresh": "false"}

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

# Settings the tasks read on the job cluster that none of their parameters carries (the
# years also reach the gold notebook as widgets; the DataUSA sync checks them too): a value set
# in the deploying shell reaches the cluster as an environment variable, so the jobs run with
# the settings they were deployed with (the rest are parameters, secrets or deploy-only).
CLUSTER_VARS = (
    "QUEST_BLS_PREFIX",
    "QUEST_BLS_EXCLUDE",
    "QUEST_DATAUSA_KEY",
    "QUEST_HTTP_TIMEOUT",
    "QUEST_HTTP_RETRIES",
    "QUEST_HTTP_BACKOFF",
    "QUEST_RETRY_AFTER_CAP",
    "QUEST_HTTP_DEADLINE",
    "QUEST_HTTP_LOW_SPEED_LIMIT",
    "QUEST_HTTP_LOW_SPEED_TIME",
    "QUEST_MAX_BODY_BYTES",
    "QUEST_MAX_LISTING_BYTES",
    "QUEST_MAX_LISTING_PAGES",
    "QUEST_MAX_LISTING_DEPTH",
    "QUEST_MAX_DELETE_FRACTION",
    "QUEST_START_YEAR",
    "QUEST_END_YEAR",
    # The DataUSA sync gets it as a parameter too; every task's and notebook's settings read it
    # with the years (a range across 2020 is refused for a cube of 1-year estimates only).
    "QUEST_DATAUSA_URL",
    "QUEST_DATAUSA_ALLOW_DROPPED_YEARS",
    "QUEST_LOCK_TIMEOUT",
    # The Python tasks get it as a parameter too; the notebooks' own S3 client (bronze reads the
    # store's checksums, each notebook withdraws the medallion record) only from here.
    "QUEST_S3_ENDPOINT_URL",
)

# Secret-scope keys holding the AWS credentials of the store (see docs/deploy.md).
AWS_KEY_ID_SECRET = ACCESS_KEY
AWS_SECRET_SECRET = SECRET_KEY

# Resolved by the Databricks CLI at deploy time: the deploying user's short name.
DEPLOYING_USER = "${workspace.current_user.short_name}"

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
        # Shared as prod is: under each deployer's home, every engineer's deploy kept its own
        # bundle state and made its own copy of the dashboard and the alerts.
        "bundle_base_path": "/Workspace/Shared/quest-dev",
    },
    "prod": {
        # 06:00 New York: after BLS's 08:30 ET releases of the previous day have settled.
        "schedule": "0 0 6 * * ?",
        "managers": ("quest-admins",),
        "runners": ("quest-oncall",),
        "viewers": ("quest-analysts", "quest-engineers"),
        # Deployed once for everyone, not under the deploying user's home.
        "bundle_base_path": "/Workspace/Shared/quest",
    },
}


@dataclass(frozen=True)
class WorkflowConfig:
    """The orchestration settings of one environment."""

    env: str
    settings: Settings
    schedule: str
    timezone: str = SCHEDULE_TIMEZONE
    managers: tuple[str, ...] = ()
    runners: tuple[str, ...] = ()
    viewers: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    bundle_base_path: str = ""
    # The CLUSTER_VARS given when deploying, as given.
    cluster_settings: dict[str, str] = field(default_factory=dict)

    @property
    def notify(self) -> list[str]:
        return sorted(self.settings.notify)

    @property
    def contact(self) -> str:
        """The contact e-mail BLS requires: the configured one, else the first notify address."""
        return self.settings.contact or next(iter(self.settings.notify), "")

    @property
    def serverless(self) -> bool:
        return self.settings.serverless

    @property
    def catalog(self) -> str:
        return self.settings.catalog

    @property
    def pause_status(self) -> str:
        """Schedules and triggers run by themselves in prod only; elsewhere runs are started by
        hand (*Run now*) until someone unpauses them."""
        return "UNPAUSED" if self.env == "prod" else "PAUSED"

    @property
    def success_mail(self) -> bool:
        """Prod mails failures only; dev also confirms the runs someone started by hand."""
        return self.env != "prod"

    @property
    def run_as(self) -> str:
        """The application ID of the service principal the jobs run as (empty: the deployer)."""
        return self.settings.run_as_service_principal

    @property
    def wheel_version(self) -> str:
        return self.settings.wheel_version or project_version()

    @property
    def wheel_dir(self) -> str:
        """The Unity Catalog volume folder holding the project wheels (`make deploy` uploads)."""
        return f"/Volumes/{self.catalog}/ops/wheels"

    @property
    def wheel_path(self) -> str:
        return f"{self.wheel_dir}/{wheel_filename(self.wheel_version)}"

    @property
    def datausa_arrivals_url(self) -> str:
        """The S3 folder where the DataUSA sync adds a new file for each change of the
        population (`quest.sources.datausa.arrivals_folder`): the file-arrival trigger watches
        it. Not the population's own folder: its one file is overwritten in place, and
        Databricks starts no run for a file overwritten under the same name."""
        return f"{self.settings.store.rstrip('/')}/{arrivals_folder(self.settings.datausa_key)}"

    @property
    def secret_scope(self) -> str:
        return self.settings.secret_scope or f"quest-{self.env}"

    def spark_env_vars(self) -> dict[str, str]:
        """Cluster environment: which settings the tasks load, and the `CLUSTER_VARS` given
        when deploying. The AWS keys are not here: the code reads them from the secret scope
        when they are there (`quest.store.credentials`)."""
        return {
            "QUEST_ENV": self.settings.env,
            "QUEST_SECRET_SCOPE": self.secret_scope,
            **self.cluster_settings,
        }

    def spark_conf(self) -> dict[str, str] | None:
        """Spark's own S3 keys, only with `QUEST_SPARK_KEYS_FROM_SECRETS=true`.

        Databricks resolves `{{secrets/...}}` when the cluster starts, and a missing secret
        stops the cluster from starting at all; by default Spark reaches the store through a
        Unity Catalog external location (or the instance profile) and needs no key.
        """
        if not self.settings.spark_keys_from_secrets:
            return None
        return {
            "spark.hadoop.fs.s3a.access.key": f"{{{{secrets/{self.secret_scope}/{AWS_KEY_ID_SECRET}}}}}",
            "spark.hadoop.fs.s3a.secret.key": f"{{{{secrets/{self.secret_scope}/{AWS_SECRET_SECRET}}}}}",
        }

    def aws_attributes(self) -> dict[str, str] | None:
        """The instance profile the cluster's boto3 calls run under, when one is configured."""
        arn = self.settings.instance_profile_arn
        return {"instance_profile_arn": arn} if arn else None

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
        """The medallion notebook `notebooks/<name>` with the widgets it declares as parameters.

        Shared targets run the notebooks from git (the job's `git_source`), by their path in the
        repository; a `local` target has no git source and runs the copy the Databricks CLI
        uploads with the bundle, named by its file.
        """
        local = self.env == "local"
        return NotebookTask(
            notebook_path=f"notebooks/{name}.py" if local else f"notebooks/{name}",
            source="WORKSPACE" if local else "GIT",
            # A job's notebook writes; opened by hand (no `write` widget given) it only reads.
            # Its job run and job name, should its notebook context not be readable there.
            base_parameters={
                **self.widget_values(*NOTEBOOK_WIDGETS[name]),
                WRITE: "true",
                JOB_RUN_WIDGET: job_ref("run_id"),
                JOB_NAME_WIDGET: job_ref("name"),
            },
        )


def project_version() -> str:
    try:
        return version("quest")
    except PackageNotFoundError:  # a source checkout without `pip install -e .`
        from quest import __version__

        return __version__


def wheel_filename(wheel_version: str) -> str:
    """The file name `pip wheel` gives the project wheel of that version."""
    return f"quest-{wheel_version}-py3-none-any.whl"


def workflow_config(env: str, environ: dict[str, str] | None = None) -> WorkflowConfig:
    """The workflow settings of `env`, with `QUEST_*` overrides from `environ` (default:
    os.environ).

    Raises:
        ConfigError: for an environment that is not local, dev or prod.
    """
    if env not in ENVIRONMENTS:
        raise ConfigError(
            f"BRICKFLOW_ENV={env!r} is not a quest environment; use one of {', '.join(ENVIRONMENTS)}"
        )
    environ = dict(os.environ if environ is None else environ)
    settings = load_settings({**environ, "QUEST_ENV": env})
    if env == "local":
        settings = _personal_locations(settings, load_settings({**environ, "QUEST_ENV": "dev"}))
    per_env = _PER_ENV[env]
    return WorkflowConfig(
        env=env,
        settings=settings,
        schedule=str(per_env["schedule"]),
        managers=tuple(per_env["managers"]),
        runners=tuple(per_env["runners"]),
        viewers=tuple(per_env["viewers"]),
        tags={"project": "quest", "team": "data-engineering", "data": "bls-pr_datausa-population"},
        bundle_base_path=str(per_env.get("bundle_base_path", "")),
        # (load_settings above has checked each value's type, naming the variable)
        cluster_settings={var: environ[var] for var in CLUSTER_VARS if var in environ},
    )


def _personal_locations(local: Settings, dev: Settings) -> Settings:
    """A `local` deployment runs in the dev workspace, on dev's catalog, secrets and bucket, but
    writes its own store folder and schemas (named after the deploying user), so it can never
    write what the dev jobs write. Settings given explicitly (`QUEST_STORE`, ...) win."""
    return local.with_overrides(
        env=dev.env,
        store=local.store or f"{dev.store.rstrip('/')}/users/{DEPLOYING_USER}",
        catalog=local.catalog or dev.catalog,
        secret_scope=local.secret_scope or dev.secret_scope,
        schema_prefix=local.schema_prefix or f"{DEPLOYING_USER}_",
    )


def deploy_refusals(cfg: WorkflowConfig) -> list[str]:
    """Why the target of `cfg` cannot be deployed as it stands (empty: it can)."""
    problems = []
    if cfg.serverless:
        problems.append(
            "QUEST_SERVERLESS=true is not supported: on serverless compute BrickFlow 2.0.0 "
            "attaches no library to notebook tasks (every task here is one, the Python tasks "
            "run the entrypoint notebook), so neither the quest wheel nor brickflows would be "
            "installed, and serverless has no instance profile for the store's S3 client. "
            "Unset QUEST_SERVERLESS to deploy with the job cluster."
        )
    if not cfg.settings.wheel_version:
        problems.append(
            "QUEST_WHEEL_VERSION is not set, so the jobs would install a wheel nobody uploaded: "
            f"deploy with `make deploy ENV={cfg.env}`, which builds the wheel of this commit, "
            "uploads it and sets the version."
        )
    elif "+" in cfg.settings.wheel_version and not cfg.settings.bundle_offline:
        problems.append(
            f"QUEST_WHEEL_VERSION={cfg.settings.wheel_version} is a local version (a '+'): "
            "uploaded to a volume, its file name may be stored with a space for the '+', and "
            f"every task would fail to install it. Deploy with `make deploy ENV={cfg.env}`, "
            "which versions the wheel of a commit without one."
        )
    if cfg.env == "prod" and not cfg.run_as:
        problems.append(
            "prod runs as a service principal: set QUEST_RUN_AS_SERVICE_PRINCIPAL to its "
            "application ID (docs/deploy.md, step 2)."
        )
    placeholders = sorted({a for a in (*cfg.notify, cfg.contact) if _reserved_domain(a)})
    if placeholders and not cfg.settings.bundle_offline:
        problems.append(
            f"{', '.join(placeholders)}: the built-in placeholder addresses, on a domain no mail "
            "reaches, so failure mail would go nowhere and BLS would see no real contact: "
            "export QUEST_NOTIFY=you@yourco.com (comma-separated) and QUEST_CONTACT before "
            "deploying."
        )
    if not cfg.notify:
        problems.append(
            "QUEST_NOTIFY names no address, so failure mail and the alerts would go to nobody: "
            "export QUEST_NOTIFY=you@yourco.com (comma-separated) before deploying."
        )
    try:
        validate_contact(cfg.settings.with_overrides(contact=cfg.contact))
    except ConfigError:
        problems.append(
            f"QUEST_CONTACT={cfg.contact!r} (or the first QUEST_NOTIFY address) is not an e-mail "
            "address: BLS refuses requests without one, so every run would fail. Export "
            "QUEST_CONTACT=you@yourco.com before deploying."
        )
    # Task parameters and cluster variables are shown to everyone who may view the job, on
    # every run's page, and kept in the bundle's state.
    for var, url in _shown_urls(cfg):
        if url and hide_userinfo(url) != url:
            problems.append(
                f"{var}={hide_userinfo(url)!r} holds a credential (a user and password, or a "
                "token in its query), which the jobs would show to everyone who may view them: "
                "give a URL without one (BLS and DataUSA need none; the store's keys go in the "
                "secret scope, docs/deploy.md step 2)."
            )
    return problems + _location_refusals(cfg.settings)


def _location_refusals(settings: Settings) -> list[str]:
    """Why the catalog or the store cannot be a job's (empty: they can)."""
    problems = []
    if not settings.workspace_catalog:
        problems.append(
            f"QUEST_CATALOG={settings.catalog!r} names no Unity Catalog catalog: the jobs keep "
            "their tables, the wheel's volume (/Volumes/<catalog>/ops/wheels) and the record of "
            "the last load in one; empty two-part names are for local runs. Set it, or unset it "
            "for the environment's own."
        )
    if not settings.store.startswith("s3://"):
        problems.append(
            f"QUEST_STORE={settings.store!r} is not an s3:// URI: a job cluster cannot reach a "
            "local folder, and the file-arrival trigger watches S3."
        )
    return problems


def _shown_urls(cfg: WorkflowConfig) -> list[tuple[str, str]]:
    """The URL settings a deploy writes into the jobs, as (variable, value)."""
    settings = cfg.settings
    return [
        ("QUEST_BLS_URL", settings.bls_url),
        ("QUEST_DATAUSA_URL", settings.datausa_url),
        ("QUEST_S3_ENDPOINT_URL", settings.s3_endpoint_url),
        ("QUEST_STORE", settings.store),
    ]


def _reserved_domain(address: str) -> bool:
    """An address on a domain reserved for examples and tests (RFC 2606), where no mail is
    delivered."""
    domain = address.rpartition("@")[2].lower().rstrip(".")
    return any(domain == d or domain.endswith("." + d) for d in _RESERVED_DOMAINS)


_RESERVED_DOMAINS = ("example.org", "example.com", "example.net", "example", "test", "invalid")


def check_deployable(cfg: WorkflowConfig) -> None:
    """Refuse to synthesize a target that would deploy wrong.

    Raises:
        ConfigError: naming every setting to fix.
    """
    problems = deploy_refusals(cfg)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"cannot deploy the {cfg.env} target of quest:\n{lines}")


# --- BrickFlow objects built from a WorkflowConfig ----------------------------------------


def job_cluster(cfg: WorkflowConfig) -> Cluster:
    """The one job cluster `quest_pipeline` runs every task on."""
    return Cluster(
        name=CLUSTER_NAME,
        spark_version=DBR_VERSION,
        node_type_id=NODE_TYPE,
        num_workers=NUM_WORKERS,
        spark_env_vars=cfg.spark_env_vars(),
        spark_conf=cfg.spark_conf(),
        aws_attributes=cfg.aws_attributes(),
    )


def workflow_emails(cfg: WorkflowConfig, *, duration_warning: bool) -> WorkflowEmailNotifications:
    """Job-level mail only: failures always, the duration warning of a job with a health rule,
    successes outside prod. Tasks send none (a job failure mail names the failed task)."""
    return WorkflowEmailNotifications(
        on_failure=cfg.notify,
        on_duration_warning_threshold_exceeded=cfg.notify if duration_warning else None,
        on_success=cfg.notify if cfg.success_mail else None,
    )


def health_rules() -> list[JobsHealthRules]:
    """The duration warning: a run still going after `DURATION_WARNING` seconds mails."""
    return [
        JobsHealthRules(metric="RUN_DURATION_SECONDS", op="GREATER_THAN", value=DURATION_WARNING)
    ]


def task_settings(cfg: WorkflowConfig, *, internet: bool = False, timeout: int = NOTEBOOK_TIMEOUT):
    """Per-task settings: timeout and retries (more for tasks on the internet).

    Set on every task explicitly: `TaskSettings.merge` combines with `or`, so a task could not
    lower a workflow default to 0 or False anyway.
    """
    return TaskSettings(
        timeout_seconds=timeout,
        max_retries=SYNC_RETRIES if internet else TASK_RETRIES,
        min_retry_interval_millis=SYNC_RETRY_INTERVAL_MS if internet else TASK_RETRY_INTERVAL_MS,
        retry_on_timeout=True,
    )


def permissions(cfg: WorkflowConfig) -> WorkflowPermissions:
    """The groups' permissions on a job; with a run-as service principal, also its *Can manage
    run*: `quest_reports` starts `quest_pipeline` (a Run Job task) as that principal, which
    otherwise holds no permission on the job it starts."""
    run_as = [ServicePrincipal(cfg.run_as)] if cfg.run_as else []
    return WorkflowPermissions(
        can_manage=[Group(g) for g in cfg.managers],
        can_manage_run=[Group(g) for g in cfg.runners] + run_as,
        can_view=[Group(g) for g in cfg.viewers],
    )


def _job_settings(cfg: WorkflowConfig) -> dict:
    """What both jobs share: one run at a time, later runs queued (never skipped), no mail for
    a skipped run, permissions, who they run as, tags."""
    return {
        "max_concurrent_runs": 1,
        "queue": True,
        "notification_settings": WorkflowNotificationSettings(no_alert_for_skipped_runs=True),
        "permissions": permissions(cfg),
        "run_as_service_principal": cfg.run_as or None,
        "tags": cfg.tags,
    }


def pipeline_workflow_settings(cfg: WorkflowConfig) -> dict:
    """The `Workflow` arguments of `quest_pipeline`: its time limit and duration warning, the
    daily schedule, the job cluster and the job parameters of a replay (no task defaults), with
    what both jobs share."""
    return {
        **_job_settings(cfg),
        "timeout_seconds": WORKFLOW_TIMEOUT,
        "health": health_rules(),
        "email_notifications": workflow_emails(cfg, duration_warning=True),
        "schedule_quartz_expression": cfg.schedule,
        "timezone": cfg.timezone,
        "schedule_pause_status": cfg.pause_status,
        "default_cluster": job_cluster(cfg),
        # No task defaults: every task sets its own (`task_settings`), and a default would reach
        # the if/else condition task, which takes no retries (BrickFlow drops only its timeout
        # and max_retries, and would keep the retry interval and retry_on_timeout).
        "parameters": [JobsParameters(name=k, default=v) for k, v in JOB_PARAMETERS.items()],
    }


def reports_workflow_settings(cfg: WorkflowConfig) -> dict:
    """The `Workflow` arguments of `quest_reports`: its file-arrival trigger, no compute of its
    own (its one task starts `quest_pipeline`, whose own health rule warns of a slow run), with
    what both jobs share."""
    return {
        **_job_settings(cfg),
        "timeout_seconds": REPORTS_TIMEOUT,
        "email_notifications": workflow_emails(cfg, duration_warning=False),
        "trigger": datausa_arrival(cfg),
    }


def datausa_arrival(cfg: WorkflowConfig) -> Trigger:
    """A new DataUSA file in the store starts a run (prod); paused elsewhere."""
    return Trigger(
        file_arrival=JobsTriggerFileArrival(
            url=cfg.datausa_arrivals_url,
            min_time_between_triggers_seconds=FILE_ARRIVAL_MIN_SECONDS_BETWEEN_RUNS,
            wait_after_last_change_seconds=FILE_ARRIVAL_WAIT_AFTER_LAST_CHANGE_SECONDS,
        ),
        pause_status=cfg.pause_status,
    )


def run_pipeline_task() -> JobsTasksRunJobTask:
    """A Run Job task starting `quest_pipeline` of the same deployment with its defaults. The
    pipeline's runs are queued one at a time, so the run it starts never overlaps another."""
    return JobsTasksRunJobTask(job_id=f"${{resources.jobs.{PIPELINE}.id}}")


def run_pipeline_task_settings() -> TaskSettings:
    """No retry (a retry would start the whole pipeline again: its own tasks retry), and time
    for a queued run to wait and then finish."""
    return TaskSettings(timeout_seconds=REPORTS_TIMEOUT)


def brickflow_pin() -> str:
    return f"brickflows=={version('brickflows')}"


@dataclass(frozen=True)
class VolumeWheelLibrary(TaskLibrary):
    """A wheel in a Unity Catalog volume: BrickFlow's WheelTaskLibrary only accepts dbfs:/ or
    s3:// paths, while Databricks keeps libraries in volumes."""

    whl: str
