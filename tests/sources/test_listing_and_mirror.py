"""The IIS listing parser against the documented BLS page, and the mirror's own listing."""

from __future__ import annotations

import re

import pytest
import requests

from quest.mirror.server import MirrorServer
from quest.sources.body import Download
from quest.sources.listing import (
    canonical_path,
    crawl,
    folder_url,
    links_to_its_parent,
    listing_cut_short,
    parse_listing,
)

from .support import CONTACT

PAGE = "https://download.bls.gov/pub/time.series/pr/"
# The 6 Aug 2026 page rebuilt as tests/data/SOURCES.md describes, on one line as IIS writes it.
BLS_PAGE = (
    "<html><head><title>download.bls.gov - /pub/time.series/pr/</title></head><body><H1>"
    "download.bls.gov - /pub/time.series/pr/</H1><hr>\r\n\r\n"
    '<pre><A HREF="/pub/time.series/">[To Parent Directory]</A><br><br>'
    '  8/6/2026  8:30 AM          102 <A HREF="/pub/time.series/pr/pr.class">pr.class</A><br>'
    ' 9/13/2022  4:52 PM          562 <A HREF="/pub/time.series/pr/pr.contacts">pr.contacts</A><br>'
    '  8/6/2026  8:30 AM      1613575 <A HREF="/pub/time.series/pr/pr.data.0.Current">'
    "pr.data.0.Current</A><br>"
    "11/18/2011  4:05 PM           79 "
    '<A HREF="/pub/time.series/pr/pr.seasonal">pr.seasonal</A><br>'
    ' 1/7/1994  3:53 PM        &lt;dir&gt; <A HREF="/pub/time.series/pr/old/">old</A><br>'
    "</pre><hr></body></html>"
)
ENTRY = re.compile(
    r"[ \d/]{10} [ \d:]{5} [AP]M [ \d]{12}|[ \d/]{10} [ \d:]{5} [AP]M {8}&lt;dir&gt;"
)


def test_bls_listing_gives_files_dates_sizes_and_folders_without_the_parent():
    entries = parse_listing(BLS_PAGE, PAGE)
    assert [e.url.rsplit("/pr/", 1)[1] for e in entries] == [
        "pr.class",
        "pr.contacts",
        "pr.data.0.Current",
        "pr.seasonal",
        "old/",
    ]
    assert entries[2].size == 1613575 and entries[2].modified == "2026-08-06T08:30"
    assert entries[1].modified == "2022-09-13T16:52"
    assert entries[3].modified == "2011-11-18T16:05"
    assert entries[4].is_dir and entries[4].size is None
    assert not any(e.is_dir for e in entries[:4])


@pytest.mark.parametrize(
    ("time", "iso"),
    [("12:05 AM", "00:05"), ("12:05 PM", "12:05"), (" 1:05 PM", "13:05"), ("11:59 AM", "11:59")],
)
def test_the_twelve_oclock_hours_are_midnight_and_noon(time, iso):
    # Taken for the same hour, two dates twelve hours apart would read as one: a same-size
    # update at noon, after a midnight release, would be skipped.
    page = f'<pre> 8/6/2026 {time}          102 <A HREF="/pub/time.series/pr/pr.class">x</A></pre>'
    [entry] = parse_listing(page, PAGE)
    assert entry.modified == f"2026-08-06T{iso}"


@pytest.mark.parametrize(
    "when",
    [
        "13/6/2026  8:30 AM",
        "8/32/2026  8:30 AM",
        "0/6/2026  8:30 AM",
        "8/0/2026  8:30 AM",
        "8/6/2026 13:30 PM",
        "8/6/2026  0:30 AM",
        "8/6/2026  8:60 AM",
    ],
)
def test_a_date_no_calendar_has_is_no_date_and_the_size_still_counts(when):
    # Without a date the file is never taken as unchanged from the listing alone: it is asked
    # for (conditionally), instead of recorded under a date no later listing can match.
    page = f'<pre> {when}          102 <A HREF="/pub/time.series/pr/pr.class">x</A></pre>'
    [entry] = parse_listing(page, PAGE)
    assert entry.modified is None and entry.size == 102


def test_links_outside_the_folder_are_ignored():
    page = '<pre><A HREF="https://example.org/x">x</A><A HREF="/pub/other/y">y</A></pre>'
    assert parse_listing(page, PAGE) == []


@pytest.mark.parametrize(
    "origin",
    ["https://DOWNLOAD.BLS.GOV", "https://download.bls.gov:443", "HTTPS://Download.bls.gov:443"],
)
def test_a_link_to_the_pages_own_host_spelled_otherwise_is_an_entry(origin):
    page = f'<pre><A HREF="{origin}/pub/time.series/pr/pr.class">pr.class</A></pre>'
    [entry] = parse_listing(page, PAGE)
    assert entry.url == PAGE + "pr.class"  # fetched from the host as configured


