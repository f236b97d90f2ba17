"""The project wheel installs on a Databricks Runtime 19 cluster without replacing its Spark.

The runtime is Python 3.12 with its own Spark (pyspark 4.2.0) and Delta, and a set of
preinstalled libraries. Its stand-in here is a fresh Python 3.12 virtual env (found by
`.ci/find-python`) that sees, through a `.pth` file, a read-only layer of the libraries this
project's env holds, pyspark 4.2.0 among them and delta-spark left out. The wheel is built the
way `make deploy` builds it and installed with pip without an index: anything it asked for that
the layer lacks (delta-spark, another pyspark) fails the install instead of being downloaded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from quest.orchestration.deploy import build_wheel

REPO = Path(__file__).resolve().parents[2]
VERSION = "0.1.0.dev20261205000000"
# Databricks Runtime 19 (19.x-scala2.13) preinstalled versions, from the runtime's published
# environment (databricks/environments, python/dbr/19.x-scala2.13).
RUNTIME_19 = {"boto3": "1.40.46", "requests": "2.32.5", "pyyaml": "6.0.3"}
# What the runtime has that this project must not bring: its own Spark and Delta.
RUNTIME_OWN = {"pyspark", "delta-spark"}
# Left out of the layer: Delta's pip package (the runtime has none) and this project itself.
NOT_IN_LAYER = ("delta", "delta_spark-", "quest-", "__editable__", "_quest", "pip", "pip-")
PIPELINE_MODULES = (
    "quest.medallion.bronze",
    "quest.medallion.silver",
    "quest.medallion.gold",
    "quest.medallion.report",
    "quest.medallion.charts",  # the gold notebook's
    "quest.ops.task_hook",  # every job task's and notebook's: the run history
    "quest.orchestration.tasks",
    "quest.orchestration.notebook",
    "quest.orchestration.workflow_config",
    "quest.sources.bls",
    "quest.sources.datausa",
    "quest.store.s3",
)
PROBE = """
import importlib, importlib.metadata as md, json, sys
mods = sys.argv[1].split(",")
for m in mods:
    importlib.import_module(m)
import pyspark
def has(name):
    try:
        md.distribution(name)
        return True
    except md.PackageNotFoundError:
        return False
print(json.dumps({
    "python": "%d.%d" % sys.version_info[:2],
    "pyspark": pyspark.__version__,
    "pyspark_file": pyspark.__file__,
    "quest": md.version("quest"),
    "quest_file": importlib.import_module("quest").__file__,
    "requires": md.requires("quest"),
    "delta_spark": has("delta-spark"),
    "delta_module": importlib.util.find_spec("delta") is not None,
}))
"""


def _python312() -> str:
    done = subprocess.run(
        [str(REPO / ".ci" / "find-python"), "3.12"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"no Python 3.12 (the runtime's): {done.stderr.strip()}")
    return done.stdout.strip()


def _pip(*args: str, python: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
        + list(args),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(
        REPO / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    return build_wheel(source, VERSION, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def runtime(tmp_path_factory) -> dict:
    """A Python 3.12 env standing in for the runtime: pyspark 4.2.0, no delta-spark."""
    root = tmp_path_factory.mktemp("runtime")
    ours = Path(sysconfig.get_paths()["purelib"])
    layer = root / "preinstalled"
    layer.mkdir()
    for entry in ours.iterdir():
        if entry.suffix == ".pth" or entry.name.startswith(NOT_IN_LAYER):
            continue
        (layer / entry.name).symlink_to(entry)
    venv = root / "venv"
    subprocess.run([_python312(), "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "databricks_runtime.pth").write_text(f"{layer}\n", encoding="utf-8")
    return {"python": python, "site": Path(site), "layer": layer}


def test_runtime_dependencies_are_ranges_the_runtime_19_versions_satisfy():
    with (REPO / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    requirements = {Requirement(r).name.lower(): Requirement(r) for r in project["dependencies"]}
    assert not RUNTIME_OWN & set(requirements), "Spark and Delta are the runtime's own"
    for name, preinstalled in RUNTIME_19.items():
        assert Version(preinstalled) in requirements[name].specifier, (name, preinstalled)
    spark = {Requirement(r).name for r in project["optional-dependencies"]["spark"]}
    assert spark == RUNTIME_OWN
    # The JVM-free history writer serves a local quiet day only: a cluster writes with Spark.
    assert "deltalake" not in requirements
    assert {Requirement(r).name for r in project["optional-dependencies"]["local"]} == {"deltalake"}
    assert project["requires-python"] == ">=3.11,<3.13"


@pytest.mark.skipif(
    sys.version_info[:2] != (3, 12),
    reason="the runtime's stand-in (Python 3.12) reuses this env's libraries, whose compiled "
    "modules are built for the Python of this env: run it from a 3.12 env (make test's)",
)
def test_wheel_installs_beside_the_runtimes_pyspark_without_touching_it(wheel, runtime):
    layer_pyspark = runtime["layer"] / "pyspark"
    assert layer_pyspark.is_symlink(), "the stand-in must hold pyspark before the install"
    installed = _pip(
        "install", "--no-index", "--no-cache-dir", str(wheel), python=runtime["python"]
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert f"Successfully installed quest-{VERSION}" in installed.stdout
    added = sorted(p.name for p in runtime["site"].iterdir() if p.name != "__pycache__")
    assert added == ["databricks_runtime.pth", "quest", f"quest-{VERSION}.dist-info"], added
    consistent = _pip("check", python=runtime["python"])
    assert consistent.returncode == 0, consistent.stdout + consistent.stderr

    probe = subprocess.run(
        [str(runtime["python"]), "-c", PROBE, ",".join(PIPELINE_MODULES)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert found["python"] == "3.12"
    assert found["pyspark"] == "4.2.0"
    assert found["pyspark_file"].startswith(str(runtime["layer"])), "pyspark was replaced"
    assert found["quest"] == VERSION
    assert found["quest_file"].startswith(str(runtime["site"]))
    assert not found["delta_spark"] and not found["delta_module"], "delta-spark was added"
    for requirement in map(Requirement, found["requires"]):
        if requirement.name in RUNTIME_OWN:
            assert requirement.marker is not None and "spark" in str(requirement.marker)
