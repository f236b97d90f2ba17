"""The layers keep their boundaries: the store and the sources run without Spark on the path."""

from __future__ import annotations

import json
import subprocess
import sys
import types

# What the sync tasks import; none of it may pull in Spark (a JVM) or the medallion.
SYNC_SIDE = (
    "quest.store",
    "quest.store.credentials",
    "quest.sources.bls",
    "quest.sources.datausa",
    "quest.orchestration.tasks",
)


def test_the_store_and_the_sources_import_no_spark_and_no_medallion(tmp_path):
    code = (
        "import importlib, json, sys\n"
        f"for name in {SYNC_SIDE!r}:\n"
        "    importlib.import_module(name)\n"
        "from quest.config import Settings\n"
        "from quest.store.credentials import open_settings_store\n"
        "open_settings_store(Settings(store=sys.argv[1], secret_scope='quest'))\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        "    if m.split('.')[0] in ('pyspark', 'py4j', 'delta')\n"
        "    or m in ('quest.spark', 'quest.medallion'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


def test_on_databricks_the_secret_scope_is_read_with_the_notebooks_dbutils(monkeypatch):
    from quest.config import Settings
    from quest.store.credentials import aws_credentials

    class Secrets:
        def get(self, scope: str, key: str) -> str:
            return f"{scope}/{key}"

    class Shell:
        user_ns = {"dbutils": type("DbUtils", (), {"secrets": Secrets()})()}

    # Databricks puts `dbutils` in the IPython user namespace of the notebook.
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: Shell()
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "19.0")
    found = aws_credentials(Settings(secret_scope="quest"))
    assert found == {
        "aws_access_key_id": "quest/aws-access-key-id",
        "aws_secret_access_key": "quest/aws-secret-access-key",
    }
