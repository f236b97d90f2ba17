"""`make deploy ENV=dev`: the wheel of this commit, uploaded where the bundle points, then deployed.

The jobs run the notebooks of a git commit and install the project wheel from a Unity Catalog
volume; both must hold the same code. One command makes sure they do:

1. the working tree must be clean, its commit pushed (shared targets fetch their notebooks from
   the git remote), and the target deployable (`check_deployable`);
2. the wheel is built from that commit (`git archive`), versioned `<version>.dev<time><hash>`;
3. it is uploaded with `databricks fs cp` to the volume folder the bundle names;
4. `bf projects deploy` runs with the same version (`QUEST_WHEEL_VERSION`) and the same commit
   (`BRICKFLOW_GIT_REF`), so every task's library is that wheel and its notebooks that commit;
5. the committed `bundle.yml`, which `bf` overwrites with the deployed target, is put back.

    python -m quest.orchestration.deploy --env dev [--profile quest] [--dry-run]

`--dry-run` prints every step and changes nothing; it needs no network and no Databricks CLI.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from quest.config import ENVIRONMENTS
from quest.errors import ConfigError
from quest.orchestration.bundle import BUNDLE, GIT_REPO, PROJECT, REPO, base_version
from quest.orchestration.workflow_config import check_deployable, wheel_filename, workflow_config

_VERSION_LINE = re.compile(r'^version = "[^"]*"$', re.MULTILINE)


@dataclass(frozen=True)
class Plan:
    """Everything a deploy does, decided before it does any of it."""

    env: str
    repo: Path
    commit: str
    version: str
    wheel: Path
    volume_dir: str
    upload: list[str]
    deploy: list[str]
    deploy_env: dict[str, str]

    def steps(self) -> list[str]:
        """The steps as a reader (or a shell) would run them."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.deploy_env.items())
        return [
            f"check: {self.repo} is clean at commit {self.commit}"
            + ("" if self.env == "local" else ", which a remote branch holds"),
            f"build: git archive {self.commit[:12]} | pip wheel (version {self.version})"
            f" -> {self.wheel}",
            "upload: " + shlex.join(self.upload),
            f"deploy: {env} " + shlex.join(self.deploy),
            f"restore: {self.repo / BUNDLE.name} (bf writes the deployed target over it)",
        ]


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ConfigError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip()}")
    return done.stdout.rstrip()


def _repository(url: str) -> tuple[str, str]:
    """A git URL as host and path (`git@github.com:o/n.git`, `ssh://git@github.com/o/n` and
    `https://github.com/o/n/` give the same); a local path has no host."""
    url = url.strip()
    scp = re.fullmatch(r"(?:[^@/:]+@)?([^/:]+):(?!//)(.+)", url)
    if scp and "://" not in url:
        host, path = scp.groups()
    else:
        parts = urlsplit(url)
        host, path = parts.hostname or "", parts.path
    path = path.rstrip("/").removesuffix(".git")
    if not host:
        return "", path
    return host.lower().removeprefix("ssh."), path.strip("/").lower()


def _same_repository(one: str, other: str) -> bool:
    """Whether two git URLs name one repository; a host without a dot is taken for an SSH
    alias of the other's (`Host github-work` in ~/.ssh/config)."""
    (host, path), (other_host, other_path) = _repository(one), _repository(other)
    if path != other_path or bool(host) != bool(other_host):
        return False
    return host == other_host or "." not in host or "." not in other_host


