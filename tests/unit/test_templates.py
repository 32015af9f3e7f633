"""The repository's notification templates: every kind in every language, the
lookup order, per-queue overrides of a file or a block, and HTML escaping."""

from __future__ import annotations

import email
import email.policy
import shutil
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from notifiers.headers import OutboundMail, build_message
from notifiers.render import CONTEXT_KEYS, DEFAULT_TEMPLATES, KINDS, Renderer

QUEUE = "Helpdesk@Example.org"
ACK = "acknowledgement"
STATUSES = (
    "new",
    "assigned",
    "in_progress",
    "pending",
    "resolved",
    "closed",
    "in_fulfilment",
    "fulfilled",
    "investigating",
    "known_error",
    "draft",
    "submitted",
    "awaiting_approval",
    "approved",
    "rejected",
    "scheduled",
    "implemented",
    "reviewed",
    "planned",
    "building",
    "deploying",
    "deployed",
)
CONTEXT: dict[str, Any] = {
    "ref": "INC-1001",
    "subject": "printer on fire",
    "queue": "helpdesk@example.org",
    "requester": "alice@example.org",
    "ticket_type": "incident",
    "status": "in_progress",
    "previous_status": "new",
    "text": "Hello Alice,\n\nplease switch it off and on again.\n\nJane",
    "agent_name": "Jane Doe",
    "reopen_days": 7,
    "auto_close_days": 14,
    "helpdesk_name": "Help desk",
}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A copy of the repository's templates, to add queue overrides to."""
    return Path(shutil.copytree(DEFAULT_TEMPLATES, tmp_path / "templates"))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_the_repository_has_english_and_german(renderer: Renderer) -> None:
    assert {"en", "de"} <= renderer.languages
    assert "queues" not in renderer.languages


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("language", ["en", "de"])
def test_every_kind_renders_in_every_language(renderer: Renderer, kind: str, language: str) -> None:
    rendered = renderer.render(kind, queue=QUEUE, language=language, context=CONTEXT)
    assert rendered.language == language
    assert "[INC-1001]" in rendered.subject
    assert "printer on fire" in rendered.subject
    assert "\n" not in rendered.subject
    assert rendered.text.strip()
    assert rendered.html.strip()
    assert rendered.html.lstrip().startswith("<!DOCTYPE html>")
    assert f'<html lang="{language}">' in rendered.html
    assert "INC-1001" in rendered.text
    assert rendered.text.endswith("\n")
    assert not rendered.text.startswith("\n")


@pytest.mark.parametrize("kind", KINDS)
def test_german_is_not_english(renderer: Renderer, kind: str) -> None:
    english = renderer.render(kind, queue=QUEUE, language="en", context=CONTEXT)
    german = renderer.render(kind, queue=QUEUE, language="de", context=CONTEXT)
    assert german.text != english.text
    assert german.html != english.html
    assert "Mit freundlichen Grüßen" in german.text or kind == "reply"
    assert "Störung" in german.text  # the ticket type, translated


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("language", ["en", "de"])
def test_optional_values_may_be_empty(renderer: Renderer, kind: str, language: str) -> None:
    context = {
        **CONTEXT,
        "previous_status": None,
        "agent_name": None,
        "text": "",
        "reopen_days": 0,
        "auto_close_days": 0,
    }
    rendered = renderer.render(kind, queue=QUEUE, language=language, context=context)
    assert "None" not in rendered.text
    assert "None" not in rendered.html


def test_reply_subjects_start_with_re_in_every_language(renderer: Renderer) -> None:
    for language in ("en", "de"):
        ack = renderer.render("acknowledgement", queue=QUEUE, language=language, context=CONTEXT)
        reply = renderer.render("reply", queue=QUEUE, language=language, context=CONTEXT)
        assert ack.subject == "[INC-1001] printer on fire"
        assert reply.subject == "Re: [INC-1001] printer on fire"


