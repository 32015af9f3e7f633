"""HTML from mail: sanitised before anyone shows it, readable as text when it is all
there is, quoted history dropped where the client marked it."""

from __future__ import annotations

import pytest

import parsers
from parsers.html import sanitise, to_text


@pytest.mark.parametrize(
    ("markup", "gone"),
    [
        ("<p>hi</p><script>alert(1)</script>", "alert"),
        ("<style>body{background:url(http://t.example/p.gif)}</style><p>hi</p>", "t.example"),
        ('<p onclick="steal()" onmouseover="x()">hi</p>', "steal"),
        ('<a href="javascript:steal()">hi</a>', "javascript"),
        ('<a href="vbscript:x">hi</a>', "vbscript"),
        ('<img src="http://track.example/pixel.gif" alt="">', "track.example"),
        ('<img src="//track.example/p.gif">', "track.example"),
        ('<p style="background:url(http://t.example/x)">hi</p>', "t.example"),
        ('<table background="http://t.example/bg.gif"><tr><td>x</td></tr></table>', "t.example"),
        ('<link rel="stylesheet" href="http://t.example/s.css"><p>hi</p>', "t.example"),
        ('<meta http-equiv="refresh" content="0;url=http://evil.example/"><p>hi</p>', "evil"),
        ('<base href="http://evil.example/"><a href="x">hi</a>', "evil"),
        ('<iframe src="http://evil.example/"></iframe><p>hi</p>', "evil"),
        ('<form action="http://evil.example/"><input name="pw"></form>', "evil"),
        ("<svg><script>alert(1)</script></svg><p>hi</p>", "alert"),
        ('<object data="http://evil.example/x.swf"></object>', "evil"),
        ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', "data:"),
        ('<a href="relative/path">hi</a>', "relative"),
        ('<video poster="http://t.example/p.jpg"></video>', "t.example"),
        ('<img srcset="http://t.example/a.png 2x" src="cid:x">', "t.example"),
        ('<q cite="javascript:steal()">hi</q>', "javascript"),
        ('<blockquote cite="http://t.example/q">hi</blockquote>', "t.example"),
        ('<del cite="javascript:x">a</del><ins cite="javascript:y">b</ins>', "javascript"),
    ],
)
def test_sanitise_removes_active_and_remote_content(markup: str, gone: str) -> None:
    clean = sanitise(markup)
    assert clean is not None
    assert gone not in clean


def test_sanitise_keeps_what_is_safe_to_show() -> None:
    clean = sanitise(
        '<p>Hello <b>there</b></p><img src="cid:logo@example.org" alt="logo">'
        '<a href="https://example.org/kb/42">KB 42</a><a href="mailto:desk@example.org">m</a>'
    )
    assert clean is not None
    assert "<b>there</b>" in clean
    assert 'src="cid:logo@example.org"' in clean
    assert 'href="https://example.org/kb/42"' in clean
    assert 'rel="noopener noreferrer nofollow"' in clean
    assert 'href="mailto:desk@example.org"' in clean


def test_sanitise_refuses_block_nesting_that_would_take_quadratic_time() -> None:
    # Refused by the estimate, before html5ever runs: a regression takes minutes.
    deep = "<div>" * 50_000 + "x"
    assert sanitise(deep) is None
    # Flat markup with as many elements is fine.
    assert sanitise("<div>x</div>" * 50_000) is not None


@pytest.mark.parametrize("stray", ["</x>", "</span>", "</p>"])
def test_stray_end_tags_do_not_hide_the_nesting(stray: str) -> None:
    # html5ever ignores an end tag with no open element of its name: 110,000 of
    # `<div></x>` took 312 s to sanitise while the estimate saw no nesting at all.
    markup = f"<div>{stray}" * 110_000 + "deep text"
    assert sanitise(markup) is None
    assert to_text(markup) == "deep text"


def test_matching_end_tags_close_their_elements() -> None:
    markup = "<div><span>a</span><b>b</b></div>" * 20_000
    assert sanitise(markup) is not None


def test_stray_end_tags_in_a_mail_keep_only_the_text() -> None:
    raw = b"From: a@example.org\r\nContent-Type: text/html\r\n\r\n" + b"<div></x>" * 110_000
    parsed = parsers.parse(raw + b"words")
    assert parsed.html is None
    assert "HTML nested too deep to sanitise in time; only its text was kept" in parsed.defects
    assert parsed.full_text == "words"


