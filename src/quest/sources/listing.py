"""The BLS directory listing: an IIS `<pre>` page, parsed into files with their dates and sizes.

IIS writes every entry as `M/D/YYYY h:mm AM  <size or &lt;dir&gt;> <A HREF="/abs/path">name</A>`
on one line, parent link first. We read the text just before each link rather than splitting
lines, so the one-line page and a pretty-printed one parse the same.

The page is read with the standard library's `html.parser`, one pass over the text and constant
work per tag, so a listing parses in time linear in its size (a tree builder grew quadratically
on a page of 300,000 links). The crawl is bounded: `QUEST_MAX_LISTING_BYTES` over all pages,
`QUEST_MAX_LISTING_PAGES` folders, `QUEST_MAX_LISTING_DEPTH` levels below the root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import NamedTuple
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from quest.config import Settings
from quest.errors import HostNotFound, SourceError
from quest.sources.body import Download, Limit, safe_url
from quest.sources.http import HttpStats
from quest.sources.names import (
    NameRefused,
    canonical_path,
    decode_name,
    folder_conflicts,
    shown,
)
from quest.sources.transfer import Fetch, brief_error, download, site_origin

_ENTRY = re.compile(
    r"(?P<date>\d{1,2}/\d{1,2}/\d{4})\s+(?P<time>\d{1,2}:\d{2}\s*[AP]M)\s+"
    r"(?P<size>\d+|<dir>)\s*$",
    re.IGNORECASE,
)
# An IIS entry's text before its link is ~40 characters; only the tail is ever searched.
_TEXT_KEPT = 200
_CHARSET = re.compile(r"charset=\"?([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_PRE_OPEN = re.compile(r"<pre[\s>]", re.IGNORECASE)
_PRE_CLOSE = re.compile(r"</pre\s*>", re.IGNORECASE)
_PAGE_END = re.compile(r"</(?:body|html)\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class RemoteFile:
    """One file the listing shows: its name relative to the root URL, where to get it, and
    the date and size the listing gives (None when the listing does not say)."""

    name: str
    url: str
    modified: str | None
    size: int | None


@dataclass(frozen=True)
class RefusedName:
    """A listed name that maps to no safe key: as listed (escaped), and why."""

    name: str
    reason: str


@dataclass
class Listing:
    """What the crawl found: the files to mirror, sorted by name, and the names it refused."""

    files: list[RemoteFile] = field(default_factory=list)
    refused: list[RefusedName] = field(default_factory=list)


@dataclass(frozen=True)
class _Entry:
    url: str
    is_dir: bool
    modified: str | None
    size: int | None


class _Links(HTMLParser):
    """Every `<a href>` with the text just before it, and whether it sits in the first `<pre>`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str, bool]] = []
        self.pres = 0
        self._in_pre = False
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre":
            self.pres += 1
            self._in_pre = True
        elif tag == "a":
            href = next((value for key, value in attrs if key == "href" and value), None)
            if href is not None:
                self.links.append((href, self._text, self._in_pre and self.pres == 1))
        self._text = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._in_pre = False
        self._text = ""

    def handle_data(self, data: str) -> None:
        self._text = (self._text + data)[-_TEXT_KEPT:]


def listing_cut_short(got: Download) -> str | None:
    """Why an HTML listing page looks cut short, or None. A page cut half-way still parses, and
    every file after the cut would look deleted at the source: a page sent without a
    `Content-Length` ends where the connection closes, and a proxy that buffered a page which
    broke off sends what it got with a length of its own, or chunked. IIS closes the entries'
    `<pre>` (other servers end the page); a page that does neither is not whole, however it
    came. An answer that is not HTML is left to `crawl`, which refuses it by its type."""
    if "html" not in got.content_type.lower():
        return None
    # Read as `crawl` reads it: a UTF-16 page holds no ASCII `</pre>`.
    size = len(got.body or b"")
    page = _page_text(got)
    opened = _PRE_OPEN.search(page)
    if opened is not None:
        # A page that ends itself after the `<pre` is whole too (that `<pre` may sit in a
        # comment or a script of a listing laid out otherwise).
        ended = _PRE_CLOSE.search(page, opened.end()) or _PAGE_END.search(page, opened.end())
        if ended is None:
            return f"the page ends after {size} bytes, inside its list of entries (no </pre>)"
        return None
    if _PAGE_END.search(page) is None:
        return f"the page ends after {size} bytes, before its end (no </body> or </html>)"
    return None


