"""`make deploy ENV=...`: the wheel of the commit, uploaded where the bundle points, then deployed.

Each test runs the make target itself on a throw-away checkout (a commit of this project's
files, pushed to a bare remote), with the real `.venv`. No Databricks is reachable: the dry run
needs none, and the full run is given stand-ins for the Databricks CLI and `bf` that record what
they were asked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from quest.orchestration.bundle import synth_target
from quest.orchestration.deploy import wheel_version
from quest.orchestration.workflow_config import wheel_filename

REPO = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)  # this project's virtual env, which `make deploy` must not rebuild
FILES = ("Makefile", "pyproject.toml", "README.md", "constraints.txt", "bundle.yml", ".gitignore")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def _commit(repo: Path, message: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", message)


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A clean checkout of this project's files whose commit a remote branch holds."""
    assert (VENV / "bin" / "quest").is_file(), f"{VENV} is not the project's env"
    repo = tmp_path / "quest"
    repo.mkdir()
    for name in FILES:
        shutil.copy2(REPO / name, repo / name)
    ignore = shutil.ignore_patterns("*.egg-info", "__pycache__")
    shutil.copytree(REPO / "src", repo / "src", ignore=ignore)
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, "the project")
    _git(repo, "remote", "add", "origin", str(remote))
    _git(repo, "push", "-q", "origin", "main")
    return repo


TEAM = {"QUEST_NOTIFY": "data-team@yourco.com", "QUEST_CONTACT": "data-team@yourco.com"}


def make_deploy(repo: Path, *assignments: str, extra_env: dict | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUEST_", "BRICKFLOW_"))}
    env.update(TEAM)  # a deploy refuses the placeholder addresses
    # The repository the jobs would fetch their notebooks from: the checkout's bare remote.
    env["BRICKFLOW_GIT_REPO"] = str(repo.parent / "remote.git")
    env.update(extra_env or {})
    # Make cannot name a target whose path holds a space (a clone in "My Projects"): the env is
    # handed over through a link in the test's own folder.
    venv = repo.parent / "venv"
    if not venv.exists():
        venv.symlink_to(VENV, target_is_directory=True)
    # `-o`: this project's env is taken as installed, whatever the copied pyproject's date;
    # else `deploy`'s install step would point its editable install at this throw-away checkout.
    installed = f"{venv}/.installed"
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(repo), "-o", installed, "deploy"]
        + [f"VENV={venv}", *assignments],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def _version(repo: Path, commit: str) -> str:
    """The wheel version a deploy of `commit` gives: a development release numbered by the
    commit's time in UTC and its first 7 hex digits, with no '+' (a local version's '+' may
    reach the volume as a space)."""
    version = wheel_version(repo, commit)
    seconds = int(_git(repo, "log", "-1", "--no-show-signature", "--format=%ct", commit))
    stamp = f"{datetime.fromtimestamp(seconds, UTC):%Y%m%d%H%M%S}"
    assert version == f"0.1.0.dev{stamp}{int(commit[:7], 16):09d}", version
    assert "+" not in wheel_filename(version)
    return version


