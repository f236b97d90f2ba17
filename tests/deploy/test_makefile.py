"""What `make` plans on a checkout whose `.venv/` is already built (`make -n`: nothing is run).

The venv here is a stand-in: `.venv/bin/python` is this interpreter, and the install stamps are
newer than `pyproject.toml`, as after a `make setup`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# A Python version other than this env's (the suite runs on 3.12, and on 3.11 too).
OTHER = "3.12" if sys.version_info[:2] == (3, 11) else "3.11"


@pytest.fixture
def checkout(tmp_path) -> Path:
    repo = tmp_path / "quest"
    (repo / ".ci").mkdir(parents=True)
    for name in ("Makefile", "pyproject.toml", "constraints.txt"):
        shutil.copy2(REPO / name, repo / name)
    shutil.copy2(REPO / ".ci" / "find-python", repo / ".ci" / "find-python")
    bin_dir = repo / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / "quest").write_text("#!/bin/sh\n")
    (bin_dir / "quest").chmod(0o755)
    built, later = time.time() + 30, time.time() + 60
    (repo / ".venv" / ".built").touch()
    os.utime(repo / ".venv" / ".built", (built, built))
    for stamp in (".installed", ".spark-packages"):
        (repo / ".venv" / stamp).touch()
        os.utime(repo / ".venv" / stamp, (later, later))
    return repo


def _python_of_version(folder: Path, version: str, ensurepip: bool = True) -> Path:
    """A stand-in interpreter that says it is `version`, imports venv and ensurepip (or not:
    Debian without python3.X-venv), and fails whatever else it is asked."""
    path = folder / f"python{version}"
    path.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f"  *version_info*) echo {version};;\n"
        f"  *ensurepip*) exit {0 if ensurepip else 1};;\n"
        "  *) exit 1;;\n"
        "esac\n"
    )
    path.chmod(0o755)
    return path


def plan(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=True,
    )
    return done.stdout


def test_another_python_version_on_the_command_line_builds_the_venv_again(checkout, tmp_path):
    other = _python_of_version(tmp_path, OTHER)
    steps = plan(checkout, f"PYTHON={other}", "test")
    assert "rm -rf .venv" in steps
    assert f"{other} -m venv .venv" in steps
    assert "pip install --quiet -c constraints.txt -e" in steps
    assert "quest spark-setup" in steps


def test_the_same_python_version_keeps_the_venv(checkout, tmp_path):
    same = _python_of_version(tmp_path, f"{sys.version_info.major}.{sys.version_info.minor}")
    steps = plan(checkout, f"PYTHON={same}", "test")
    assert "rm -rf" not in steps
    assert "pip install" not in steps
    assert "pytest" in steps


def test_a_python_variable_in_the_environment_is_not_taken_for_ours(checkout, tmp_path):
    other = _python_of_version(tmp_path, OTHER)
    shutil.rmtree(checkout / ".venv")
    steps = plan(checkout, "test", env={"PYTHON": str(other)})
    assert "-m venv .venv" in steps
    assert str(other) not in steps


def test_deploy_installs_a_changed_pyproject_first(checkout):
    (checkout / "pyproject.toml").touch()
    later = time.time() + 120
    os.utime(checkout / "pyproject.toml", (later, later))
    steps = plan(checkout, "deploy", "ENV=dev")
    install = steps.index("pip install --quiet -c constraints.txt -e")
    assert install < steps.index("quest.orchestration.deploy")


def test_clean_keeps_the_homes_and_the_bench_results_and_make_alone_only_helps(checkout):
    steps = plan(checkout, "clean")
    assert ".quest" not in steps and "bench/results" not in steps and "build dist" in steps
    assert "make demo" in plan(checkout)


def test_a_venv_whose_python_no_longer_runs_is_built_and_installed_again(checkout):
    # A pyenv version removed under it: before, .venv was built again but its stamps were
    # taken as current, so ruff and pytest were missing from the new one.
    (checkout / ".venv" / "bin" / "python").unlink()
    (checkout / ".venv" / "bin" / "python").symlink_to(checkout / "gone" / "python3.12")
    steps = plan(checkout, "lint")
    assert steps.index("rm -rf .venv") < steps.index("-m venv .venv")
    assert steps.index("-m venv .venv") < steps.index("pip install --quiet -c constraints.txt")
    assert steps.index("pip install --quiet -c constraints.txt") < steps.index("ruff check")


def _lint_with(checkout: Path, python: Path) -> subprocess.CompletedProcess:
    """`make PYTHON=<python> lint` in the checkout, run for real."""
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(checkout), f"PYTHON={python}", "lint"],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_python_that_cannot_build_a_venv_leaves_the_one_there(checkout, tmp_path):
    no_pip = _python_of_version(tmp_path, OTHER, ensurepip=False)
    done = _lint_with(checkout, no_pip)
    assert done.returncode != 0
    assert "cannot build a virtual env with pip" in done.stdout + done.stderr
    assert (checkout / ".venv" / "bin" / "python").exists()
    assert (checkout / ".venv" / ".installed").exists()


def test_a_python_quest_does_not_support_leaves_the_venv_there(checkout, tmp_path):
    # Before, `make PYTHON=python3.13 ...` removed a working .venv, built one pip then refused
    # to install quest into, and the next plain `make` kept that one.
    newer = _python_of_version(tmp_path, "3.13")
    done = _lint_with(checkout, newer)
    assert done.returncode != 0
    assert "is not Python 3.11 or 3.12" in done.stdout + done.stderr
    assert (checkout / ".venv" / ".installed").exists()


def test_a_venv_built_before_its_marker_is_not_installed_again(checkout):
    # The first make after the marker came: dated as the venv (pyvenv.cfg), not now, so a
    # clone's .venv is not installed again (pip and Ivy may need the network).
    (checkout / ".venv" / ".built").unlink()
    (checkout / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    os.utime(checkout / ".venv" / "pyvenv.cfg", (1, 1))
    subprocess.run(["make", "-s", "-C", str(checkout), ".venv/.built"], check=True)
    assert (checkout / ".venv" / ".built").stat().st_mtime == 1
    steps = plan(checkout, "test")
    assert "pip install" not in steps and "spark-setup" not in steps


def test_a_rebuild_variable_in_the_environment_rebuilds_nothing(checkout):
    steps = plan(checkout, "lint", env={"REBUILD": "yes"})
    assert "rm -rf" not in steps and "pip install" not in steps