def _check_fetched_from(repo: Path, commit: str, env: str) -> None:
    """The commit was pushed to the repository the jobs fetch their notebooks from
    (`BRICKFLOW_GIT_REPO`, else `GIT_REPO`): a remote whose tracking branches hold the commit
    pushes there (every push URL of it names that repository). Pushed only to a fork, the
    deployed jobs would fail every task at checkout. Asks nothing of the network.

    Raises:
        ConfigError: the commit is on no remote branch, or naming the remotes that hold it and
            the variable to set.
    """
    holders = {}
    for remote in _git(repo, "remote").split():
        held = _git(
            repo,
            "for-each-ref",
            "--contains",
            commit,
            "--format=%(refname)",
            f"refs/remotes/{remote}/",
        )
        if held:
            holders[remote] = _git(repo, "remote", "get-url", "--push", "--all", remote).split()
    if not holders:
        raise ConfigError(
            f"commit {commit[:12]} is on no remote branch: push it first, or the {env} jobs "
            "cannot fetch their notebooks"
        )
    fetched = os.environ.get("BRICKFLOW_GIT_REPO", GIT_REPO)
    fix = "set BRICKFLOW_GIT_REPO to the HTTPS URL of the repository you pushed it to"
    if not fetched.strip():
        raise ConfigError(f"BRICKFLOW_GIT_REPO is empty: {fix}")
    for urls in holders.values():
        if urls and all(_same_repository(url, fetched) for url in urls):
            return
    source = (
        "BRICKFLOW_GIT_REPO"
        if "BRICKFLOW_GIT_REPO" in os.environ
        else "GIT_REPO in src/quest/orchestration/bundle.py"
    )
    pushed = "; ".join(f"{name} pushes to {' '.join(urls)}" for name, urls in holders.items())
    raise ConfigError(
        f"commit {commit[:12]} was pushed to no remote of {fetched}, where the {env} jobs fetch "
        f"their notebooks ({source}): {pushed}. Push it there first, or {fix}"
    )


def wheel_version(repo: Path, commit: str) -> str:
    """A PEP 440 development release of the project version, one per commit: numbered by the
    commit's time in UTC, then its first 7 hex digits as a 9-digit decimal number
    (`0.1.0.dev20261205114600043978381` for a commit of 11:46:00 starting `29f0e8d`; two commits
    of the same second, as a rebase makes them, still differ). Not a local version
    (`0.1.0+g<commit>`): the Files API that `databricks fs cp` writes Unity Catalog volumes
    through has stored a `+` of a file name as a space (terraform-provider-databricks#4039,
    pulumi-databricks#589), and the jobs would then find no wheel at the path they name."""
    # (a signed commit's check would come first with log.showSignature set)
    shown = _git(repo, "-c", "log.showSignature=false", "show", "-s", "--format=%ct", commit)
    stamp = datetime.fromtimestamp(int(shown.strip()), UTC).strftime("%Y%m%d%H%M%S")
    return f"{base_version(repo)}.dev{stamp}{int(commit[:7], 16):09d}"


_ONLINE = {"QUEST_BUNDLE_OFFLINE": "false"}


def plan(
    env: str, repo: Path, profile: str = "", databricks: str = "databricks", bf: str = "bf"
) -> Plan:
    """What deploying `env` from `repo` would do.

    Raises:
        ConfigError: an unknown environment, a working tree with changes, or a target that
            cannot be deployed (naming what to set).
    """
    if env not in ENVIRONMENTS:
        raise ConfigError(
            f"ENV={env!r}: deploy one of {', '.join(ENVIRONMENTS)} (make deploy ENV=dev)"
        )
    changes = _git(repo, "status", "--porcelain")
    if changes:
        raise ConfigError(
            f"{repo} has uncommitted changes; the jobs run the notebooks of a commit and the "
            "wheel must hold the same code: commit (and push) first.\n" + changes
        )
    commit = _git(repo, "rev-parse", "HEAD").strip()
    if env != "local":
        # Shared targets fetch the notebooks of the commit from the git remote (`git_source`).
        _check_fetched_from(repo, commit, env)
    version = wheel_version(repo, commit)
    # `make bundle`'s offline switch (a stand-in workspace user, two refusals off) never
    # reaches a real deploy, even when left set in the shell.
    cfg = workflow_config(env, {**os.environ, "QUEST_WHEEL_VERSION": version, **_ONLINE})
    check_deployable(cfg)
    wheel = repo / "dist" / wheel_filename(version)
    profile_args = ["--profile", profile] if profile else []
    upload = [databricks, "fs", "cp", str(wheel), f"dbfs:{cfg.wheel_dir}/", "--overwrite"]
    deploy = [bf, "projects", "deploy", "--project", PROJECT, "--env", env]
    deploy += ["--skip-libraries", "--auto-approve"]
    deploy_env = {
        "QUEST_WHEEL_VERSION": version,
        "BRICKFLOW_GIT_REF": f"commit/{commit}",
        # One Databricks CLI (and one login) for the upload and the deploy.
        "BRICKFLOW_BUNDLE_CLI_EXEC": databricks,
        "BRICKFLOW_BUNDLE_NO_DOWNLOAD": "true",
        **_ONLINE,
    }
    return Plan(
        env=env,
        repo=repo,
        commit=commit,
        version=version,
        wheel=wheel,
        volume_dir=cfg.wheel_dir,
        upload=upload + profile_args,
        deploy=deploy + profile_args,
        deploy_env=deploy_env,
    )


