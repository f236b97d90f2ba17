# Databricks notebook source
# The BrickFlow project entrypoint: `bf projects deploy` runs it to synthesize the bundle, and
# Databricks runs it as the notebook behind every Python task.

import os
import sys

from brickflow import BrickflowEnvVars, Project, PypiTaskLibrary  # brickflow must come first

import workflows
from quest.config import load_settings
from quest.errors import ConfigError
from quest.ops.bundle import add_ops_resources
from quest.orchestration.bundle import (
    GIT_PROVIDER,
    GIT_REPO,
    codegen_kwargs,
    represent_integral_floats_as_ints,
)
from quest.orchestration.workflow_config import (
    VolumeWheelLibrary,
    brickflow_pin,
    check_deployable,
    workflow_config,
)


def main() -> None:
    """Project entrypoint."""
    from brickflow import ctx

    cfg = workflow_config(ctx.env)
    if os.environ.get(BrickflowEnvVars.BRICKFLOW_MODE.value) == "deploy":
        try:
            check_deployable(cfg)
        except ConfigError as exc:
            sys.exit(f"quest: {exc}")
        if cfg.bundle_base_path:
            # BrickFlow reads the bundle's workspace root from this variable only.
            os.environ.setdefault(
                BrickflowEnvVars.BRICKFLOW_BUNDLE_BASE_PATH.value, cfg.bundle_base_path
            )
    represent_integral_floats_as_ints()
    with Project(
        "quest",
        git_repo=GIT_REPO,
        provider=GIT_PROVIDER,
        # Project libraries reach every task (task-level libraries would replace the workflow's).
        libraries=[
            VolumeWheelLibrary(whl=cfg.wheel_path),
            PypiTaskLibrary(package=brickflow_pin()),
        ],
        codegen_kwargs=codegen_kwargs(load_settings().bundle_offline),
    ) as f:
        f.add_pkg(workflows)
    # The dashboard and SQL alerts: BrickFlow's bundle model has no place for them.
    add_ops_resources(cfg.env)


if __name__ == "__main__":
    main()
