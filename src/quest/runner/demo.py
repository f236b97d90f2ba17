"""`quest demo` / `make demo`: the whole workflow offline, against a local mirror of the sources.

Writes the deterministic sample into `<home>/demo-source`, serves it as BLS and DataUSA on a free
loopback port, runs `quest_pipeline` with the store under the home, and prints the report.
"""

from __future__ import annotations

from pathlib import Path

from quest.config import Settings, validate_home
from quest.errors import ConfigError
from quest.mirror.sample import generate_sample
from quest.mirror.server import MirrorServer
from quest.runner.local import load_pipeline, report_command, run_lock, run_workflow
from quest.runner.record import SKIPPED
from quest.store import LocalStore
from quest.store.base import hash_file, stored_sha256
from quest.store.credentials import open_settings_store
from quest.text_table import some

DEMO_CONTACT = "quest-demo@example.org"


def demo_settings(settings: Settings, bls_url: str, datausa_url: str) -> Settings:
    """`settings` pointed at the local mirror, with a store under the home unless one is set,
    and the demo's own contact: the mirror is all it talks to, so a QUEST_CONTACT meant for the
    live sources (even one they would refuse) is none of its business."""
    return settings.with_overrides(
        bls_url=bls_url,
        datausa_url=datausa_url,
        store=settings.store or str(settings.home / "store"),
        contact=DEMO_CONTACT,
        env="local",
    )


# Where a sample folder holds what the demo syncs (`quest.mirror.sample`'s layout).
_BLS_FOLDER = "bls/pr/"
_POPULATION_FILE = "datausa/population.json"


def run_demo(settings: Settings, spark=None, out=print, quiet: bool = False) -> int:
    """Run the demo; the exit status of the workflow run (0 when every task succeeded).

    `quiet`: only the run's failures and closing lines are printed.

    Raises:
        LockError: another run of the home holds its run lock (nothing is written).
        ConfigError: for another environment than local, whose store and catalog are shared; for
            a store that is no local folder, or that holds files the sample would replace.
    """
    if settings.env != "local":
        raise ConfigError(
            f"quest demo runs locally and offline, but QUEST_ENV={settings.env} points it at "
            f"the {settings.env} store {settings.store_uri} and catalog {settings.catalog!r}, "
            "which it would overwrite with the sample: unset QUEST_ENV (a deploy takes its "
            "environment from `make deploy ENV=...`, not from QUEST_ENV)"
        )
    workflow = load_pipeline()  # from the wheel alone: refused before the sample is written
    say = (lambda line: None) if quiet else out
    # The mirror's URLs are known once it listens; the store is the same whatever they are.
    where = demo_settings(settings, "", "")
    store = open_settings_store(where)  # (opening reads and writes nothing)
    if not isinstance(store, LocalStore):
        raise ConfigError(
            f"quest demo writes the sample into the store, and QUEST_STORE={where.store_uri} is "
            "not a local folder: unset QUEST_STORE, and the demo uses <home>/store"
        )
    home = validate_home(settings)
    # The lock is taken before the sample is written: a second demo of the same home would
    # otherwise rewrite the files the running demo's mirror is serving, then fail on the lock.
    with run_lock(settings):
        # The previous demo's sample (an older quest may have generated another) is the demo's.
        held = _folder_digests(home / "demo-source")
        source = generate_sample(home / "demo-source")
        ours = _folder_digests(source)
        _refuse_other_data(where, store, _stored_as(where, ours) | _stored_as(where, held))
        say(f"quest demo: sample written to {source}{_over(ours, held)}")
        with MirrorServer(source) as mirror:
            say(f"quest demo: serving it as BLS and DataUSA on {mirror.url}")
            run_settings = demo_settings(settings, mirror.bls_url, mirror.datausa_url)
            record = run_workflow(
                run_settings, spark=spark, out=out, quiet=quiet, workflow=workflow, locked=True
            )
    say(f"quest demo: {record.status}; {_next_step(record, settings.home)}")
    return record.exit_code


def _folder_digests(folder: Path) -> dict[str, str]:
    """Each file under a sample folder (its path there, `/`-separated) -> its sha256; empty
    when the folder is not there."""
    if not folder.is_dir():
        return {}
    return {
        path.relative_to(folder).as_posix(): hash_file(str(path)).sha256
        for path in folder.rglob("*")
        if path.is_file()
    }


def _stored_as(settings: Settings, digests: dict[str, str]) -> set[tuple[str, str]]:
    """(store key, sha256) of the files of a sample folder (`_folder_digests`) the demo serves
    and syncs: the BLS files and the population."""
    keys = {}
    for name, sha in digests.items():
        if name.startswith(_BLS_FOLDER):
            keys[settings.bls_prefix + name.removeprefix(_BLS_FOLDER)] = sha
        elif name == _POPULATION_FILE:
            keys[settings.datausa_key] = sha
    return set(keys.items())


def _over(ours: dict[str, str], held: dict[str, str]) -> str:
    """What the sample (`ours`, its folder's digests) was written over: the files of its folder
    that `held` (the digests before) had in another version, an edit (the README's
    walk-through edits them in place) or an older quest's sample; empty when there were none.
    A file deleted from the folder comes back unnamed."""
    changed = sorted(name for name, sha in held.items() if ours.get(name, sha) != sha)
    if not changed:
        return ""
    return f", over another version of {some(changed, 3)} there (edited, or an older sample)"


def _refuse_other_data(settings: Settings, store, known: set[tuple[str, str]]) -> None:
    """Refuse a store holding BLS or DataUSA files that are not among the `known` (store key,
    sha256), this sample's and the previous demo's, byte for byte: the demo's sync would
    replace or delete them (a `quest run` of the live sources, or of another mirror, wrote them
    into the same home).

    Raises:
        ConfigError: naming the store, a few of those files and the way out.
    """
    stored = store.list(settings.bls_prefix)
    population = store.head(settings.datausa_key)
    if population is not None:
        stored[settings.datausa_key] = population
    other = sorted(
        key for key, info in stored.items() if (key, stored_sha256(store, info)) not in known
    )
    if other:
        raise ConfigError(
            f"quest demo would replace what the store {store.uri} holds with its sample: "
            f"{some(other, 3)} ({'is not' if len(other) == 1 else 'are not'} the demo's; a "
            "`quest run` of other sources, or of an edited sample, wrote them). Run the demo in a "
            f"home of its own (QUEST_HOME=.quest-demo make demo), or remove {settings.home} first"
        )


def _next_step(record, home: Path) -> str:
    """What to try next: a run again (if this one loaded), or where the answers are."""
    if record.exit_code:
        return "see the failed task above and its log"
    gold = record.tasks.get("gold_analysis")
    if gold is not None and gold.status == SKIPPED:
        return (
            f"nothing changed, so the medallion was skipped; {report_command(home)} prints the "
            "answers"
        )
    return "run it again: nothing changed, so the medallion is skipped"
