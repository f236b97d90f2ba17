"""From a listed link to the one name it is stored under, or a clear refusal.

A link's path below the mirrored folder is split on its literal '/', each segment decoded once
from percent-encoding as UTF-8, then normalised: empty and '.' segments dropped, so `a//b`,
`a/./b` and `a/%2e/b` are all `a/b`, one key. Refused: a '..' segment (it climbs out), a
segment that holds '/', '\\' or a control character once decoded (`..%2f..%2fx`, NUL),
bytes that are not UTF-8, and the names the store keeps for itself (`.quest-*`).
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote_to_bytes

from quest.store.base import RESERVED_PREFIX


class NameRefused(ValueError):
    """A listed name that cannot be stored; the message says why."""


def decode_name(raw_path: str) -> str:
    """The name of the file at `raw_path`, its URL path below the folder (percent-encoded).

    Raises:
        NameRefused: naming what is wrong with it.
    """
    segments = []
    for raw in raw_path.split("/"):
        try:
            segment = unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise NameRefused("is not UTF-8 once percent-decoded") from None
        if segment in ("", "."):
            continue
        if segment == "..":
            raise NameRefused("climbs out of the folder ('..')")
        if "/" in segment or "\\" in segment:
            raise NameRefused("holds a path separator once percent-decoded")
        control = next((c for c in segment if unicodedata.category(c) == "Cc"), None)
        if control is not None:
            raise NameRefused(f"holds the control character U+{ord(control):04X}")
        if segment.startswith(RESERVED_PREFIX):
            raise NameRefused(f"starts with {RESERVED_PREFIX!r}, which the store keeps for itself")
        segments.append(segment)
    if not segments:
        raise NameRefused("names the folder itself, not a file in it")
    return "/".join(segments)


def shown(raw: str, limit: int = 80) -> str:
    """A listed name as it may be printed: on one line, escaped, and not too long."""
    text = raw if len(raw) <= limit else raw[:limit] + "..."
    return ascii(text)


def folder_conflicts(names: list[str]) -> set[str]:
    """Names that are both a file and a folder in one listing (`x` and `x/y`), with every name
    below them: they cannot all be stored, so all of them are refused."""
    folders = set()
    for name in names:
        parts = name.split("/")
        folders.update("/".join(parts[:depth]) for depth in range(1, len(parts)))
    clashing = {name for name in names if name in folders}
    if not clashing:
        return set()
    return {name for name in names if clashing.intersection(_self_and_ancestors(name))}


def _self_and_ancestors(name: str) -> list[str]:
    parts = name.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]