def _parse_date(match: re.Match) -> str | None:
    """`M/D/YYYY h:mm AM` as `YYYY-MM-DDTHH:MM` (strptime costs more than the rest of a line)."""
    month, day, year = (int(part) for part in match.group("date").split("/"))
    clock = "".join(match.group("time").upper().split())
    hour, minute = int(clock[:-5]), int(clock[-4:-2])
    if not (1 <= month <= 12 and 1 <= day <= 31 and 1 <= hour <= 12 and minute <= 59):
        return None
    hour = hour % 12 + (12 if clock.endswith("PM") else 0)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}"


def folder_url(url: str) -> str:
    """`url` with its path ending in `/`, as a folder's listing is asked for: the slash goes to
    the end of the path, not after a query (`.../pr?sort=name` -> `.../pr/?sort=name`)."""
    parts = urlsplit(url)
    if parts.path.endswith("/"):
        return url
    return urlunsplit(parts._replace(path=parts.path + "/"))


def canonical_url(url: str) -> str:
    """`url` with its path in its canonical spelling (`canonical_path`)."""
    parts = urlsplit(url)
    path = canonical_path(parts.path)
    return url if path == parts.path else urlunsplit(parts._replace(path=path))


def _resolve(page_url: str, origins: tuple[str, str], href: str) -> tuple[str, str, str]:
    """The link's absolute URL (no fragment), its origin as `site_origin` writes it, and its path,
    spelled canonically (`canonical_path`): a page may link a folder or a file under another
    spelling of its path than the one it was asked by, and read raw, the link would fall outside
    the folder, its stored file looking deleted. `origins` are the page's origin as written and as
    compared; a link to the page's own origin is given the origin as written (with the user
    information the page was asked with). An absolute path without dot segments, as IIS writes
    every entry, takes the fast way; anything else `urljoin`."""
    written, compared = origins
    href = href.strip()
    if href.startswith("/") and not href.startswith("//") and "/." not in href:
        path, mark, query = href.split("#")[0].partition("?")
        path = canonical_path(path)
        return written + path + mark + query, compared, path
    url = urljoin(page_url, href).split("#")[0]
    parsed = urlsplit(url)
    origin = site_origin(parsed)
    path = canonical_path(parsed.path)
    if origin == compared:
        url = written + path + (f"?{parsed.query}" if parsed.query else "")
    return url, origin, path


class _Link(NamedTuple):
    """One link of a listing page, resolved against the page's URL."""

    url: str
    origin: str
    path: str
    before: str  # the page's text just before it (IIS's date and size)


# The longest tag a listing page may hold: IIS's are under 200 characters (a link with its
# quoted path); a long path in a link stays well under it.
_MAX_TAG = 8192


class UnclosedMarkup(ValueError):
    """A listing page holding a tag or a comment that is never closed."""


def unclosed_markup(html: str) -> str | None:
    """Where `html` opens a tag with no `>` within `_MAX_TAG` characters, or a comment with no
    `-->` after it, or None. One pass, linear in the page's size: for each such `<`, the standard
    library's parser scans the rest of the page again, so a page of them took hours to parse
    (`<a ` repeated: 30 KB, 7 s; 60 KB, 30 s)."""
    at = 0
    while (at := html.find("<", at)) >= 0:
        if html.startswith("<!--", at):
            end = html.find("-->", at + 4)
            if end < 0:
                return f"a comment at character {at} is never closed (no -->)"
            at = end + 3
            continue
        end = html.find(">", at + 1, at + 1 + _MAX_TAG)
        if end < 0:
            return f"the '<' at character {at} has no '>' within {_MAX_TAG} characters"
        at = end + 1
    return None


def _page_links(html: str, page_url: str) -> list[_Link]:
    """The page's links, resolved: those in its first `<pre>` where it has one (the entries;
    links elsewhere are page furniture), else all.

    Raises:
        UnclosedMarkup: a page whose markup `unclosed_markup` refuses (no listing has any).
        ValueError: a link that is not a URL.
    """
    if problem := unclosed_markup(html):
        raise UnclosedMarkup(problem)
    parser = _Links()
    parser.feed(html)
    parser.close()
    base = urlsplit(page_url)
    origins = f"{base.scheme}://{base.netloc}", site_origin(base)
    return [
        _Link(*_resolve(page_url, origins, href), before)
        for href, before, in_pre in parser.links
        if in_pre or not parser.pres
    ]


