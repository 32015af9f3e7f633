"""Intake decisions on plain values: retry with backoff, then quarantine; who gets no answer."""

from __future__ import annotations

from datetime import UTC, datetime

import parsers
from mailbridge.engine.intake import may_answer, record_failure
from mailbridge.settings import Settings
from mailbridge.store.models import IntakeRecord, IntakeStatus

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def _record() -> IntakeRecord:
    return IntakeRecord(
        raw=b"x",
        sha256="0" * 64,
        envelope_sender="a@example.org",
        envelope_recipients=[],
        adapter="smtp",
        received_at=NOW,
        status=IntakeStatus.PENDING,
        attempts=0,
    )


def test_a_failing_record_is_retried_with_growing_backoff_then_quarantined() -> None:
    record = _record()
    waits = []
    for _ in range(2):
        record_failure(record, "boom", permanent=False, now=NOW, max_attempts=3)
        assert record.status is IntakeStatus.PENDING
        assert record.next_attempt_at is not None
        waits.append(record.next_attempt_at - NOW)
    assert waits[1] > waits[0]
    record_failure(record, "boom again", permanent=False, now=NOW, max_attempts=3)
    assert record.status is IntakeStatus.QUARANTINED
    assert (record.attempts, record.error) == (3, "boom again")


def test_a_permanent_failure_is_quarantined_at_once() -> None:
    record = _record()
    record_failure(record, "unparseable: empty", permanent=True, now=NOW, max_attempts=3)
    assert record.status is IntakeStatus.QUARANTINED


def _mail(headers: str) -> parsers.ParsedMail:
    return parsers.parse(f"Message-ID: <m@x>\r\nSubject: s\r\n{headers}\r\n\r\nbody\r\n".encode())


def test_may_answer_a_person_but_not_a_machine_or_ourselves() -> None:
    settings = Settings()
    assert may_answer(_mail("From: bob@example.org"), "bob@example.org", settings) == (True, "")
    other_desk = _mail("From: bob@example.org\r\nX-Mailbridge-Loop: example.net 0a1b2c")
    assert may_answer(other_desk, "bob@example.org", settings) == (True, "")
    silent = [
        (_mail("From: bob@example.org"), ""),
        (_mail("From: bob@example.org"), "<>"),
        (_mail("From: bob@example.org\r\nAuto-Submitted: auto-generated"), "bob@example.org"),
        (_mail("From: noreply@example.org"), "noreply@example.org"),
        (_mail("From: helpdesk@localhost"), "helpdesk@localhost"),
        (_mail("From: bob@example.org"), "HELPDESK@localhost"),
        (_mail("To: nobody@example.org"), "bob@example.org"),
        # A mail of ours that came back through a forward rule that rewrote From.
        (_mail("From: bob@example.org\r\nX-Mailbridge-Loop: localhost 0a1b2c"), "bob@example.org"),
    ]
    for parsed, envelope in silent:
        answer, why = may_answer(parsed, envelope, settings)
        assert answer is False
        assert why