def test_two_commits_of_the_same_second_get_two_wheel_versions(checkout):
    # A rebase stamps many commits with one second: numbered by the time alone, the second
    # commit's wheel overwrote the first's in the volume under the same name.
    first = _git(checkout, "rev-parse", "HEAD")
    (checkout / "README.md").write_text("changed\n")
    when = _git(checkout, "show", "-s", "--format=%cI", first)
    _git(checkout, "add", "-A")
    subprocess.run(
        ["git", "-C", str(checkout), "-c", "user.name=t", "-c", "user.email=t@example.org"]
        + ["commit", "-qm", "same second"],
        env={**os.environ, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when},
        check=True,
    )
    second = _git(checkout, "rev-parse", "HEAD")
    assert second != first
    assert _git(checkout, "show", "-s", "--format=%ct", second) == _git(
        checkout, "show", "-s", "--format=%ct", first
    )
    assert wheel_version(checkout, first) != wheel_version(checkout, second)


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen to sign")
def test_a_signed_commit_shown_with_its_signature_check_still_gets_its_version(checkout, tmp_path):
    # With log.showSignature set, `git show` prints the signature's check before the format:
    # `int()` of it failed, and `make deploy` ended in a traceback.
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (tmp_path / "allowed").write_text(f"t@example.org {(tmp_path / 'key.pub').read_text()}")
    for name, value in {
        "gpg.format": "ssh",
        "user.signingkey": str(key),
        "gpg.ssh.allowedSignersFile": str(tmp_path / "allowed"),
        "log.showSignature": "true",
    }.items():
        _git(checkout, "config", name, value)
    (checkout / "README.md").write_text("signed\n")
    _git(checkout, "add", "-A")
    _git(
        checkout,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.org",
        "commit",
        "-q",
        "-S",
        "-m",
        "s",
    )
    signed = _git(checkout, "rev-parse", "HEAD")
    assert "signature" in _git(checkout, "show", "-s", "--format=%ct", signed)
    assert wheel_version(checkout, signed) == _version(checkout, signed)


def _tool(folder: Path, name: str, script: str = "") -> Path:
    """An executable shell script `folder/name` standing in for a CLI (`databricks`, `bf`)."""
    tool = folder / name
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(0o755)
    return tool


def _step(output: str, name: str) -> str:
    (line,) = [ln.strip() for ln in output.splitlines() if ln.strip().startswith(f"{name}: ")]
    return line


def test_dry_run_prints_every_step_and_changes_nothing(checkout):
    commit = _git(checkout, "rev-parse", "HEAD")
    version = _version(checkout, commit)
    wheel = wheel_filename(version)

    # A pyproject newer than this env's install, as after a pull: the env is still not
    # installed from the throw-away checkout (`make_deploy`'s -o).
    installed = (VENV / ".installed").stat().st_mtime if (VENV / ".installed").exists() else None
    os.utime(checkout / "pyproject.toml")
    done = make_deploy(checkout, "ENV=dev", "DRY_RUN=1", "DATABRICKS=no-such-cli")

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "pip install" not in out
    if installed is not None:
        assert (VENV / ".installed").stat().st_mtime == installed
    assert "dry run" in out
    assert commit in _step(out, "check")
    assert version in _step(out, "build") and f"dist/{wheel}" in _step(out, "build")
    upload = _step(out, "upload")
    assert upload.endswith(f"dist/{wheel} dbfs:/Volumes/quest_dev/ops/wheels/ --overwrite")
    deploy = _step(out, "deploy")
    assert f"QUEST_WHEEL_VERSION={version}" in deploy
    assert f"BRICKFLOW_GIT_REF=commit/{commit}" in deploy
    assert "projects deploy --project quest --env dev --skip-libraries" in deploy
    assert "bundle.yml" in _step(out, "restore")
    assert _git(checkout, "status", "--porcelain") == "" and not (checkout / "dist").exists()

    # The bundle deployed with that version makes every task install the uploaded wheel.
    bundle = synth_target("dev", {"QUEST_WHEEL_VERSION": version})
    (target,) = bundle["targets"].values()
    libraries = {
        lib["whl"]
        for job in target["resources"]["jobs"].values()
        for task in job["tasks"]
        for lib in task.get("libraries", [])
        if "whl" in lib
    }
    assert libraries == {f"/Volumes/quest_dev/ops/wheels/{wheel}"}


