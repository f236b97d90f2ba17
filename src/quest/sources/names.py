"""From a listed link to the one name it is stored under, or a clear refusal.

A link's path below the mirrored folder is split on its literal '/', each segment decoded once
from percent-encoding as UTF-8, then normalised: empty and '.' segments dropped, so `a//b`,
`a/./b` and `a/%2e/b` are all `a/b`, one key. Refused: a '..' segment (it climbs out), a
segment that holds '/', '\\', a control, invisible or replacement character once decoded
(`..%2f..%2fx`, NUL, U+200B, U+FFFD),
bytes that are not UTF-8, and the names the store keeps for itself (`.quest-*`).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, unquote_to_bytes

from quest.store.base import RESERVED_PREFIX

# A path that needs no work to be canonical: no percent sign, nothing RFC 3986 says to encode.
_CANONICAL = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")
# What a path may hold as it is, besides the unreserved characters: RFC 3986's sub-delimiters,
# ':' and '@', the '/' between segments, and '%' (escapes are read by `_ESCAPE`).
_PATH_SAFE = "!$&'()*+,;=:@/%"
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_BARE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class NameRefused(ValueError):
    """A listed name that cannot be stored; the message says why."""


# S3 keys hold at most 1024 bytes (the store's prefix comes on top): a longer name can never be
# stored, and is refused as it is listed, before a deep one costs the crawl anything.
MAX_NAME_BYTES = 1024


# Characters that reorder the text around them: `pr.` U+202E `txt.exe` shows as `pr.exe.txt`
# wherever it is printed, a run's line and the task's log among them.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def _misleads(char: str) -> str:
    """What `char` is when a printed name holding it would not read as the name: a control
    character (NUL, CR/LF), a line or paragraph separator (a line of its own in a log), a
    bidirectional control, another invisible format character (`pr.txt` U+200B prints as
    `pr.txt`, yet is another key), or U+FFFD, which a page's bytes that are not text in its
    charset decode to (two such names would fold into one); "" for any other character."""
    category = unicodedata.category(char)
    if category == "Cc":
        return "control character"
    if category in ("Zl", "Zp"):
        return "line separator" if category == "Zl" else "paragraph separator"
    if char in _BIDI_CONTROLS:
        return "bidirectional control"
    if category == "Cf":
        return "invisible format character"
    return "replacement character" if char == "\ufffd" else ""


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
        control = next((c for c in segment if _misleads(c)), None)
        if control is not None:
            raise NameRefused(f"holds the {_misleads(control)} U+{ord(control):04X}")
        if segment.startswith(RESERVED_PREFIX):
            raise NameRefused(f"starts with {RESERVED_PREFIX!r}, which the store keeps for itself")
        segments.append(segment)
    if not segments:
        raise NameRefused("names the folder itself, not a file in it")
    name = "/".join(segments)
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise NameRefused(f"is longer than {MAX_NAME_BYTES} bytes, more than any store key holds")
    return name


# How many characters of a listed name `shown` prints before cutting it short.
SHOWN_LIMIT = 80


def shown(raw: str, limit: int = SHOWN_LIMIT) -> str:
    """A listed name as it may be printed: on one line, escaped, and not too long."""
    text = raw if len(raw) <= limit else raw[:limit] + "..."
    return ascii(text)


_FILE = ""  # the key that marks a tree node as a file (no segment is empty)


def folder_conflicts(names: list[str]) -> set[str]:
    """Names that are both a file and a folder in one listing (`x` and `x/y`), with every name
    below them: they cannot all be stored, so all of them are refused.

    Told from a tree of the names' segments, in time and memory linear in the names' length
    (the set of every folder's whole path grew with the square of a deep name's length)."""
    tree: dict = {}
    for name in names:
        node = tree
        for segment in name.split("/"):
            node = node.setdefault(segment, {})
        node[_FILE] = True
    refused = set()
    for name in names:
        node = tree
        for segment in name.split("/"):
            node = node[segment]
            if _FILE in node and len(node) > 1:  # a file here, and names below it
                refused.add(name)
                break
    return refused


def _unescape_unreserved(match: re.Match) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def canonical_path(path: str) -> str:
    """One spelling of a URL path among those that name the same resource (RFC 3986, 6.2.2):
    an escaped unreserved character decoded (`%73ub/` is `sub/`), a character a URL may not hold
    as it is encoded (`my dir` is `my%20dir`, non-ASCII as UTF-8), every other escape kept, in
    capitals; a '%' that starts no escape is encoded itself. An escaped reserved character is
    not the character (RFC 3986, 2.2): a server may read a `+` as a space or cut a path at a
    `;`, so `a%2Bb` stays `a%2Bb`."""
    if _CANONICAL.fullmatch(path):
        return path
    encoded = quote(_BARE_PERCENT.sub("%25", path), safe=_PATH_SAFE)
    return _ESCAPE.sub(_unescape_unreserved, encoded)
