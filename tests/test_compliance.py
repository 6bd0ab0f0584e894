"""The intake rules for marketing (gateway.compliance.Policy) at explicit instants: STOP mention,
the marketing window across Sundays, holidays, the 20:30/08:00 edges and DST, and senders."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.compliance import Policy, PolicyError
from gateway.config import parse_config

PARIS = ZoneInfo("Europe/Paris")
HOUR = 3600.0


def paris(*args: int) -> float:
    return datetime(*args, tzinfo=PARIS).timestamp()


def policy(**account: object) -> Policy:
    config = parse_config(
        {
            "operators": [{"name": "sim", "host": "127.0.0.1", "system_id": "g", "password": "p",
                           "tps": 10}],
            "accounts": [
                {"name": "shop", "stop_mention": "STOP au 36184", **account},
                {"name": "plain"},
            ],
        },
        source="test",
    )
    return Policy(config)


def opens(p: Policy, start: float, validity: float = 48 * HOUR) -> float | None:
    return p.decide(account="shop", marketing=True, text="Soldes STOP au 36184", start=start,
                    validity=validity).send_after


def test_a_missing_mention_is_appended_and_counted():
    d = policy().decide(account="shop", marketing=True, text="Soldes -50% !",
                        start=paris(2026, 12, 1, 10, 0), validity=HOUR)
    assert d.text == "Soldes -50% ! STOP au 36184" and d.mention_appended
    again = policy().decide(account="shop", marketing=True, text="Soldes stop AU 36184",
                            start=paris(2026, 12, 1, 10, 0), validity=HOUR)
    assert again.text == "Soldes stop AU 36184" and not again.mention_appended


def test_reject_mode_refuses_and_off_mode_leaves_it():
    with pytest.raises(PolicyError) as info:
        policy(stop_mention_mode="reject").decide(
            account="shop", marketing=True, text="Soldes", start=paris(2026, 12, 1, 10, 0),
            validity=HOUR)
    assert info.value.code == "missing_stop_mention"
    assert "STOP au 36184" in info.value.message
    d = policy(stop_mention_mode="off").decide(
        account="shop", marketing=True, text="Soldes", start=paris(2026, 12, 1, 10, 0),
        validity=HOUR)
    assert d.text == "Soldes"


def test_notifications_pass_untouched_at_any_hour():
    d = policy().decide(account="shop", marketing=False, text="Votre code 1234",
                        start=paris(2026, 12, 25, 3, 0), validity=HOUR)
    assert (d.text, d.send_after) == ("Votre code 1234", None)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (paris(2026, 12, 1, 8, 0), None),  # Tuesday 08:00: open
        (paris(2026, 12, 1, 20, 29), None),  # 20:29: open
        (paris(2026, 12, 1, 20, 30), paris(2026, 12, 2, 8, 0)),  # 20:30: closed until 08:00
        (paris(2026, 12, 2, 7, 59), paris(2026, 12, 2, 8, 0)),
        (paris(2026, 12, 5, 21, 0), paris(2026, 12, 7, 8, 0)),  # Saturday evening -> Monday
        (paris(2026, 12, 6, 12, 0), paris(2026, 12, 7, 8, 0)),  # Sunday noon
        (paris(2026, 12, 24, 21, 0), paris(2026, 12, 26, 8, 0)),  # Christmas Day is closed
        (paris(2026, 3, 29, 1, 0), paris(2026, 3, 30, 8, 0)),  # DST Sunday 2026 -> Monday CEST
        (paris(2026, 3, 30, 7, 30), paris(2026, 3, 30, 8, 0)),  # the Monday after the change
        (paris(2026, 10, 25, 2, 30), paris(2026, 10, 26, 8, 0)),  # fall-back Sunday -> CET
        (paris(2026, 7, 13, 22, 0), paris(2026, 7, 15, 8, 0)),  # 14 July
        (paris(2026, 11, 10, 21, 0), paris(2026, 11, 12, 8, 0)),  # 11 November
        (paris(2027, 3, 27, 21, 0), paris(2027, 3, 30, 8, 0)),  # Sat, Sun, Easter Monday
        (paris(2027, 5, 5, 21, 0), paris(2027, 5, 7, 8, 0)),  # Ascension Thursday 2027-05-06
    ],
)
def test_marketing_outside_the_window_is_held_for_the_next_opening(start, expected):
    assert opens(policy(), start, validity=5 * 24 * HOUR) == expected


def test_validity_that_ends_before_the_window_opens_is_refused():
    with pytest.raises(PolicyError) as info:
        opens(policy(), paris(2026, 12, 5, 21, 0), validity=12 * HOUR)
    assert info.value.code == "quiet_hours"
    assert "after the message's validity ends" in info.value.message
    assert "2026-12-07T07:00:00+00:00" in info.value.message


def test_an_account_may_refuse_instead_of_holding():
    with pytest.raises(PolicyError) as info:
        opens(policy(quiet_hours="reject"), paris(2026, 12, 1, 22, 0))
    assert info.value.code == "quiet_hours"
    assert opens(policy(quiet_hours="reject"), paris(2026, 12, 1, 10, 0)) is None


def test_an_account_limited_to_its_senders():
    p = policy(senders=["BOUTIQUE", "+33612345678"])
    p.check_sender("shop", "BOUTIQUE")
    p.check_sender("shop", "33612345678")
    with pytest.raises(PolicyError) as info:
        p.check_sender("shop", "AUTRE")
    assert info.value.code == "invalid_sender" and "BOUTIQUE" in info.value.message
    p.check_sender("plain", "AUTRE")  # no list: any valid sender