def test_a_reply_carries_the_agents_text_and_name(renderer: Renderer) -> None:
    rendered = renderer.render("reply", queue=QUEUE, language="en", context=CONTEXT)
    assert rendered.text.startswith("Hello Alice,\n\nplease switch it off and on again.")
    assert "Jane Doe" in rendered.text
    assert "please switch it off and on again.<br>" in rendered.html


def test_statuses_are_shown_translated(renderer: Renderer) -> None:
    context = {**CONTEXT, "status": "in_progress", "previous_status": "awaiting_approval"}
    english = renderer.render("status_changed", queue=QUEUE, language="en", context=context)
    german = renderer.render("status_changed", queue=QUEUE, language="de", context=context)
    assert "from “awaiting approval” to “in progress”" in english.text
    assert "von „wartet auf Genehmigung“ auf „in Bearbeitung“" in german.text
    assert "in_progress" not in english.text + german.text + english.html + german.html


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("status", STATUSES)
def test_every_status_has_a_name(renderer: Renderer, language: str, status: str) -> None:
    context = {**CONTEXT, "status": status}
    rendered = renderer.render("status_changed", queue=QUEUE, language=language, context=context)
    assert status not in rendered.text or "_" not in status
    labels = (DEFAULT_TEMPLATES / language / "labels.toml").read_text(encoding="utf-8")
    assert f"\n{status} = " in labels


def test_an_unknown_status_shows_with_spaces(renderer: Renderer) -> None:
    context = {**CONTEXT, "status": "waiting_for_vendor"}
    rendered = renderer.render("status_changed", queue=QUEUE, language="de", context=context)
    assert "„waiting for vendor“" in rendered.text


@pytest.mark.parametrize(
    ("wanted", "picked"),
    [
        (("de-DE",), "de"),
        (("DE",), "de"),
        (("de_AT",), "de"),
        ((" en-GB ",), "en"),
        (("fr", "de"), "de"),
        (("fr", None, "de-CH"), "de"),
        ((None,), "en"),
        (("fr",), "en"),
        ((), "en"),
        (("",), "en"),
    ],
)
def test_pick_language(renderer: Renderer, wanted: tuple[str | None, ...], picked: str) -> None:
    assert renderer.pick_language(*wanted) == picked


def test_a_language_we_lack_falls_back_to_english(renderer: Renderer) -> None:
    rendered = renderer.render("acknowledgement", queue=QUEUE, language="fr", context=CONTEXT)
    english = renderer.render("acknowledgement", queue=QUEUE, language="en", context=CONTEXT)
    assert rendered == english


def test_a_queue_override_replaces_only_its_file(renderer: Renderer, templates: Path) -> None:
    _write(templates / "queues/helpdesk@example.org/acknowledgement.subject", "Got it: {{ ref }}\n")
    overridden = Renderer(templates)
    for language in ("en", "de"):
        before = renderer.render("acknowledgement", queue=QUEUE, language=language, context=CONTEXT)
        after = overridden.render(
            "acknowledgement", queue=QUEUE, language=language, context=CONTEXT
        )
        assert after.subject == "Got it: INC-1001"
        assert (after.text, after.html) == (before.text, before.html)
    other = overridden.render(
        "acknowledgement", queue="it@example.org", language="en", context=CONTEXT
    )
    assert other.subject == "[INC-1001] printer on fire"


def test_a_queue_language_override_comes_first(templates: Path) -> None:
    queue = templates / "queues/helpdesk@example.org"
    _write(queue / "closed.subject", "any language\n")
    _write(queue / "de/closed.subject", "nur Deutsch\n")
    overridden = Renderer(templates)
    german = overridden.render("closed", queue=QUEUE, language="de", context=CONTEXT)
    english = overridden.render("closed", queue=QUEUE, language="en", context=CONTEXT)
    assert (german.subject, english.subject) == ("nur Deutsch", "any language")