def test_to_text_lays_out_blocks_and_skips_hidden_content() -> None:
    markup = (
        "<html><head><title>Newsletter</title><style>p{color:red}</style></head><body>"
        "<h1>Printer&nbsp;down</h1><p>Floor   2,\n  room 7.</p><ul><li>one</li><li>two</li></ul>"
        "<table><tr><td>a</td><td>b</td></tr></table><pre>  keep   this</pre>"
        "<script>var x = '<p>no</p>';</script>&lt;ok&gt; &amp; &#8364;\u200b</body></html>"
    )
    assert to_text(markup) == (
        "Printer down\n\nFloor 2, room 7.\n\none\ntwo\n\na b\n\nkeep   this\n\n<ok> & €"
    )


@pytest.mark.parametrize(
    "quote",
    [
        '<div class="gmail_quote"><div class="gmail_attr">On Mon, Bob wrote:</div>'
        "<blockquote>OLD HISTORY</blockquote></div>",
        '<blockquote type="cite">OLD HISTORY</blockquote>',
        '<div class="moz-cite-prefix">On Mon, Bob wrote:</div>'
        '<blockquote type="cite">OLD HISTORY</blockquote>',
        '<div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Bob</div>'
        "<div>OLD HISTORY</div>",
        '<hr><div id="divRplyFwdMsg">From: Bob</div><p>OLD HISTORY</p>',
        '<div class="yahoo_quoted"><div>On Monday, Bob wrote:</div><div>OLD HISTORY</div></div>',
    ],
)
def test_marked_history_is_dropped_after_new_text(quote: str) -> None:
    text = to_text(f'<div dir="ltr">Thanks, that fixed it.</div><br>{quote}')
    assert "Thanks, that fixed it." in text
    assert "OLD HISTORY" not in text
    assert "Bob" not in text


@pytest.mark.parametrize(
    "quote",
    [
        '<div class="gmail_quote">---------- Forwarded message ---------<br>OLD HISTORY</div>',
        '<blockquote type="cite">OLD HISTORY</blockquote>',
        '<div id="divRplyFwdMsg">From: Bob</div><p>OLD HISTORY</p>',
    ],
)
def test_marked_history_is_kept_when_it_is_all_there_is(quote: str) -> None:
    # A forward with no comment: the "history" is the content.
    assert "OLD HISTORY" in to_text(f"<div><br></div>{quote}")


def test_text_after_a_closed_quote_block_is_kept() -> None:
    text = to_text('<p>new</p><blockquote type="cite"><p>old</p></blockquote><p>inline reply</p>')
    assert text.split() == ["new", "inline", "reply"]


@pytest.mark.parametrize(
    "markup",
    [
        "<p>unclosed <b>bold <i>italic",
        "</div></div></p>stray ends",
        "<![if !supportLists]>x<![endif]>",
        "<!DOCTYPE html><!--[if mso]><p>mso</p><![endif]-->text",
        "<a href='x>y'>link",
        "<" * 1000 + "text",
        "<div>" * 10_000 + "deep text",
    ],
)
def test_to_text_survives_broken_markup(markup: str) -> None:
    assert isinstance(to_text(markup), str)


def test_html_only_mail_becomes_readable_text_and_sanitised_html() -> None:
    raw = (
        b"From: a@example.org\r\nSubject: html only\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><body><p>Der Drucker &uuml;berhitzt.</p>"
        b'<p onclick="x()">Bitte <a href="https://example.org/x">pr\xc3\xbcfen</a>.</p>'
        b"<script>evil()</script></body></html>"
    )
    parsed = parsers.parse(raw)
    assert parsed.full_text == "Der Drucker überhitzt.\n\nBitte prüfen."
    assert parsed.html is not None
    assert "evil" not in parsed.html
    assert "onclick" not in parsed.html
    assert "prüfen" in parsed.html


def test_alternative_mail_takes_text_from_the_plain_part_and_keeps_the_html() -> None:
    raw = (
        b"From: a@example.org\r\nSubject: alt\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="a"\r\n\r\n--a\r\n'
        b"Content-Type: text/plain\r\n\r\nplain version\r\n--a\r\n"
        b"Content-Type: text/html\r\n\r\n<p>html <b>version</b></p>\r\n--a--\r\n"
    )
    parsed = parsers.parse(raw)
    assert parsed.full_text == "plain version"
    assert parsed.html == "<p>html <b>version</b></p>"


def test_plain_text_mail_has_no_html() -> None:
    parsed = parsers.parse(b"From: a@example.org\r\nSubject: s\r\n\r\n<p>not html</p>\r\n")
    assert parsed.html is None
    assert parsed.full_text == "<p>not html</p>"
