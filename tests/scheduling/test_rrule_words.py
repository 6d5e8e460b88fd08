"""A series' rule is shown to staff in plain words, never as RRULE text it could word."""

import pytest

from scheduling.recurrence import rrule_weekly, rrule_words


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("FREQ=WEEKLY;BYDAY=MO;COUNT=6", "Every week on Monday, 6 visits"),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;COUNT=10", "Every 2 weeks on Monday and Thursday, 10 visits"),
        (
            "FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20270305",
            "Every week on Monday, Wednesday and Friday, until Mar 5, 2027",
        ),
        ("FREQ=MONTHLY;COUNT=3", "Every month, 3 visits"),
        (
            "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=3",
            "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=3",
        ),  # not worded: shown as is
    ],
)
def test_rules_read_as_words(rule, words):
    assert rrule_words(rule) == words


def test_the_plain_controls_round_trip_to_the_same_words():
    rule = rrule_weekly(every=3, days=["TU"], count=4)
    assert rrule_words(rule) == "Every 3 weeks on Tuesday, 4 visits"
