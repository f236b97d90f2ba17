"""S3 credentials: boto3's chain off Databricks, the secret scope on it, never printed."""

from __future__ import annotations

import logging

from quest.config import Settings
from quest.store.credentials import aws_credentials

KEY_ID, SECRET = "AKIAFAKEKEYID0000000", "fake/secret/key/that/must/never/be/logged"


class _Secrets:
    def __init__(self, values: dict[tuple[str, str], str]) -> None:
        self.values = values

    def get(self, scope: str, key: str) -> str:
        return self.values[(scope, key)]


class _DbUtils:
    def __init__(self, values: dict[tuple[str, str], str]) -> None:
        self.secrets = _Secrets(values)


def test_off_databricks_the_default_chain_is_used(monkeypatch):
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    assert aws_credentials(Settings(secret_scope="quest")) is None


def test_on_databricks_keys_come_from_the_scope_and_never_print(caplog):
    dbutils = _DbUtils(
        {("quest", "aws-access-key-id"): KEY_ID, ("quest", "aws-secret-access-key"): SECRET}
    )
    with caplog.at_level(logging.DEBUG):
        found = aws_credentials(Settings(secret_scope="quest"), dbutils=dbutils)
    assert found == {"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET}
    for shown in (repr(found), str(found), f"{found}", caplog.text):
        assert KEY_ID not in shown and SECRET not in shown


def test_a_scope_without_the_keys_falls_back_to_the_instance_profile_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert aws_credentials(Settings(secret_scope="empty"), dbutils=_DbUtils({})) is None
    assert "QUEST_SECRET_SCOPE='empty'" in caplog.text
