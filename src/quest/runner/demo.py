"""`quest demo` / `make demo`: the whole workflow offline, against a local mirror of the sources.

Writes the deterministic sample into `<home>/demo-source`, serves it as BLS and DataUSA on a free
loopback port, runs `quest_pipeline` with the store under the home, and prints the report.
"""

from __future__ import annotations

from quest.config import Settings, validate_home
from quest.errors import ConfigError
from quest.mirror.sample import generate_sample
from quest.mirror.server import MirrorServer
from quest.runner.local import run_workflow
from quest.runner.record import SKIPPED

DEMO_CONTACT = "quest-demo@example.org"


def demo_settings(settings: Settings, bls_url: str, datausa_url: str) -> Settings:
    """`settings` pointed at the local mirror, with a store under the home unless one is set."""
    return settings.with_overrides(
        bls_url=bls_url,
        datausa_url=datausa_url,
        store=settings.store or str(settings.home / "store"),
        contact=settings.contact or DEMO_CONTACT,
        env="local",
    )


def run_demo(settings: Settings, spark=None, out=print, quiet: bool = False) -> int:
    """Run the demo; the exit status of the workflow run (0 when every task succeeded).

    `quiet`: only the run's failures and closing lines are printed.

    Raises:
        ConfigError: for another environment than local, whose store and catalog are shared.
    """
    if settings.env != "local":
        raise ConfigError(
            f"quest demo runs locally and offline, but QUEST_ENV={settings.env} points it at "
            f"the {settings.env} store {settings.store_uri} and catalog {settings.catalog!r}, "
            "which it would overwrite with the sample: unset QUEST_ENV (a deploy needs it only "
            "in the shell that deploys)"
        )
    say = (lambda line: None) if quiet else out
    home = validate_home(settings)
    source = generate_sample(home / "demo-source")
    say(f"quest demo: sample written to {source}")
    with MirrorServer(source) as mirror:
        say(f"quest demo: serving it as BLS and DataUSA on {mirror.url}")
        run_settings = demo_settings(settings, mirror.bls_url, mirror.datausa_url)
        record = run_workflow(run_settings, spark=spark, out=out, quiet=quiet)
    say(f"quest demo: {record.status}; {_next_step(record)}")
    return record.exit_code


def _next_step(record) -> str:
    """What to try next: a run again (if this one loaded), or where the answers are."""
    if record.exit_code:
        return "see the failed task above and its log"
    gold = record.tasks.get("gold_analysis")
    if gold is not None and gold.status == SKIPPED:
        return "nothing changed, so the medallion was skipped; `quest report` prints the answers"
    return "run it again: nothing changed, so the medallion is skipped"