def _entries(links: list[_Link], page_url: str) -> list[_Entry]:
    base = urlsplit(page_url)
    origin = site_origin(base)
    entries: list[_Entry] = []
    for link in links:
        # The parent link and anything off this folder are not part of the mirror.
        if link.origin != origin:
            continue
        if not link.path.startswith(base.path) or link.path == base.path:
            continue
        match = _ENTRY.search(link.before)
        size_text = match.group("size") if match else ""
        entries.append(
            _Entry(
                url=link.url,
                is_dir=size_text.lower() == "<dir>" or link.path.endswith("/"),
                modified=_parse_date(match) if match else None,
                size=int(size_text) if size_text.isdigit() else None,
            )
        )
    return entries


def _has_parent_link(links: list[_Link], folder_url: str) -> bool:
    folder = urlsplit(folder_url)
    origin = site_origin(folder)
    parent = folder.path.rstrip("/").rsplit("/", 1)[0] + "/"
    return any(
        link.origin == origin
        and (link.path if link.path.endswith("/") else link.path + "/") == parent
        for link in links
    )


def parse_listing(html: str, page_url: str) -> list[_Entry]:
    """Every entry below `page_url` on one listing page (parent and foreign links dropped)."""
    return _entries(_page_links(html, page_url), page_url)


def links_to_its_parent(html: str, page_url: str, folder_url: str) -> bool:
    """Whether the page links to the folder one level above `folder_url` (the folder asked
    for), as every directory listing does (IIS's `[To Parent Directory]`, `../` elsewhere),
    empty or not; where the page has a `<pre>`, among the links inside it. A site's "Home" or
    help link on an error page is not that link."""
    return _has_parent_link(_page_links(html, page_url), folder_url)


class _Crawl:
    """The state of one crawl: what is left to fetch and what it costs so far."""

    def __init__(self, root_url: str, settings: Settings) -> None:
        self.root_url = root_url
        self.root_path = urlsplit(root_url).path
        self.settings = settings
        self.bytes_left = settings.max_listing_bytes
        self.pages = 0
        self.pending: list[tuple[str, int]] = [(root_url, 0)]
        self.seen = {root_url}
        self.files: dict[str, RemoteFile] = {}
        self.refused: list[RefusedName] = []
        self.contradicted: set[str] = set()

    def label(self, page_url: str) -> str:
        folder = urlsplit(page_url).path[len(self.root_path) :]
        return f"the listing page {shown(folder or '/')}"

    def refuse(self, what: str, fix: str) -> SourceError:
        return SourceError(f"{safe_url(self.root_url)}: {what}; nothing was changed. {fix}")

    def add_folder(self, url: str, depth: int) -> None:
        url = folder_url(url)
        if url in self.seen:
            return
        raw = urlsplit(url).path[len(self.root_path) :]
        try:
            decode_name(raw)
        except NameRefused as exc:
            self.refused.append(RefusedName(shown(raw), f"(a folder) {exc}"))
            return
        if depth > self.settings.max_listing_depth:
            raise self.refuse(
                f"the listing nests folders deeper than "
                f"QUEST_MAX_LISTING_DEPTH={self.settings.max_listing_depth} ({safe_url(url)})",
                "Raise QUEST_MAX_LISTING_DEPTH if the source really is that deep.",
            )
        self.seen.add(url)
        self.pending.append((url, depth))

    def add_file(self, entry: _Entry) -> None:
        raw = urlsplit(entry.url).path[len(self.root_path) :]
        try:
            name = decode_name(raw)
        except NameRefused as exc:
            self.refused.append(RefusedName(shown(raw), str(exc)))
            return
        # Two spellings of one name (`a//b`, `a/./b`) are one file: the first listed is fetched.
        # Listed twice with another date or size, it is not known which the source holds.
        listed = self.files.setdefault(
            name, RemoteFile(name, entry.url, entry.modified, entry.size)
        )
        if (listed.modified, listed.size) != (entry.modified, entry.size):
            self.contradicted.add(name)


def _fetch_page(session, fetch: Fetch, settings: Settings, stats) -> Download:
    """One listing page. A sub-folder the listing named moments ago (`fetch.listed`) that now
    answers 404 was removed meanwhile: its error stays retryable, as the next attempt lists the
    folder again. Only the URL given (the root) is a setting that another attempt cannot mend
    (a server on this machine refusing a sub-folder went away mid-crawl, as for a file: the
    next attempt may find it back)."""
    try:
        return download(session, fetch, settings, stats)
    except SourceError as exc:
        if fetch.listed and not isinstance(exc, HostNotFound):
            exc.retryable = True
        raise


