"""A clock tests move by hand: backoff, reopen windows and rate limits crossed without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class StepClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)