def test_deploy_builds_uploads_deploys_the_same_version_and_restores_bundle_yml(checkout, tmp_path):
    log = tmp_path / "calls.log"
    databricks = _tool(
        tmp_path,
        "databricks",
        f'echo "databricks $*" >> {log}\n'
        'test -f "$3" || { echo "no wheel at $3" >&2; exit 1; }\n',
    )
    bf = _tool(
        tmp_path,
        "bf",
        f'echo "bf $*" >> {log}\n'
        f'env | grep -E "^(QUEST_WHEEL_VERSION|QUEST_BUNDLE_OFFLINE|BRICKFLOW_[A-Z_]+)=" | sort >> {log}\n'
        "echo 'targets: {quest-dev: {}}' > bundle.yml\n",
    )
    committed = (checkout / "bundle.yml").read_bytes()
    commit = _git(checkout, "rev-parse", "HEAD")
    version = _version(checkout, commit)

    # Left in the shell by a hand-run `bf` or synth: what the deploy sets must win over them.
    leftovers = {
        "QUEST_WHEEL_VERSION": "0.0.1",
        "BRICKFLOW_GIT_REF": "commit/0000000",
        "QUEST_BUNDLE_OFFLINE": "true",
    }
    done = make_deploy(
        checkout,
        "ENV=dev",
        "PROFILE=quest",
        f"DATABRICKS={databricks}",
        f"BF={bf}",
        extra_env=leftovers,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    calls = log.read_text().splitlines()
    assert "QUEST_BUNDLE_OFFLINE=false" in calls  # the real workspace user, not the stand-in
    wheel = checkout / "dist" / wheel_filename(version)
    assert calls[0] == (
        f"databricks fs cp {wheel} dbfs:/Volumes/quest_dev/ops/wheels/ --overwrite --profile quest"
    )
    assert calls[1] == (
        "bf projects deploy --project quest --env dev --skip-libraries --auto-approve "
        "--profile quest"
    )
    assert f"QUEST_WHEEL_VERSION={version}" in calls
    assert f"BRICKFLOW_GIT_REF=commit/{commit}" in calls
    assert f"BRICKFLOW_BUNDLE_CLI_EXEC={databricks}" in calls
    # bf's own download is a CLI older than the bundle needs: ours, never its
    assert "BRICKFLOW_BUNDLE_NO_DOWNLOAD=true" in calls
    with zipfile.ZipFile(wheel) as built:
        metadata = built.read(f"quest-{version}.dist-info/METADATA").decode()
    assert re.search(rf"^Version: {re.escape(version)}$", metadata, re.MULTILINE)
    assert 'Requires-Dist: pyspark==4.2.0; extra == "spark"' in metadata
    assert (checkout / "bundle.yml").read_bytes() == committed, "bf's bundle.yml was left behind"
    assert _git(checkout, "status", "--porcelain") == ""
    assert f"deployed quest dev: wheel {version}" in done.stdout


@pytest.mark.parametrize("failing", ["databricks", "bf"])
def test_a_failed_upload_or_deploy_fails_make_deploy_and_puts_bundle_yml_back(
    failing, checkout, tmp_path
):
    # An upload refused (an expired login, no WRITE VOLUME) must not go on to deploy jobs that
    # name a wheel nobody uploaded; a failed bf must not leave its bundle.yml in the tree.
    log = tmp_path / "calls.log"
    tools = {}
    for tool in ("databricks", "bf"):
        body = f'echo "{tool} $*" >> {log}\n'
        if tool == "bf":
            body += "echo 'targets: {quest-dev: {}}' > bundle.yml\n"
        if tool == failing:
            body += "echo 'refused' >&2; exit 1\n"
        tools[tool] = _tool(tmp_path, tool, body)
    committed = (checkout / "bundle.yml").read_bytes()
    done = make_deploy(
        checkout, "ENV=dev", f"DATABRICKS={tools['databricks']}", f"BF={tools['bf']}"
    )
    assert done.returncode != 0, done.stdout
    ran = [line.split()[0] for line in log.read_text().splitlines()]
    assert ran == (["databricks"] if failing == "databricks" else ["databricks", "bf"])
    assert (checkout / "bundle.yml").read_bytes() == committed
    assert _git(checkout, "status", "--porcelain") == ""
    assert "deployed quest" not in done.stdout


def test_a_tool_not_installed_stops_the_deploy_before_it_builds(checkout, tmp_path):
    bf = _tool(tmp_path, "bf", "exit 0\n")
    done = make_deploy(checkout, "ENV=dev", "DATABRICKS=no-such-cli", f"BF={bf}")
    assert done.returncode != 0
    assert "`no-such-cli` is not installed or not on PATH" in done.stderr, done.stderr
    assert not (checkout / "dist").exists()


def test_deploy_refuses_uncommitted_changes_before_doing_anything(checkout, tmp_path):
    (checkout / "src" / "quest" / "__init__.py").write_text('"""changed"""\n')
    done = make_deploy(checkout, "ENV=dev", f"DATABRICKS={tmp_path / 'none'}")
    assert done.returncode != 0
    assert "uncommitted changes" in done.stderr and "src/quest/__init__.py" in done.stderr
    assert not (checkout / "dist").exists()


def test_shared_targets_need_a_pushed_commit_a_local_target_does_not(checkout):
    (checkout / "README.md").write_text("changed\n")
    _commit(checkout, "not pushed")
    dev = make_deploy(checkout, "ENV=dev", "DRY_RUN=1")
    assert dev.returncode != 0 and "push it first" in dev.stderr
    principal = {"QUEST_RUN_AS_SERVICE_PRINCIPAL": "11111111-2222-3333-4444-555555555555"}
    prod = make_deploy(checkout, "ENV=prod", "DRY_RUN=1", extra_env=principal)
    assert prod.returncode != 0 and "push it first" in prod.stderr, prod.stderr
    local = make_deploy(checkout, "ENV=local", "DRY_RUN=1")
    assert local.returncode == 0, local.stderr
    assert "--env local" in _step(local.stdout, "deploy")


def test_shared_targets_need_the_commit_where_the_jobs_fetch_their_notebooks(checkout, tmp_path):
    # A fork: the commit is pushed to another repository than the one the jobs fetch from, so
    # every task of the deployed jobs would fail to check it out.
    fork = tmp_path / "fork.git"
    subprocess.run(["git", "init", "-q", "--bare", str(fork)], check=True)
    _git(checkout, "remote", "add", "fork", str(fork))
    (checkout / "README.md").write_text("changed in the fork\n")
    _commit(checkout, "pushed to the fork only")
    _git(checkout, "push", "-q", "fork", "main")
    refused = make_deploy(checkout, "ENV=dev", "DRY_RUN=1")
    assert refused.returncode != 0
    assert f"was pushed to no remote of {tmp_path / 'remote.git'}" in refused.stderr
    assert f"fork pushes to {fork}" in refused.stderr and "BRICKFLOW_GIT_REPO" in refused.stderr
    done = make_deploy(
        checkout, "ENV=dev", "DRY_RUN=1", extra_env={"BRICKFLOW_GIT_REPO": str(fork)}
    )
    assert done.returncode == 0, done.stderr
    # A remote that fetches from the repository the jobs use and pushes to the fork: its
    # tracking branch holds the commit, which only the fork has.
    _git(checkout, "remote", "set-url", "--push", "origin", str(fork))
    (checkout / "README.md").write_text("changed again\n")
    _commit(checkout, "pushed through origin, to the fork")
    _git(checkout, "push", "-q", "origin", "main")
    refused = make_deploy(checkout, "ENV=dev", "DRY_RUN=1")
    assert refused.returncode != 0 and f"origin pushes to {fork}" in refused.stderr


def test_prod_needs_its_service_principal(checkout):
    refused = make_deploy(checkout, "ENV=prod", "DRY_RUN=1")
    assert refused.returncode != 0
    assert "QUEST_RUN_AS_SERVICE_PRINCIPAL" in refused.stderr
    sp = {"QUEST_RUN_AS_SERVICE_PRINCIPAL": "6f1a0c2e-0000-4000-8000-000000000001"}
    done = make_deploy(checkout, "ENV=prod", "DRY_RUN=1", extra_env=sp)
    assert done.returncode == 0, done.stderr
    assert "dbfs:/Volumes/quest/ops/wheels/" in _step(done.stdout, "upload")


def test_the_offline_bundle_switch_left_in_the_shell_turns_off_no_refusal(checkout):
    # QUEST_BUNDLE_OFFLINE (for `make bundle`) turned off the placeholder addresses' refusal and
    # gave `bf` a stand-in workspace user.
    placeholder = "quest-dev@example.org"
    placeholders = {"QUEST_NOTIFY": placeholder, "QUEST_CONTACT": placeholder}
    placeholders["QUEST_BUNDLE_OFFLINE"] = "true"
    refused = make_deploy(checkout, "ENV=dev", "DRY_RUN=1", extra_env=placeholders)
    assert refused.returncode != 0
    assert "the built-in placeholder addresses" in refused.stderr
    done = make_deploy(checkout, "ENV=dev", "DRY_RUN=1", extra_env={"QUEST_BUNDLE_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    assert "QUEST_BUNDLE_OFFLINE=false" in done.stdout


@pytest.mark.parametrize("assignment", ["ENV=staging", "ENV="])
def test_an_unknown_or_missing_environment_is_refused(checkout, assignment):
    done = make_deploy(checkout, assignment, "DRY_RUN=1")
    assert done.returncode != 0
    assert "deploy one of local, dev, prod" in done.stderr


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("git@github.com:quest-data/quest.git", "https://github.com/quest-data/quest", True),
        (
            "ssh://git@ssh.github.com:443/quest-data/quest",
            "https://github.com/quest-data/quest",
            True,
        ),
        ("https://GitHub.com/Quest-Data/Quest.git/", "https://github.com/quest-data/quest", True),
        ("git@github-work:quest-data/quest.git", "https://github.com/quest-data/quest", True),
        ("git@github.com:someone/quest.git", "https://github.com/quest-data/quest", False),
        ("https://gitlab.com/quest-data/quest", "https://github.com/quest-data/quest", False),
        ("/srv/git/quest.git", "https://github.com/quest-data/quest", False),
    ],
)
def test_the_remote_names_the_repository_the_jobs_fetch_in_any_spelling(one, other, same):
    # The deploy compares the remote that holds the commit with GIT_REPO: an SSH clone of the
    # repository must pass, a fork must not.
    from quest.orchestration.deploy import _same_repository

    assert _same_repository(one, other) is same
    assert _same_repository(other, one) is same


def _commit_of(repo: Path) -> str:
    """A git repository at `repo` with one commit of a file in a folder; its id."""
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "mod.py").write_text("X = 1\n")
    (repo / "uncommitted.txt").write_text("not in the commit\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "pkg"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    return subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


# Python 3.12 itself warns of an extraction without a filter, which 3.11.3 would not.
_NO_FILTER = pytest.mark.filterwarnings("ignore:Python 3.14 will:DeprecationWarning")


@pytest.mark.parametrize(
    "filters",
    [True, pytest.param(False, marks=_NO_FILTER)],
    ids=["filter-data", "python-3.11.3"],
)
def test_the_commit_is_exported_with_or_without_extraction_filters(tmp_path, monkeypatch, filters):
    # 3.11 before 3.11.4 (Debian 12's 3.11.2) has no `filter=` for `extractall`: `make deploy`
    # failed there with a TypeError. The members are then checked as the filter would.
    import tarfile

    from quest.orchestration import deploy

    if not filters:  # tarfile as 3.11.3 has it: no filters, no `filter=`
        monkeypatch.delattr(tarfile, "data_filter")
        extract = tarfile.TarFile.extractall

        def extractall(self, path=".", members=None, *, numeric_owner=False):
            return extract(self, path, members, numeric_owner=numeric_owner)

        monkeypatch.setattr(tarfile.TarFile, "extractall", extractall)
    commit = _commit_of(tmp_path / "repo")
    out = deploy.export_commit(tmp_path / "repo", commit, tmp_path / "out")
    assert (out / "pkg" / "mod.py").read_text() == "X = 1\n"
    assert not (out / "uncommitted.txt").exists()


@pytest.mark.parametrize("name", ["../outside.txt", "/etc/outside.txt", "link"])
def test_an_archive_member_outside_the_project_or_a_link_is_refused(tmp_path, name):
    import io
    import tarfile

    from quest.errors import ConfigError
    from quest.orchestration.deploy import _plain_members

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        member = tarfile.TarInfo(name)
        if name == "link":
            member.type, member.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(member, io.BytesIO(b""))
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as tar, pytest.raises(ConfigError, match=re.escape(name)):
        _plain_members(tar)