def export_commit(repo: Path, commit: str, dest: Path) -> Path:
    """The files of `commit` (not of the working tree) in `dest`."""
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", commit],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:
            # Python 3.11 before 3.11.4 (Debian 12's 3.11.2) has no extraction filters: the
            # archive is git's own of a commit, and holds folders and files only, each checked.
            tar.extractall(dest, members=_plain_members(tar))
    return dest


def _plain_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Every member of `tar`, refused (ConfigError) unless a folder or a regular file under a
    relative path without `..` (the project holds no links): what `filter="data"` would allow."""
    for member in tar.getmembers():
        parts = Path(member.name).parts
        if not (member.isdir() or member.isfile()) or member.name.startswith("/") or ".." in parts:
            raise ConfigError(
                f"the commit's archive holds {member.name!r}, which is not a plain file or "
                "folder under the project: not extracted"
            )
    return tar.getmembers()


def build_wheel(source: Path, version: str, out_dir: Path) -> Path:
    """Build the project in `source` as a wheel of `version` into `out_dir`.

    `source` is changed (its pyproject gets the version): pass a copy. The build uses the
    setuptools of this environment, so it needs no index.
    """
    set_version(source / "pyproject.toml", version)
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["-w", str(out_dir), str(source)],
        check=True,
    )
    wheel = out_dir / wheel_filename(version)
    if not wheel.is_file():
        raise ConfigError(f"pip wheel did not write {wheel}")
    return wheel


def set_version(pyproject: Path, version: str) -> None:
    """Give the project in `pyproject` the version `version`."""
    text = pyproject.read_text(encoding="utf-8")
    new, count = _VERSION_LINE.subn(f'version = "{version}"', text, count=1)
    if count != 1:
        raise ConfigError(f'{pyproject}: no `version = "..."` line to set')
    pyproject.write_text(new, encoding="utf-8")


def execute(plan: Plan, out=print) -> None:
    """Run the plan, saying each step as it starts."""
    steps = plan.steps()
    for tool in (plan.upload[0], plan.deploy[0]):
        if shutil.which(tool) is None:
            raise ConfigError(
                f"`{tool}` is not installed or not on PATH: see docs/deploy.md, step 1"
            )
    out(steps[0])
    out(steps[1])
    with tempfile.TemporaryDirectory(prefix="quest-wheel-") as scratch:
        source = export_commit(plan.repo, plan.commit, Path(scratch) / "src")
        build_wheel(source, plan.version, plan.wheel.parent)
    out(steps[2])
    subprocess.run(plan.upload, check=True)
    out(steps[3])
    bundle = plan.repo / BUNDLE.name
    committed = bundle.read_bytes() if bundle.exists() else None
    try:
        subprocess.run(
            plan.deploy, cwd=plan.repo, env={**os.environ, **plan.deploy_env}, check=True
        )
    finally:
        out(steps[4])
        if committed is not None:
            bundle.write_bytes(committed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m quest.orchestration.deploy", description=(__doc__ or " ").splitlines()[0]
    )
    parser.add_argument("--env", required=True, help="local, dev or prod")
    parser.add_argument("--profile", default="", help="Databricks CLI profile (default: none)")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout to deploy")
    parser.add_argument("--databricks-cli", default="databricks", help="the Databricks CLI")
    parser.add_argument("--bf", default="bf", help="BrickFlow's command (default: bf)")
    parser.add_argument("--dry-run", action="store_true", help="print the steps, do nothing")
    args = parser.parse_args(argv)
    try:
        the_plan = plan(args.env, args.repo.resolve(), args.profile, args.databricks_cli, args.bf)
        if args.dry_run:
            print(f"deploy {PROJECT} {the_plan.env} (dry run: nothing is built, sent or changed)")
            for step in the_plan.steps():
                print(f"  {step}")
            return 0
        execute(the_plan)
    except ConfigError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(
            f"deploy: {shlex.join(map(str, exc.cmd))} failed (exit {exc.returncode})",
            file=sys.stderr,
        )
        return 1
    print(f"deployed {PROJECT} {the_plan.env}: wheel {the_plan.version}, commit {the_plan.commit}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