@pytest.mark.parametrize(
    "href",
    [
        "https://download.bls.gov:8443/pub/time.series/pr/x",
        "http://download.bls.gov/pub/time.series/pr/x",
    ],
)
def test_another_port_or_scheme_is_another_site(href):
    assert parse_listing(f'<pre><A HREF="{href}">x</A></pre>', PAGE) == []


def test_mirror_listing_uses_the_iis_format_on_one_line(source):
    source.write("pr.class", b"x" * 102)
    source.write("sub/pr.a", b"a")
    with MirrorServer(source.root) as mirror:
        page = requests.get(mirror.bls_url, headers={"User-Agent": f"t (+{CONTACT})"}, timeout=5)
    text = page.text
    assert text.startswith(
        "<html><head><title>download.bls.gov - /pub/time.series/pr/</title></head><body><H1>"
    )
    assert '<pre><A HREF="/pub/time.series/">[To Parent Directory]</A><br><br>' in text
    line = text.split("<pre>", 1)[1]
    assert "\n" not in line
    assert (
        ' 8/6/2026  8:31 AM          102 <A HREF="/pub/time.series/pr/pr.class">pr.class</A>'
        in line
    )
    assert '&lt;dir&gt; <A HREF="/pub/time.series/pr/sub/">sub</A><br>' in line
    assert len(ENTRY.findall(line)) == 2


def test_crawl_follows_sub_folders_and_names_files_relative_to_the_root(settings, source, mirror):
    source.write("pr.a", b"a")
    source.write("sub/deeper/pr.b", b"bb")
    session = requests.Session()
    session.headers["User-Agent"] = f"quest (+{CONTACT})"
    files = crawl(session, mirror.bls_url, settings).files
    assert [(f.name, f.size) for f in files] == [("pr.a", 1), ("sub/deeper/pr.b", 2)]
    assert files[1].url == mirror.bls_url + "sub/deeper/pr.b"


def test_a_root_url_with_a_query_gets_its_slash_before_the_query(settings, source, mirror):
    # The slash went after the query ('...pr?sort=name/'): the query changed, the path did not.
    assert folder_url("https://h/pub/pr?sort=name") == "https://h/pub/pr/?sort=name"
    assert folder_url("https://h/pub/pr/?sort=name") == "https://h/pub/pr/?sort=name"
    assert folder_url("https://h/pub/pr#top") == "https://h/pub/pr/#top"
    assert folder_url("https://h") == "https://h/"
    source.write("pr.a", b"a")
    session = requests.Session()
    session.headers["User-Agent"] = f"quest (+{CONTACT})"
    files = crawl(session, mirror.bls_url.rstrip("/") + "?sort=name", settings).files
    assert [(f.name, f.size) for f in files] == [("pr.a", 1)]


def test_the_mirror_keeps_the_query_when_it_adds_a_folders_slash(source, mirror):
    source.write("sub/pr.a", b"a")
    agent = {"User-Agent": f"t (+{CONTACT})"}
    answer = requests.get(
        mirror.bls_url + "sub?sort=name", headers=agent, timeout=5, allow_redirects=False
    )
    assert answer.status_code == 301
    assert answer.headers["Location"] == "/pub/time.series/pr/sub/?sort=name"


def test_mirror_answers_conditional_requests_with_304(source, mirror):
    source.write("pr.a", b"abc")
    agent = {"User-Agent": f"t (+{CONTACT})"}
    first = requests.get(mirror.bls_url + "pr.a", headers=agent, timeout=5)
    assert first.content == b"abc" and first.headers["Content-Length"] == "3"
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    by_etag = requests.get(
        mirror.bls_url + "pr.a", headers={**agent, "If-None-Match": etag}, timeout=5
    )
    by_date = requests.get(
        mirror.bls_url + "pr.a", headers={**agent, "If-Modified-Since": modified}, timeout=5
    )
    assert (by_etag.status_code, by_date.status_code) == (304, 304)
    assert by_etag.content == b""
    anonymous = requests.get(mirror.bls_url + "pr.a", headers={"User-Agent": "curl/8"}, timeout=5)
    assert anonymous.status_code == 403


def test_mirror_serves_legacy_shape_converted_from_tesseract_records(tmp_path):
    from quest.mirror.sample import generate_sample
    from quest.sources.datausa import parse_population

    generate_sample(tmp_path)
    with MirrorServer(tmp_path) as mirror:
        legacy = requests.get(mirror.datausa_legacy_url, timeout=5).json()
        tesseract = requests.get(mirror.datausa_url, timeout=5).json()
    assert "ID Year" in legacy["data"][0] and isinstance(legacy["data"][0]["Year"], str)
    assert parse_population(legacy, "legacy") == parse_population(tesseract, "tesseract")


