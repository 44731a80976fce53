"""Calendar periods in a configured zone: days of 23 and 25 hours across DST changes, ISO
weeks from Monday, month and year ends; and the totals of calls written either side of each
boundary, on every database."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from ledger_rows import make_row
from sqlalchemy import select

from budgets.oracle import expected, stored
from llmledger.store import Writer
from llmledger.store.totals import Calendar, TotalsSpec, spend_totals

US = dt.timedelta(microseconds=1)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
BERLIN = TotalsSpec(tz="Europe/Berlin", tag_keys=("tenant",))


def us(text: str) -> int:
    return (dt.datetime.fromisoformat(text) - EPOCH) // US


def test_a_berlin_day_across_the_spring_change_has_23_hours():
    periods = Calendar(BERLIN).periods(us("2026-03-29T12:00:00+02:00"))
    assert periods == [
        ("day", us("2026-03-29T00:00:00+01:00"), us("2026-03-30T00:00:00+02:00")),
        ("week", us("2026-03-23T00:00:00+01:00"), us("2026-03-30T00:00:00+02:00")),
        ("month", us("2026-03-01T00:00:00+01:00"), us("2026-04-01T00:00:00+02:00")),
    ]
    day = periods[0]
    assert day[2] - day[1] == 23 * 3_600_000_000


def test_a_berlin_day_across_the_autumn_change_has_25_hours():
    (day, week, _month) = Calendar(BERLIN).periods(us("2026-10-25T02:30:00+01:00"))
    assert day == ("day", us("2026-10-25T00:00:00+02:00"), us("2026-10-26T00:00:00+01:00"))
    assert day[2] - day[1] == 25 * 3_600_000_000
    assert week == ("week", us("2026-10-19T00:00:00+02:00"), us("2026-10-26T00:00:00+01:00"))


@pytest.mark.parametrize(
    ("instant", "day", "week", "month"),
    [
        # One microsecond before and at local midnight ending Sunday 2026-03-29 (ISO week 13).
        ("2026-03-29T21:59:59.999999+00:00", "2026-03-29", "2026-03-23", "2026-03-01"),
        ("2026-03-29T22:00:00+00:00", "2026-03-30", "2026-03-30", "2026-03-01"),
        # Month end: still March in UTC, already April in Berlin.
        ("2026-03-31T22:00:00+00:00", "2026-04-01", "2026-03-30", "2026-04-01"),
        ("2026-03-31T21:59:59.999999+00:00", "2026-03-31", "2026-03-30", "2026-03-01"),
        # An ISO week across the new year starts in December.
        ("2027-01-01T12:00:00+00:00", "2027-01-01", "2026-12-28", "2027-01-01"),
        ("2026-12-31T23:00:00+00:00", "2027-01-01", "2026-12-28", "2027-01-01"),
    ],
)
def test_boundaries_in_berlin(instant, day, week, month):
    zone = ZoneInfo("Europe/Berlin")
    starts = {
        period: dt.datetime.fromtimestamp(start // 1_000_000, zone).date().isoformat()
        for period, start, _end in Calendar(BERLIN).periods(us(instant))
    }
    assert starts == {"day": day, "week": week, "month": month}


def test_a_midnight_skipped_by_dst_starts_the_day_at_its_first_instant():
    # Chile moves its clocks from 00:00 to 01:00 on 2026-09-06: that day starts at 01:00.
    spec = TotalsSpec(tz="America/Santiago", periods=("day",))
    [(_, start, end)] = Calendar(spec).periods(us("2026-09-06T12:00:00-03:00"))
    assert (
        start == us("2026-09-06T01:00:00-03:00") == us("2026-09-05T23:00:00-04:00") + 3_600_000_000
    )
    assert end - start == 23 * 3_600_000_000


def test_the_calendar_follows_each_row_not_the_last_day_it_saw():
    calendar = Calendar(BERLIN)
    late, early = us("2026-03-30T10:00:00+02:00"), us("2026-03-29T10:00:00+02:00")
    assert calendar.periods(late)[0][1] == us("2026-03-30T00:00:00+02:00")
    assert calendar.periods(early)[0][1] == us("2026-03-29T00:00:00+01:00")
    assert calendar.periods(late)[0][1] == us("2026-03-30T00:00:00+02:00")


def test_bad_specs_are_refused_naming_the_field():
    with pytest.raises(ValueError, match=r"TotalsSpec\.tz"):
        TotalsSpec(tz="Europe/Atlantis")
    with pytest.raises(ValueError, match=r"TotalsSpec\.periods"):
        TotalsSpec(periods=("year",))


def test_totals_either_side_of_each_boundary(engine, tmp_path):
    instants = [
        "2026-03-29T21:59:59.999999+00:00",
        "2026-03-29T22:00:00+00:00",
        "2026-03-31T21:59:59.999999+00:00",
        "2026-03-31T22:00:00+00:00",
        "2026-10-24T21:59:59.999999+00:00",
        "2026-10-25T23:00:00+00:00",
        "2026-12-31T22:59:59.999999+00:00",
        "2026-12-31T23:00:00+00:00",
    ]
    writer = Writer(engine, spool_path=tmp_path / "spool.jsonl", totals=BERLIN)
    for n, instant in enumerate(instants):
        writer.submit(make_row(n, at_us=us(instant), tags={"tenant": "acme"}))
    assert writer.flush(timeout=60)
    writer.close()
    totals = stored(engine, BERLIN)
    assert totals == expected(engine, BERLIN)
    days = sorted(k[1] for k in totals if k[0] == "day" and k[2] == ())
    assert days == [
        "2026-03-29",
        "2026-03-30",
        "2026-03-31",
        "2026-04-01",
        "2026-10-24",
        "2026-10-26",
        "2026-12-31",
        "2027-01-01",
    ]
    with engine.connect() as connection:
        ends = connection.execute(
            select(spend_totals.c.start_us, spend_totals.c.end_us).where(
                spend_totals.c.period == "day",
                spend_totals.c.start_us == us("2026-03-29T00:00:00+01:00"),
            )
        ).all()
    assert [tuple(e) for e in ends] == [
        (us("2026-03-29T00:00:00+01:00"), us("2026-03-30T00:00:00+02:00"))
    ] * 2