def test_a_queue_override_can_replace_one_block(renderer: Renderer, templates: Path) -> None:
    _write(
        templates / "queues/helpdesk@example.org/acknowledgement.txt",
        '{% extends language ~ "/acknowledgement.txt" %}\n'
        "{% block signature %}\nYour Facilities Team\n{% endblock %}\n",
    )
    _write(
        templates / "queues/helpdesk@example.org/en/acknowledgement.html",
        '{% extends "en/acknowledgement.html" %}\n'
        "{% block signature %}<p>Your Facilities Team</p>{% endblock %}\n",
    )
    overridden = Renderer(templates)
    for language, signature in (("en", "Kind regards,"), ("de", "Mit freundlichen Grüßen")):
        before = renderer.render("acknowledgement", queue=QUEUE, language=language, context=CONTEXT)
        after = overridden.render(
            "acknowledgement", queue=QUEUE, language=language, context=CONTEXT
        )
        assert "Your Facilities Team" in after.text
        assert signature not in after.text
        assert after.text.replace("Your Facilities Team\n", "") == before.text.replace(
            f"{signature}\nHelp desk\n", ""
        )
        assert after.subject == before.subject
    html = overridden.render("acknowledgement", queue=QUEUE, language="en", context=CONTEXT).html
    assert "<p>Your Facilities Team</p>" in html
    assert "Thank you for your message." in html  # the body block is the repository's


def test_html_escapes_subject_and_text(renderer: Renderer) -> None:
    context = {
        **CONTEXT,
        "subject": "<script>alert(1)</script>",
        "text": "line one <b>\nline two & more",
        "agent_name": "<img src=x>",
    }
    for kind in KINDS:
        rendered = renderer.render(kind, queue=QUEUE, language="en", context=context)
        assert "<script>" not in rendered.html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
        assert "<img" not in rendered.html
        assert "<script>alert(1)</script>" in rendered.subject  # a subject is no HTML
    reply = renderer.render("reply", queue=QUEUE, language="en", context=context)
    assert "line one &lt;b&gt;<br>\nline two &amp; more" in reply.html
    assert "line one <b>\nline two & more" in reply.text  # text is not escaped


def test_a_context_without_every_variable_is_refused(renderer: Renderer) -> None:
    context = {key: value for key, value in CONTEXT.items() if key != "helpdesk_name"}
    with pytest.raises(ValueError, match="helpdesk_name"):
        renderer.render("acknowledgement", queue=QUEUE, language="en", context=context)
    with pytest.raises(ValueError, match="unknown notification"):
        renderer.render("escalation", queue=QUEUE, language="en", context=CONTEXT)
    assert set(CONTEXT) == CONTEXT_KEYS


def test_lookups_are_remembered(templates: Path) -> None:
    renderer = Renderer(templates)
    first = renderer.render("acknowledgement", queue=QUEUE, language="de", context=CONTEXT)
    shutil.rmtree(templates)  # nothing is read again once a kind was rendered
    assert renderer.render("acknowledgement", queue=QUEUE, language="de", context=CONTEXT) == first


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_rendered_mail_round_trips_as_multipart(renderer: Renderer, language: str) -> None:
    rendered = renderer.render("reply", queue=QUEUE, language=language, context=CONTEXT)
    raw = build_message(
        OutboundMail(
            sender="helpdesk@example.org",
            sender_name="Jane Doe",
            to=("alice@example.org",),
            reply_to="helpdesk+INC-1001.abc123@example.org",
            subject=rendered.subject,
            message_id="<INC-1001.x1@example.org>",
            date=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
            text=rendered.text,
            html=rendered.html,
            language=rendered.language,
            auto_submitted="auto-generated",
            loop_marker="example.org",
        )
    )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert isinstance(plain, EmailMessage)
    assert isinstance(html, EmailMessage)
    assert plain.get_content().replace("\r\n", "\n") == rendered.text
    assert html.get_content().replace("\r\n", "\n") == rendered.html
    assert message["Subject"] == rendered.subject
    assert message["Content-Language"] == language
