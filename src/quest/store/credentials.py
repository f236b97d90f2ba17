"""AWS credentials for the S3 store: boto3's default chain, or a Databricks secret scope.

On Databricks the keys live in a secret scope (`QUEST_SECRET_SCOPE`) under `aws-access-key-id`
and `aws-secret-access-key`. They are never logged: the returned mapping hides its values when
printed.
"""

from __future__ import annotations

import logging

from quest.config import Settings

log = logging.getLogger(__name__)

ACCESS_KEY = "aws-access-key-id"
SECRET_KEY = "aws-secret-access-key"


class Credentials(dict):
    """boto3 keyword arguments whose values never appear in a repr, a log line or a traceback."""

    def __repr__(self) -> str:
        return "Credentials(" + ", ".join(f"{k}=***" for k in self) + ")"

    __str__ = __repr__


def _dbutils():
    try:
        from pyspark.dbutils import DBUtils  # type: ignore[import-not-found]

        from quest.config import load_settings
        from quest.spark import get_spark

        return DBUtils(get_spark(load_settings()))
    except ImportError:
        import IPython  # type: ignore[import-not-found]

        return IPython.get_ipython().user_ns["dbutils"]


def aws_credentials(settings: Settings, dbutils=None) -> Credentials | None:
    """Keys for boto3, or None to let boto3 find them (env vars, profile, instance role).

    Args:
        settings: `secret_scope` names the Databricks secret scope (empty: default chain).
        dbutils: Databricks' `dbutils`; found automatically on a cluster.

    A scope without the two keys falls back to the default chain (an instance profile), with a
    warning naming the scope.
    """
    from quest.spark import on_databricks

    if not settings.secret_scope or (dbutils is None and not on_databricks()):
        return None
    dbutils = dbutils if dbutils is not None else _dbutils()
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


def open_settings_store(settings: Settings):
    """The store at `settings.store_uri`, with Databricks-secret credentials when running there.

    Every task that opens the store should come through here, so S3 credentials are found the
    same way everywhere.
    """
    from quest.store import open_store

    return open_store(
        settings.store_uri,
        endpoint_url=settings.s3_endpoint_url,
        credentials=aws_credentials(settings),
    )
