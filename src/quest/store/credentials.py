"""AWS credentials for the S3 store: boto3's default chain, or a Databricks secret scope.

On Databricks the keys live in a secret scope (`QUEST_SECRET_SCOPE`) under `aws-access-key-id`
and `aws-secret-access-key`. They are never logged: the returned mapping hides its values when
printed.
"""

from __future__ import annotations

import logging

from quest.config import Settings, on_databricks

log = logging.getLogger(__name__)

ACCESS_KEY = "aws-access-key-id"
SECRET_KEY = "aws-secret-access-key"


class Credentials(dict):
    """boto3 keyword arguments whose values never appear in a repr, a log line or a traceback."""

    def __repr__(self) -> str:
        return "Credentials(" + ", ".join(f"{k}=***" for k in self) + ")"

    __str__ = __repr__


def _notebook_dbutils():
    """The `dbutils` of the notebook (or notebook-run task) this code runs in, or None.

    Found in IPython's user namespace, where Databricks puts it: the store needs no Spark
    session (no JVM) to reach the secret scope.
    """
    try:
        import IPython  # type: ignore[import-not-found]
    except ImportError:
        return None
    shell = IPython.get_ipython()
    return None if shell is None else shell.user_ns.get("dbutils")


def aws_credentials(settings: Settings, dbutils=None) -> Credentials | None:
    """Keys for boto3, or None to let boto3 find them (env vars, profile, instance role).

    Args:
        settings: `secret_scope` names the Databricks secret scope (empty: default chain).
        dbutils: Databricks' `dbutils`; found in the notebook's namespace on a cluster.

    A scope without the two keys, or no `dbutils` to read it with, falls back to the default
    chain (an instance profile), with a warning naming the scope.
    """
    if not settings.secret_scope or (dbutils is None and not on_databricks()):
        return None
    dbutils = dbutils if dbutils is not None else _notebook_dbutils()
    if dbutils is None:
        log.warning(
            "no Databricks dbutils to read the secret scope QUEST_SECRET_SCOPE=%r with; using "
            "the cluster's instance profile",
            settings.secret_scope,
        )
        return None
    values = {}
    for name, secret in (("aws_access_key_id", ACCESS_KEY), ("aws_secret_access_key", SECRET_KEY)):
        try:
            values[name] = dbutils.secrets.get(scope=settings.secret_scope, key=secret)
        except Exception as exc:  # dbutils raises its own py4j/IllegalArgument types
            log.warning(
                "secret %r is not in the Databricks secret scope QUEST_SECRET_SCOPE=%r (%s); "
                "using the cluster's instance profile. Add it with `databricks secrets "
                "put-secret %s %s` to use keys instead.",
                secret,
                settings.secret_scope,
                type(exc).__name__,
                settings.secret_scope,
                secret,
            )
            return None
    return Credentials(values)


def open_settings_store(settings: Settings, dbutils=None):
    """The store at `settings.store_uri`, with Databricks-secret credentials when running there.

    Every task and notebook that opens the store comes through here, so S3 credentials are found
    the same way everywhere.

    Args:
        settings: the store URI, S3 endpoint and secret scope.
        dbutils: Databricks' `dbutils` when the caller has it (a task or a notebook).
    """
    from quest.store import open_store

    return open_store(
        settings.store_uri,
        endpoint_url=settings.s3_endpoint_url,
        credentials=aws_credentials(settings, dbutils),
    )