def _links_of(state: _Crawl, page_url: str, text: str, final_url: str) -> list[_Link]:
    """The links of the page fetched for `page_url` (answered from `final_url`), or the
    crawl's refusal of a page that is no listing."""
    try:
        return _page_links(text, final_url)
    except UnclosedMarkup as exc:
        raise state.refuse(
            f"{state.label(page_url)} ({safe_url(page_url)}) is not a directory listing: {exc}",
            "Rerun later; if it persists, check what the source answers for that folder.",
        ) from None
    except ValueError as exc:
        # A link that is no URL (`http://[bad/`): which file it names cannot be told, and
        # leaving it out would make a stored file look deleted.
        raise state.refuse(
            f"{state.label(page_url)} ({safe_url(page_url)}) has a link that is not a URL "
            f"({brief_error(exc)})",
            "Rerun later; if it persists, check what the source answers for that folder.",
        ) from None


def crawl(
    session: requests.Session, root_url: str, settings: Settings, stats: HttpStats | None = None
) -> Listing:
    """Every file under `root_url`, following sub-folders, sorted by relative name, and every
    listed name refused (see `quest.sources.names`).

    Raises:
        SourceError: a listing page that cannot be fetched, is not HTML or was redirected to
            another path, or a listing past its bounds (bytes, pages, depth).
    """
    root_url = canonical_url(folder_url(root_url))
    state = _Crawl(root_url, settings)
    while state.pending:
        page_url, depth = state.pending.pop()
        state.pages += 1
        if state.pages > settings.max_listing_pages:
            raise state.refuse(
                f"the listing has more than QUEST_MAX_LISTING_PAGES={settings.max_listing_pages} "
                "folders",
                "Raise QUEST_MAX_LISTING_PAGES if the source really has that many.",
            )
        limit = Limit(
            max(0, state.bytes_left),
            f"QUEST_MAX_LISTING_BYTES={settings.max_listing_bytes} (all pages together)",
            "raise QUEST_MAX_LISTING_BYTES if the listing is really that big",
        )
        fetch = Fetch(
            page_url,
            state.label(page_url),
            limit=limit,
            cut_short=listing_cut_short,
            listed=page_url != root_url,  # a sub-folder: a page named it
        )
        page = _fetch_page(session, fetch, settings, stats)
        state.bytes_left -= page.size
        kind = page.content_type
        if "html" not in kind.lower():
            raise SourceError(
                f"{state.label(page_url)}: {safe_url(page_url)} is not an HTML directory "
                f"listing (Content-Type {kind[:60]!r}); nothing was changed. Check QUEST_BLS_URL."
            )
        text = _page_text(page)
        if urlsplit(page.url).path != urlsplit(page_url).path:
            # Its entries would be named from another folder, or from another spelling of this
            # one: files under wrong keys, or the folder's stored files looking deleted.
            raise state.refuse(
                f"{state.label(page_url)} ({safe_url(page_url)}) was redirected to "
                f"{safe_url(page.url)}, another path",
                "Check QUEST_BLS_URL, or what the source answers for that folder.",
            )
        links = _links_of(state, page_url, text, page.url)
        if depth and not _has_parent_link(links, page_url):
            # An error page sent with a 200 for a folder would read as a folder without the
            # files stored under it (or with its own links as files): they would look deleted.
            raise state.refuse(
                f"{state.label(page_url)} ({safe_url(page_url)}) has no link to its parent "
                "folder: not a directory listing (an error page?)",
                "Rerun later; if it persists, check what the source answers for that folder.",
            )
        for entry in _entries(links, page.url):
            if entry.is_dir:
                state.add_folder(entry.url, depth + 1)
            else:
                state.add_file(entry)
    for name in sorted(folder_conflicts(list(state.files))):
        state.refused.append(RefusedName(shown(name), "is listed both as a file and as a folder"))
        del state.files[name]
    for name in sorted(state.contradicted & set(state.files)):
        state.refused.append(
            RefusedName(shown(name), "appears twice, with different dates or sizes")
        )
        del state.files[name]
    return Listing([state.files[name] for name in sorted(state.files)], state.refused)


def _page_text(got: Download) -> str:
    """An answer's body as text, in the charset its Content-Type declares (UTF-8 if none)."""
    charset = _CHARSET.search(got.content_type)
    return _decode(got.body or b"", charset.group(1) if charset else "utf-8")


def _decode(body: bytes, charset: str) -> str:
    """The page as text in its declared charset; in UTF-8 when Python has no such codec, or one
    that is not a text encoding (`undefined`, `idna` raise UnicodeError, not LookupError)."""
    try:
        return body.decode(charset, "replace")
    except (LookupError, UnicodeError):
        return body.decode("utf-8", "replace")
