"""Outlook's Thread-Index: one conversation per ticket, a child block per mail,
and no base a requester's Outlook sends can make us fail."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifiers.threadindex import child_index, conversation_base, index_times

STARTED = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
# Written by Exchange Online: a modern header (2020-05-18 12:54:02.646732 UTC)
# and one reply block, counted from the header read the classic way.
EXCHANGE = "AQHWLRNo4NaOjvXU8EODe0ZotrA8B6itzaxf"

moments = st.datetimes(
    min_value=datetime(1990, 1, 1),  # noqa: DTZ001 hypothesis takes naive bounds, timezones= makes them aware
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001 as above
    timezones=st.just(UTC),
)


def _bytes(index: str) -> bytes:
    return base64.b64decode(index, validate=True)


def test_a_base_is_22_bytes_reserved_byte_time_and_guid() -> None:
    raw = _bytes(conversation_base("INC-1001", STARTED))
    assert len(raw) == 22
    assert raw[0] == 0x01
    (started,) = index_times(conversation_base("INC-1001", STARTED))
    assert timedelta(0) <= STARTED - started < timedelta(seconds=1.7)


def test_the_same_seed_gives_the_same_conversation() -> None:
    first = _bytes(conversation_base("INC-1001", STARTED))
    later = _bytes(conversation_base("INC-1001", STARTED + timedelta(days=3)))
    other = _bytes(conversation_base("INC-1002", STARTED))
    assert conversation_base("INC-1001", STARTED) == conversation_base("INC-1001", STARTED)
    assert first[6:] == later[6:]  # the GUID names the conversation
    assert first[6:] != other[6:]


def test_a_child_adds_five_bytes_to_the_base() -> None:
    base = conversation_base("INC-1001", STARTED)
    child = _bytes(child_index(base, STARTED + timedelta(hours=2)))
    assert len(child) == 27
    assert child[:22] == _bytes(base)


# Beyond 1.7 years a child block can be ambiguous (it wraps, in Outlook's own
# encoding too: from 2058 on, for a 1.7-year window every 228 years).
@given(started=moments, later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=600)))
def test_the_child_time_round_trips(started: datetime, later: timedelta) -> None:
    base = conversation_base("INC-1001", started)
    now = started + later
    header, child = index_times(child_index(base, now))
    assert timedelta(0) <= started - header < timedelta(seconds=1.7)
    # A base we write is modern: children are counted in steps of 2^23 ticks.
    assert timedelta(0) <= now - child < timedelta(seconds=0.84)


@pytest.mark.parametrize("years", [2, 20, 50])
def test_a_child_decades_later_round_trips(years: int) -> None:
    now = STARTED + timedelta(days=365 * years)
    _header, child = index_times(child_index(conversation_base("INC-1001", STARTED), now))
    assert timedelta(0) <= now - child < timedelta(seconds=0.84)


@given(later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=600)))
def test_a_classic_base_gets_fine_grained_children(later: timedelta) -> None:
    ticks = 134_000_000_000_000_000  # 2025, FILETIME
    base = base64.b64encode((ticks >> 16).to_bytes(6, "big") + bytes(range(16))).decode()
    (started,) = index_times(base)
    header, child = index_times(child_index(base, started + later))
    assert header == started
    assert timedelta(0) <= started + later - child < timedelta(milliseconds=27)


def test_a_reply_block_written_by_exchange_decodes_to_its_time() -> None:
    header, reply = index_times(EXCHANGE)
    assert header == datetime(2020, 5, 18, 12, 54, 2, 646732, tzinfo=UTC)
    assert reply == datetime(2020, 5, 18, 12, 57, 39, 754393, tzinfo=UTC)


def test_we_count_children_as_exchange_does() -> None:
    base = base64.b64encode(_bytes(EXCHANGE)[:22]).decode()
    replied = datetime(2020, 5, 18, 12, 57, 39, 754393, tzinfo=UTC) + timedelta(milliseconds=500)
    ours = _bytes(child_index(base, replied))
    assert ours[22:26] == _bytes(EXCHANGE)[22:26]  # all but the random byte


@given(base=st.binary(min_size=22, max_size=22), now=moments)
def test_any_base_and_time_give_a_child(base: bytes, now: datetime) -> None:
    child = _bytes(child_index(base64.b64encode(base).decode(), now))
    assert len(child) == 27
    assert child[:22] == base
    assert len(index_times(base64.b64encode(child).decode())) == 2


def test_a_base_from_the_future_is_clamped_to_its_own_time() -> None:
    base = conversation_base("INC-1001", STARTED + timedelta(days=2))
    header, child = index_times(child_index(base, STARTED))
    assert abs(child - header) < timedelta(seconds=1)


def test_the_child_is_the_same_for_the_same_inputs() -> None:
    base = conversation_base("INC-1001", STARTED)
    now = STARTED + timedelta(minutes=5)
    assert child_index(base, now) == child_index(base, now)


@pytest.mark.parametrize("base", ["", "AQID", "not base64!", base64.b64encode(bytes(27)).decode()])
def test_a_base_must_be_22_bytes_of_base64(base: str) -> None:
    with pytest.raises(ValueError, match="base"):
        child_index(base, STARTED)
