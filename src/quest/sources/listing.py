"""The BLS directory listing: an IIS `<pre>` page, parsed into files with their dates and sizes.

IIS writes every entry as `M/D/YYYY h:mm AM  <size or &lt;dir&gt;> <A HREF="/abs/path">name</A>`
on one line, parent link first. We read the text before each link rather than splitting lines,
so the one-line page and a pretty-printed one parse the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urljoin, urlparse

import requests
from bs4 import BeautifulSoup, NavigableString

from quest.config import Settings
from quest.errors import SourceError
from quest.sources.http import HttpStats, get

_ENTRY = re.compile(
    r"(?P<date>\d{1,2}/\d{1,2}/\d{4})\s+(?P<time>\d{1,2}:\d{2}\s*[AP]M)\s+"
    r"(?P<size>\d+|<dir>)\s*$",
    re.IGNORECASE,
)
MAX_DEPTH = 8


@dataclass(frozen=True)
class RemoteFile:
    """One file the listing shows: its name relative to the root URL, where to get it, and
    the date and size the listing gives (None when the listing does not say)."""

    name: str
    url: str
    modified: str | None
    size: int | None


@dataclass(frozen=True)
class _Entry:
    url: str
    is_dir: bool
    modified: str | None
    size: int | None


def _text_before(anchor) -> str:
    node = anchor.previous_sibling
    return str(node) if isinstance(node, NavigableString) else ""


def _parse_date(date: str, clock: str) -> str | None:
    try:
        when = datetime.strptime(f"{date} {clock.upper().replace(' ', '')}", "%m/%d/%Y %I:%M%p")
    except ValueError:
        return None
    return when.strftime("%Y-%m-%dT%H:%M")


def parse_listing(html: str, page_url: str) -> list[_Entry]:
    """Every entry below `page_url` on one listing page (parent and foreign links dropped)."""
    soup = BeautifulSoup(html, "html.parser")
    root = soup.find("pre") or soup
    base = urlparse(page_url)
    entries: list[_Entry] = []
    for anchor in root.find_all("a", href=True):
        url = urljoin(page_url, anchor["href"])
        parsed = urlparse(url)
        # The parent link and anything off this folder are not part of the mirror.
        if parsed.netloc != base.netloc or not parsed.path.startswith(base.path):
            continue
        if parsed.path == base.path:
            continue
        match = _ENTRY.search(_text_before(anchor))
        size_text = match.group("size") if match else ""
        is_dir = size_text.lower() == "<dir>" or parsed.path.endswith("/")
        entries.append(
            _Entry(
                url=url.split("#")[0],
                is_dir=is_dir,
                modified=_parse_date(match.group("date"), match.group("time")) if match else None,
                size=int(size_text) if size_text.isdigit() else None,
            )
        )
    return entries


def crawl(
    session: requests.Session, root_url: str, settings: Settings, stats: HttpStats | None = None
) -> list[RemoteFile]:
    """Every file under `root_url`, following sub-folders, sorted by relative name.

    Raises:
        SourceError: when a listing page cannot be fetched or is not HTML.
    """
    root_url = root_url if root_url.endswith("/") else root_url + "/"
    root_path = urlparse(root_url).path
    files: dict[str, RemoteFile] = {}
    pending, seen = [(root_url, 0)], {root_url}
    while pending:
        page_url, depth = pending.pop()
        response = get(session, page_url, settings, stats=stats)
        kind = response.headers.get("Content-Type", "")
        if "html" not in kind.lower():
            raise SourceError(f"{page_url}: expected an HTML directory listing, got {kind!r}")
        if stats is not None:
            stats.bytes_down += len(response.content)
        for entry in parse_listing(response.text, page_url):
            if entry.is_dir:
                url = entry.url if entry.url.endswith("/") else entry.url + "/"
                if url not in seen and depth < MAX_DEPTH:
                    seen.add(url)
                    pending.append((url, depth + 1))
                continue
            name = unquote(urlparse(entry.url).path[len(root_path) :])
            files[name] = RemoteFile(name, entry.url, entry.modified, entry.size)
    return [files[name] for name in sorted(files)]