@pytest.mark.parametrize(
    ("page", "content_type", "problem"),
    [
        (BLS_PAGE, "text/html", None),
        (BLS_PAGE[: BLS_PAGE.index("pr.seasonal")], "text/html", "inside its list of entries"),
        (BLS_PAGE.replace("<pre>", "<PRE>").replace("</pre>", "</PRE >"), "text/html", None),
        # the entries all there, the page's end lost: whole enough
        (BLS_PAGE[: BLS_PAGE.index("<hr></body>")], "text/html", None),
        ('<html><body><a href="/pub/time.series/pr/a">a</a></body></html>', "text/html", None),
        ('<html><body><a href="/pub/time.series/pr/a">a</a>', "text/html", "before its end"),
        # a `<pre` in a comment of a page laid out as a table, which ends itself
        (
            '<html><body><!-- <pre> --><table><tr><td><a href="a">a</a></td></tr></table>'
            "</body></html>",
            "text/html",
            None,
        ),
        # not HTML at all: crawl refuses it by its type, with its own message
        ("{}", "application/json", None),
    ],
)
def test_a_listing_page_is_whole_only_when_its_entries_end(page, content_type, problem):
    got = Download(None, 200, len(page), "", "", "", "", content_type, PAGE, page.encode())
    found = listing_cut_short(got)
    assert found is None if problem is None else problem in str(found)


@pytest.mark.parametrize(
    ("page", "listing"),
    [
        ('<pre><A HREF="/pub/time.series/pr/">[To Parent Directory]</A><br><br></pre>', True),
        ('<h1>Index of /pr/sub/</h1><hr><pre><a href="../">../</a>\n</pre><hr>', True),  # nginx
        (
            '<table><tr><td><a href="/pub/time.series/pr/">Parent Directory</a></td></tr></table>',
            True,
        ),
        ('<a href="/">Home</a> <a href="/pub/">pub</a> busy', False),
        ('<a href="help.html">Help</a>', False),
        (
            '<a href="/pub/time.series/pr/">up</a><pre><a href="x">x</a></pre>',
            False,
        ),  # not in <pre>
    ],
)
def test_a_sub_folder_page_is_a_listing_only_when_it_links_to_its_parent(page, listing):
    folder = "https://download.bls.gov/pub/time.series/pr/sub/"
    assert links_to_its_parent(f"<html><body>{page}</body></html>", folder, folder) is listing


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("/pub/time.series/pr/pr.data.0.Current", "/pub/time.series/pr/pr.data.0.Current"),
        ("/pub/%73ub/", "/pub/sub/"),  # an escaped unreserved character is the character
        ("/pub/my dir/x", "/pub/my%20dir/x"),  # what a URL may not hold as it is, encoded
        ("/pub/%c3%a9", "/pub/%C3%A9"),
        ("/pub/\u00e9", "/pub/%C3%A9"),
        # an escaped reserved character is not the character: kept, in capitals
        ("/pub/a%2Bb.txt", "/pub/a%2Bb.txt"),
        ("/pub/a%3bv2", "/pub/a%3Bv2"),
        ("/pub/a%2fb", "/pub/a%2Fb"),
        ("/pub/a+b;c", "/pub/a+b;c"),
        ("/pub/%zz", "/pub/%25zz"),  # a '%' that starts no escape
        ("/pub/%%41B", "/pub/%25AB"),
    ],
)
def test_a_path_has_one_canonical_spelling(path, canonical):
    assert canonical_path(path) == canonical
    assert canonical_path(canonical) == canonical


def test_a_whole_page_in_utf_16_is_whole():
    # Its tags are no ASCII bytes: searched as bytes, a whole page read as cut short.
    page = BLS_PAGE.encode("utf-16")
    got = Download(None, 200, len(page), "", "", "", "", "text/html; charset=utf-16", PAGE, page)
    assert listing_cut_short(got) is None
    cut = BLS_PAGE[: BLS_PAGE.index("pr.seasonal")].encode("utf-16")
    got = Download(None, 200, len(cut), "", "", "", "", "text/html; charset=utf-16", PAGE, cut)
    assert f"ends after {len(cut)} bytes, inside its list of entries" in listing_cut_short(got)


def test_a_client_gone_mid_request_prints_no_traceback_where_another_error_does(tmp_path, capsys):
    # A sync stopped with Ctrl-C resets its connection: `quest mirror` printed the reset's
    # traceback into its terminal, as socketserver does for any error of a request's thread.
    with MirrorServer(tmp_path) as mirror:
        server = mirror._server
        for gone in (ConnectionResetError(104, "Connection reset by peer"), BrokenPipeError(32)):
            try:
                raise gone
            except OSError:
                server.handle_error(None, ("127.0.0.1", 50000))
        assert capsys.readouterr().err == ""
        try:
            raise ValueError("a fault of the mirror's own")
        except ValueError:
            server.handle_error(None, ("127.0.0.1", 50000))
        err = capsys.readouterr().err
        assert "ValueError: a fault of the mirror's own" in err and "Traceback" in err
