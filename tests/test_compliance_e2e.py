"""Opt-out and compliance through the real daemon and simulator: a STOP reply during a campaign
excludes the number for the whole network; the marketing window, the STOP mention, failed
numbers and the frequency cap at intake. The calendar is pinned (a Tuesday, 10:00 in Paris)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import trio

from gateway.client import GatewayError
from gateway.smpp.simulator import SimulatorConfig
from tests.helpers_daemon import message, running, wait_bound, wait_state

PARIS = ZoneInfo("Europe/Paris")
TUESDAY_10H = datetime(2026, 12, 1, 10, 0, tzinfo=PARIS).timestamp()
STOPPER = "+33611111111"
FINAL = {"delivered", "failed", "expired"}

NETWORK = {
    "accounts": (
        {"name": "shop1", "stop_mention": "STOP au 36184"},
        {"name": "shop2", "stop_mention": "STOP au 36184"},
        {"name": "elsewhere", "stop_mention": "STOP au 36185"},
    ),
    "extra": {
        "networks": [{"name": "chain", "accounts": ["shop1", "shop2"]}],
        "optout": {"reply_scope": "network"},
    },
}


def marketing(i: int, account: str, **fields):
    return message(i, account=account, **{"class": "marketing", "text": "Soldes -50%", **fields})


async def next_event(events, kind: str, timeout: float = 10.0) -> dict:
    with trio.fail_after(timeout):
        async for event in events:
            if event["event"] == kind:
                return event
    raise AssertionError("subscription ended")


async def test_a_stop_reply_blocks_the_number_for_every_account_of_the_network():
    sim = SimulatorConfig(port=0, receipt_delay=0.02, record=True,
                          stop_from=frozenset({STOPPER[1:]}))
    with trio.fail_after(40):
        async with running(sim, wall_at_start=TUESDAY_10H, **NETWORK) as r, \
                r.client() as client, r.client() as listener:
            await wait_bound(r.daemon)
            events = listener.subscribe(["optout", "reply"])
            await events.start()
            first = await client.submit(marketing(1, "shop1", to=STOPPER))
            reply = await next_event(events, "reply")
            assert (reply["from"], reply["text"], reply["account"]) == (STOPPER, "STOP", "shop1")
            optout = await next_event(events, "optout")
            assert (optout["number"], optout["scope"], optout["reason"]) == (
                STOPPER, "network:chain", "stop_reply")
            # the campaign message itself had the mention appended and was sent
            status = await wait_state(client, first["id"], FINAL)
            assert status["state"] == "delivered"
            sent = [p for p in r.sim.received if p.destination_addr == STOPPER[1:]]
            assert b"STOP au 36184" in sent[0].short_message
            # every later marketing message of the chain to that number is refused ...
            for account in ("shop1", "shop2"):
                with pytest.raises(GatewayError) as info:
                    await client.submit(marketing(2, account, to=STOPPER))
                assert info.value.code == "opted_out"
                assert "network:chain" in info.value.message
            results = await client.submit_many(
                [marketing(3, "shop2", to=STOPPER), marketing(4, "shop2")])
            assert [res["ok"] for res in results] == [False, True]
            assert results[0]["error"]["scope"] == "network:chain"
            # ... but not another network's, nor a notification
            other = await client.submit(marketing(5, "elsewhere", to=STOPPER))
            notice = await client.submit(message(6, account="shop2", to=STOPPER))
            assert other["state"] == notice["state"] == "queued"
            assert len([p for p in r.sim.received if p.destination_addr == STOPPER[1:]]) >= 1


async def test_the_global_scope_blocks_every_account():
    sim = SimulatorConfig(port=0, receipt_delay=0.02, stop_from=frozenset({STOPPER[1:]}))
    with trio.fail_after(40):
        async with running(sim, wall_at_start=TUESDAY_10H, accounts=NETWORK["accounts"]) as r, \
                r.client() as client, r.client() as listener:
            events = listener.subscribe(["optout"])
            await events.start()
            await client.submit(marketing(1, "shop1", to=STOPPER))
            optout = await next_event(events, "optout")
            assert optout["scope"] == "global"
            with pytest.raises(GatewayError) as info:
                await client.submit(marketing(2, "elsewhere", to=STOPPER))
            assert info.value.code == "opted_out"


async def test_marketing_outside_the_window_is_scheduled_and_the_mention_counted():
    saturday_21h = datetime(2026, 12, 5, 21, 0, tzinfo=PARIS).timestamp()
    monday_8h = datetime(2026, 12, 7, 8, 0, tzinfo=PARIS).timestamp()
    accounts = (
        {"name": "shop1", "stop_mention": "STOP au 36184"},
        {"name": "strict", "stop_mention": "STOP au 36184", "stop_mention_mode": "reject",
         "quiet_hours": "reject"},
    )
    with trio.fail_after(30):
        async with running(wall_at_start=saturday_21h, accounts=accounts) as r, \
                r.client() as client:
            text = "a" * 146  # 146 + " STOP au 36184" = 160: still one SMS
            held = await client.submit(marketing(1, "shop1", text=text))
            assert held["state"] == "scheduled"
            assert held["send_after"] == pytest.approx(monday_8h)
            assert held["parts"] == 1
            longer = await client.submit(marketing(2, "shop1", text="a" * 147))
            assert longer["parts"] == 2  # the appended mention costs a part
            with pytest.raises(GatewayError) as info:
                await client.submit(marketing(3, "shop1", validity=3600))
            assert info.value.code == "quiet_hours"
            with pytest.raises(GatewayError) as info:
                await client.submit(marketing(4, "strict", text="Soldes STOP au 36184"))
            assert info.value.code == "quiet_hours"
            with pytest.raises(GatewayError) as info:
                await client.submit(marketing(5, "strict", text="Soldes"))
            assert info.value.code == "missing_stop_mention"
            notice = await client.submit(message(6, account="shop1"))
            assert (await wait_state(client, notice["id"], FINAL))["state"] == "delivered"
            assert len(r.sim.received) == 1  # only the notification went on a Saturday night


async def test_numbers_that_keep_failing_are_excluded():
    sim = SimulatorConfig(port=0, receipt_delay=0.02, receipt_mix={"UNDELIV": 1.0})
    number = "+33622222222"
    with trio.fail_after(40):
        async with running(sim, wall_at_start=TUESDAY_10H, accounts=NETWORK["accounts"],
                           extra={"optout": {"failed_threshold": 2}}) as r, \
                r.client() as client, r.client() as listener:
            events = listener.subscribe(["optout"])
            await events.start()
            for i in range(2):
                reply = await client.submit(marketing(i, "shop1", to=number))
                assert (await wait_state(client, reply["id"], FINAL))["state"] == "failed"
            optout = await next_event(events, "optout")
            assert (optout["number"], optout["reason"], optout["scope"]) == (
                number, "failed_number", "global")
            assert optout["until"] > TUESDAY_10H + 80 * 86400
            with pytest.raises(GatewayError) as info:
                await client.submit(marketing(3, "shop2", to=number))
            assert info.value.code == "opted_out"


async def test_the_frequency_cap_counts_marketing_per_account_and_number():
    accounts = ({"name": "shop1", "stop_mention": "STOP au 36184", "frequency_cap": 2},
                {"name": "shop2", "stop_mention": "STOP au 36184"})
    with trio.fail_after(30):
        async with running(wall_at_start=TUESDAY_10H, accounts=accounts) as r, \
                r.client() as client:
            results = await client.submit_many([marketing(1, "shop1") for _ in range(3)])
            assert [res["ok"] for res in results] == [True, True, False]
            assert results[2]["error"]["code"] == "frequency_cap"
            with pytest.raises(GatewayError) as info:
                await client.submit(marketing(1, "shop1"))
            assert info.value.code == "frequency_cap"
            assert (await client.submit(marketing(1, "shop2")))["state"] == "queued"
            assert (await client.submit(message(1, account="shop1")))["state"] == "queued"


async def test_a_configured_confirmation_answers_the_stop():
    sim = SimulatorConfig(port=0, receipt_delay=0.02, record=True,
                          stop_from=frozenset({STOPPER[1:]}))
    confirmation = "Vous ne recevrez plus de SMS de notre part."
    with trio.fail_after(40):
        async with running(sim, wall_at_start=TUESDAY_10H, accounts=NETWORK["accounts"],
                           extra={"optout": {"confirmation": confirmation}}) as r, \
                r.client() as client, r.client() as listener:
            events = listener.subscribe(["optout"])
            await events.start()
            await client.submit(marketing(1, "shop1", to=STOPPER))
            await next_event(events, "optout")
            with trio.fail_after(10):
                while True:
                    texts = [p.short_message for p in r.sim.received
                             if p.destination_addr == STOPPER[1:]]
                    if len(texts) >= 2:
                        break
                    await trio.sleep(0.02)
            assert texts[1] == confirmation.encode()  # GSM-7, one septet per octet
            await trio.sleep(0.5)
            texts = [p.short_message for p in r.sim.received
                     if p.destination_addr == STOPPER[1:]]
            assert len(texts) == 2  # the confirmation's own STOP reply is not answered again
