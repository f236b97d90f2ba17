"""Stores: where the republished files live (a local folder or S3)."""

from __future__ import annotations

import re
from urllib.parse import urlparse

from quest.errors import ConfigError
from quest.store.base import ObjectInfo, Store
from quest.store.local import LocalStore

__all__ = ["ObjectInfo", "Store", "LocalStore", "open_store"]

# `s3//bucket` (its ':' lost) parses as the relative folder `s3//bucket`: a sync would have
# written the republished files under the current folder, exiting 0.
_SCHEME_WITHOUT_COLON = re.compile(r"(s3a?)//", re.IGNORECASE)


def open_store(uri: str, *, endpoint_url: str = "", credentials: dict | None = None) -> Store:
    """Open a store from its URI: `s3://bucket/prefix` or a local path (`file://` allowed).

    Raises:
        ConfigError: for a URI that is neither, naming QUEST_STORE.
    """
    if not uri or not uri.strip():
        raise ConfigError("QUEST_STORE is empty; set it to a folder or s3://bucket/prefix")
    if _SCHEME_WITHOUT_COLON.match(uri):
        scheme, _, rest = uri.partition("//")
        raise ConfigError(
            f"QUEST_STORE (or --store) {uri!r} is {scheme}:// without its ':'; write "
            f"{scheme.lower()}://{rest} (or ./{uri} for a local folder so named)"
        )
    parsed = urlparse(uri)
    if parsed.scheme in ("s3", "s3a"):
        if not parsed.netloc:
            raise ConfigError(
                f"QUEST_STORE (or --store) {uri!r} names no bucket; use s3://bucket/prefix"
            )
        from quest.store.s3 import S3Store

        return S3Store(
            parsed.netloc,
            parsed.path.lstrip("/"),
            endpoint_url=endpoint_url,
            credentials=credentials,
        )
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            # `file://./store` is the folder `/store`, `file://host/x` is `/x`: never meant.
            raise ConfigError(
                f"QUEST_STORE (or --store) {uri!r} names the host {parsed.netloc!r}, which a "
                "local store cannot reach; use file:///absolute/path or a plain path"
            )
        return LocalStore(parsed.path)
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and uri[1:3] in (":\\", ":/")):
        return LocalStore(uri)
    raise ConfigError(
        f"QUEST_STORE (or --store) {uri!r} is not a store URI; use a local path or "
        "s3://bucket/prefix"
    )
