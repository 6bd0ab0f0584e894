"""The sans-IO SMPP session (gateway/smpp/session.py), driven through a SessionPair: bind, sequence
numbers, the window, response matching, time-outs and keep-alive, unbind, framing of the input,
malformed input, connection loss, a cross-check of our bytes against smpplib, and every state x
every input (h2's test_state_machines). The randomised whole-session run is
test_smpp_session_fuzz.py."""

from __future__ import annotations

import dataclasses
import itertools
import struct

import pytest
import smpplib.smpp
from hypothesis import given
from hypothesis import strategies as st

from gateway.smpp import codec
from gateway.smpp.events import (
    BindFailed,
    BindMode,
    BindRequested,
    Bound,
    ConnectionLost,
    NackReceived,
    Outstanding,
    PduRejected,
    RequestReceived,
    RequestTimedOut,
    ResponseReceived,
    Unbound,
    UnexpectedResponse,
)
from gateway.smpp.pdu import (
    PDU_CLASSES,
    BindReceiverResp,
    BindTransceiver,
    BindTransmitter,
    BindTransmitterResp,
    CommandId,
    CommandStatus,
    DataSmResp,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)
from gateway.smpp.session import (
    ALLOWED_REQUESTS,
    MAX_SEQUENCE,
    LocalProtocolError,
    RemoteProtocolError,
    Role,
    Session,
    State,
    WindowFull,
)
from tests.helpers_session import (
    BIND_CLASS,
    BIND_RESP_CLASS,
    BOUND_STATE,
    ESME_ID,
    PASSWORD,
    SAMPLES,
    SMSC_ID,
    SessionPair,
    bound_pair,
    command_ids,
    data_sm,
    decode_all,
    deliver,
    header,
    raw_pdu,
    sent,
    submit,
    wire,
)

C = CommandId
S = CommandStatus
MODES = list(BindMode)
RX_MODES = [BindMode.RECEIVER, BindMode.TRANSCEIVER]


def only(events: list) -> object:
    assert len(events) == 1, events
    return events[0]


# -- bind ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_bind_handshake(mode: BindMode) -> None:
    pair = SessionPair()
    request = pair.esme.bind(
        mode, system_id=ESME_ID, password=PASSWORD, system_type="VMA", now=0.0
    )
    assert pair.esme.state is State.BINDING
    assert request.sequence_number == 1
    assert request.command_id == BIND_CLASS[mode].command_id
    assert pair.esme.outstanding == (request,)

    requested = only(pair.exchange().smsc)
    assert isinstance(requested, BindRequested)
    assert type(requested.pdu) is BIND_CLASS[mode]
    assert (requested.pdu.system_id, requested.pdu.password, requested.pdu.system_type) == (
        ESME_ID,
        PASSWORD,
        "VMA",
    )
    assert requested.pdu.interface_version == 0x34
    assert pair.smsc.state is State.BINDING
    assert not pair.smsc.is_bound

    smsc_bound = pair.smsc.accept_bind(system_id=SMSC_ID)
    assert smsc_bound == Bound(mode=mode, system_id=ESME_ID)
    assert pair.smsc.state is BOUND_STATE[mode] and pair.smsc.bind_mode is mode

    esme_bound = only(pair.exchange().esme)
    assert esme_bound == Bound(mode=mode, system_id=SMSC_ID, interface_version=0x34)
    assert pair.esme.state is BOUND_STATE[mode] and pair.esme.bind_mode is mode
    assert pair.esme.is_bound and pair.smsc.is_bound
    assert pair.esme.outstanding == () and pair.esme.in_flight == 0


@pytest.mark.parametrize("version", [0x34, 0x50, None])
def test_bound_carries_the_smsc_interface_version(version: int | None) -> None:
    pair = SessionPair()
    esme_bound, _ = pair.bind(BindMode.TRANSMITTER, interface_version=version)
    assert esme_bound.interface_version == version


def test_bind_response_on_the_wire() -> None:
    pair = SessionPair()
    pair.esme.bind(BindMode.RECEIVER, system_id=ESME_ID, password=PASSWORD, now=0.0)
    pair.exchange()
    pair.smsc.accept_bind(system_id=SMSC_ID)
    resp = only(sent(pair.smsc))
    assert resp == BindReceiverResp(sequence_number=1, system_id=SMSC_ID, sc_interface_version=0x34)


@pytest.mark.parametrize("mode", MODES)
def test_reject_bind(mode: BindMode) -> None:
    pair = SessionPair()
    request = pair.esme.bind(mode, system_id=ESME_ID, password="wrong", now=0.0)
    pair.exchange()
    assert pair.smsc.reject_bind(S.ESME_RINVPASWD) is None
    assert pair.smsc.state is State.OPEN and pair.smsc.bind_mode is None

    failed = only(pair.exchange().esme)
    assert isinstance(failed, BindFailed)
    assert failed.command_status == S.ESME_RINVPASWD
    assert failed.request is request
    assert pair.esme.state is State.OPEN and pair.esme.bind_mode is None
    assert pair.esme.outstanding == ()

    # OPEN again: the ESME may bind again, under the next sequence number, and succeed.
    again = pair.esme.bind(mode, system_id=ESME_ID, password=PASSWORD, now=1.0)
    assert again.sequence_number == 2
    assert isinstance(only(pair.exchange().smsc), BindRequested)
    pair.smsc.accept_bind(system_id=SMSC_ID)
    assert isinstance(only(pair.exchange().esme), Bound)
    assert pair.esme.state is BOUND_STATE[mode]


def test_rejected_bind_is_sent_header_only() -> None:
    pair = SessionPair()
    pair.esme.bind(BindMode.TRANSMITTER, system_id=ESME_ID, password="x", now=0.0)
    pair.exchange()
    pair.smsc.reject_bind(S.ESME_RINVPASWD)
    data = pair.smsc.data_to_send()
    assert data == header(16, C.BIND_TRANSMITTER_RESP, S.ESME_RINVPASWD, 1)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("again", [BindTransmitter, BindTransceiver])
def test_binding_twice_gets_already_bound_from_the_smsc(mode: BindMode, again: type) -> None:
    pair = bound_pair(mode)
    event = only(pair.smsc.receive_data(wire(again(system_id=ESME_ID), seq=77), now=1.0))
    assert isinstance(event, PduRejected)
    assert event.error.command_status == S.ESME_RALYBND
    assert event.error.sequence_number == 77
    assert event.error.command_id == again.command_id
    resp = only(sent(pair.smsc))
    assert resp.command_id == again.command_id | 0x80000000
    assert (resp.sequence_number, resp.command_status) == (77, S.ESME_RALYBND)
    assert pair.smsc.state is BOUND_STATE[mode]


def test_esme_cannot_bind_when_bound_or_binding() -> None:
    pair = bound_pair(BindMode.TRANSMITTER)
    with pytest.raises(LocalProtocolError) as info:
        pair.esme.bind(BindMode.RECEIVER, system_id=ESME_ID, password=PASSWORD, now=1.0)
    assert info.value.command_status == S.ESME_RINVBNDSTS
    assert pair.esme.state is State.BOUND_TX and pair.esme.data_to_send() == b""

    binding = SessionPair()
    binding.esme.bind(BindMode.RECEIVER, system_id=ESME_ID, password=PASSWORD, now=0.0)
    with pytest.raises(LocalProtocolError):
        binding.esme.bind(BindMode.RECEIVER, system_id=ESME_ID, password=PASSWORD, now=0.0)
    assert len(binding.esme.outstanding) == 1


def test_second_bind_while_the_first_is_pending_is_refused() -> None:
    pair = SessionPair()
    pair.esme.bind(BindMode.TRANSMITTER, system_id=ESME_ID, password=PASSWORD, now=0.0)
    pair.exchange()
    event = only(pair.smsc.receive_data(wire(BindTransmitter(system_id="x"), seq=5), now=0.0))
    assert isinstance(event, PduRejected)
    assert event.error.command_status == S.ESME_RINVBNDSTS
    # The pending bind is still the one to answer.
    bound = pair.smsc.accept_bind(system_id=SMSC_ID)
    assert bound.system_id == ESME_ID
    assert [(p.sequence_number, p.command_status) for p in sent(pair.smsc)] == [
        (5, S.ESME_RINVBNDSTS),
        (1, 0),
    ]


@pytest.mark.parametrize("request_pdu", [submit(), data_sm(), Unbind()])
def test_sending_before_bind_is_a_local_error(request_pdu) -> None:
    esme = Session(Role.ESME)
    with pytest.raises(LocalProtocolError) as info:
        esme.send_request(request_pdu, now=0.0)
    assert info.value.command_status == S.ESME_RINVBNDSTS
    assert esme.data_to_send() == b"" and esme.outstanding == ()
    # Nothing was consumed: the bind still gets sequence number 1.
    bind = esme.bind(BindMode.TRANSMITTER, system_id=ESME_ID, password=PASSWORD, now=0.0)
    assert bind.sequence_number == 1
    with pytest.raises(LocalProtocolError):  # nor while the bind is pending
        esme.send_request(request_pdu, now=0.0)


def test_direction_is_enforced_by_bind_mode() -> None:
    rx = bound_pair(BindMode.RECEIVER)
    with pytest.raises(LocalProtocolError):
        rx.esme.send_request(submit(), now=1.0)
    tx = bound_pair(BindMode.TRANSMITTER)
    with pytest.raises(LocalProtocolError):
        tx.smsc.send_request(deliver(), now=1.0)
    with pytest.raises(LocalProtocolError):  # an ESME never delivers
        bound_pair().esme.send_request(deliver(), now=1.0)


def test_accept_or_reject_without_a_pending_bind_is_a_local_error() -> None:
    smsc = Session(Role.SMSC)
    with pytest.raises(LocalProtocolError):
        smsc.accept_bind(system_id=SMSC_ID)
    with pytest.raises(LocalProtocolError):
        smsc.reject_bind(S.ESME_RINVPASWD)
    esme = Session(Role.ESME)
    esme.bind(BindMode.TRANSMITTER, system_id=ESME_ID, password=PASSWORD, now=0.0)
    with pytest.raises(LocalProtocolError):
        esme.accept_bind(system_id=SMSC_ID)
    pair = bound_pair()
    with pytest.raises(LocalProtocolError):  # already answered
        pair.smsc.accept_bind(system_id=SMSC_ID)


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Session(Role.ESME, window=0)


# -- sequence numbers ------------------------------------------------------------------------


def test_sequence_numbers_start_at_1_and_increase() -> None:
    pair = bound_pair()  # the bind took 1
    requests = [pair.esme.send_request(submit(i), now=1.0) for i in range(4)]
    assert [r.sequence_number for r in requests] == [2, 3, 4, 5]
    assert [p.sequence_number for p in sent(pair.esme)] == [2, 3, 4, 5]
    # Each side numbers its own requests.
    first = pair.smsc.send_request(deliver(), now=1.0)
    assert first.sequence_number == 1


def test_sequence_number_in_the_pdu_is_ignored() -> None:
    pair = bound_pair()
    request = pair.esme.send_request(submit(sequence_number=999), now=1.0)
    assert request.sequence_number == 2
    assert only(sent(pair.esme)).sequence_number == 2


def test_sequence_numbers_wrap_from_0x7fffffff_to_1() -> None:
    pair = bound_pair()
    pair.esme._next_seq = MAX_SEQUENCE - 1
    requests = [pair.esme.send_request(EnquireLink(), now=1.0) for _ in range(3)]
    assert [r.sequence_number for r in requests] == [MAX_SEQUENCE - 1, MAX_SEQUENCE, 1]
    assert [p.sequence_number for p in sent(pair.esme)] == [MAX_SEQUENCE - 1, MAX_SEQUENCE, 1]


def test_sequence_numbers_skip_those_still_outstanding() -> None:
    esme = Session(Role.ESME)
    low = [esme.send_request(EnquireLink(), now=0.0) for _ in range(3)]  # 1, 2, 3 unanswered
    assert [r.sequence_number for r in low] == [1, 2, 3]
    esme._next_seq = MAX_SEQUENCE
    top = esme.send_request(EnquireLink(), now=0.0)
    after_wrap = esme.send_request(EnquireLink(), now=0.0)
    assert (top.sequence_number, after_wrap.sequence_number) == (MAX_SEQUENCE, 4)
    # Skipping also works across the wrap itself: the top number is still outstanding.
    esme._next_seq = MAX_SEQUENCE
    assert esme.send_request(EnquireLink(), now=0.0).sequence_number == 5
    seqs = [r.sequence_number for r in esme.outstanding]
    assert len(seqs) == len(set(seqs)) == 6


def test_a_freed_sequence_number_is_reused_after_the_wrap() -> None:
    pair = bound_pair()
    pair.esme._next_seq = MAX_SEQUENCE
    pair.esme.send_request(EnquireLink(), now=1.0)
    pair.pump()  # answered
    assert pair.esme.send_request(EnquireLink(), now=1.0).sequence_number == 1


# -- window ----------------------------------------------------------------------------------


def fill_window(pair: SessionPair) -> list[Outstanding]:
    requests = [pair.esme.send_request(submit(i), now=pair.now) for i in range(pair.esme.window)]
    assert pair.esme.in_flight == pair.esme.window and pair.esme.window_free == 0
    return requests


def test_window_full_raises_and_sends_nothing() -> None:
    pair = bound_pair(window=3)
    fill_window(pair)
    pair.esme.data_to_send()
    for pdu in (submit(99), data_sm()):
        with pytest.raises(WindowFull) as info:
            pair.esme.send_request(pdu, now=1.0)
        assert isinstance(info.value, LocalProtocolError)
        assert info.value.command_status == S.ESME_RTHROTTLED
    assert pair.esme.data_to_send() == b""
    assert pair.esme.in_flight == 3 and len(pair.esme.outstanding) == 3


def test_window_counts_data_sm_and_deliver_sm() -> None:
    pair = bound_pair(window=2)
    pair.esme.send_request(data_sm(), now=0.0)
    pair.esme.send_request(submit(), now=0.0)
    with pytest.raises(WindowFull):
        pair.esme.send_request(data_sm(), now=0.0)
    pair.smsc.send_request(deliver(1), now=0.0)
    pair.smsc.send_request(deliver(2), now=0.0)
    with pytest.raises(WindowFull):
        pair.smsc.send_request(deliver(3), now=0.0)


def test_enquire_link_and_unbind_get_through_a_full_window() -> None:
    pair = bound_pair(window=2)
    fill_window(pair)
    probe = pair.esme.send_request(EnquireLink(), now=0.0)
    unbind = pair.esme.unbind(now=0.0)
    assert pair.esme.in_flight == 2
    assert {probe, unbind} <= set(pair.esme.outstanding)
    assert command_ids(sent(pair.esme)) == [C.SUBMIT_SM, C.SUBMIT_SM, C.ENQUIRE_LINK, C.UNBIND]


def test_window_frees_on_response() -> None:
    pair = bound_pair(window=2)
    first, _ = fill_window(pair)
    received = [e.pdu for e in pair.exchange().smsc]
    pair.smsc.respond(received[0], message_id="id-1")
    event = only(pair.exchange().esme)
    assert isinstance(event, ResponseReceived) and event.request is first
    assert pair.esme.in_flight == 1 and pair.esme.window_free == 1
    pair.esme.send_request(submit(3), now=0.0)  # a slot is free again
    with pytest.raises(WindowFull):
        pair.esme.send_request(submit(4), now=0.0)


def test_window_frees_on_generic_nack() -> None:
    pair = bound_pair(window=1)
    (request,) = fill_window(pair)
    nack = GenericNack(sequence_number=request.sequence_number, command_status=S.ESME_RINVCMDLEN)
    event = only(pair.esme.receive_data(wire(nack), now=1.0))
    assert event == NackReceived(pdu=nack, request=request)
    assert event.request is request
    assert pair.esme.in_flight == 0 and pair.esme.outstanding == ()
    pair.esme.send_request(submit(), now=1.0)


def test_window_frees_on_timeout() -> None:
    pair = bound_pair(window=2, response_timeout=5.0)
    requests = fill_window(pair)
    events = pair.esme.tick(5.0)
    assert [e.request for e in events] == requests
    assert pair.esme.in_flight == 0 and pair.esme.window_free == 2
    pair.esme.send_request(submit(), now=5.0)


def test_enquire_link_does_not_take_a_window_slot() -> None:
    pair = bound_pair(window=1)
    for _ in range(5):
        pair.esme.send_request(EnquireLink(), now=0.0)
    assert pair.esme.in_flight == 0
    pair.esme.send_request(submit(), now=0.0)
    assert pair.esme.in_flight == 1


# -- responses -------------------------------------------------------------------------------


@given(order=st.permutations(range(8)))
def test_responses_are_matched_by_sequence_number_in_any_order(order: list[int]) -> None:
    pair = bound_pair(window=8)
    requests = [
        pair.esme.send_request(submit(i), now=0.0, tag=f"job-{i}") for i in range(8)
    ]
    received = [e.pdu for e in pair.exchange().smsc]
    assert all(isinstance(p, type(submit())) for p in received)
    for i in order:
        pair.smsc.respond(received[i], message_id=f"msg-{i}")
    events = pair.exchange().esme
    assert [type(e) for e in events] == [ResponseReceived] * 8
    for i, event in zip(order, events, strict=True):
        assert event.request is requests[i]
        assert event.request.tag == f"job-{i}"
        assert event.pdu.message_id == f"msg-{i}"
        assert event.pdu.sequence_number == requests[i].sequence_number
    assert pair.esme.outstanding == () and pair.esme.in_flight == 0


def test_response_with_an_unknown_sequence_number_is_unexpected() -> None:
    pair = bound_pair()
    request = pair.esme.send_request(submit(), now=0.0)
    pair.esme.data_to_send()
    stray = SubmitSmResp(sequence_number=request.sequence_number + 100, message_id="x")
    event = only(pair.esme.receive_data(wire(stray), now=1.0))
    assert event == UnexpectedResponse(pdu=stray)
    assert pair.esme.outstanding == (request,) and pair.esme.in_flight == 1
    assert pair.esme.data_to_send() == b""


def test_response_of_the_wrong_command_is_unexpected_and_settles_nothing() -> None:
    pair = bound_pair()
    request = pair.esme.send_request(submit(), now=0.0)
    wrong = DeliverSmResp(sequence_number=request.sequence_number)
    assert isinstance(only(pair.esme.receive_data(wire(wrong), now=1.0)), UnexpectedResponse)
    assert pair.esme.outstanding == (request,)
    right = SubmitSmResp(sequence_number=request.sequence_number, message_id="ok")
    assert isinstance(only(pair.esme.receive_data(wire(right), now=1.0)), ResponseReceived)


def test_late_response_after_the_timeout_is_unexpected() -> None:
    pair = bound_pair()
    request = pair.esme.send_request(submit(), now=0.0)
    assert isinstance(only(pair.esme.tick(10.0)), RequestTimedOut)
    late = SubmitSmResp(sequence_number=request.sequence_number, message_id="late")
    assert isinstance(only(pair.esme.receive_data(wire(late), now=11.0)), UnexpectedResponse)


def test_error_response_is_a_response() -> None:
    pair = bound_pair()
    request = pair.esme.send_request(submit(), now=0.0)
    (received,) = pair.exchange().smsc
    pair.smsc.respond(received.pdu, command_status=S.ESME_RTHROTTLED)
    assert pair.smsc._out == [header(16, C.SUBMIT_SM_RESP, S.ESME_RTHROTTLED, 2)]
    event = only(pair.exchange().esme)
    assert isinstance(event, ResponseReceived) and event.request is request
    assert event.pdu.command_status == S.ESME_RTHROTTLED


def test_generic_nack_with_an_unknown_sequence_number() -> None:
    pair = bound_pair()
    request = pair.esme.send_request(submit(), now=0.0)
    nack = GenericNack(sequence_number=4242, command_status=S.ESME_RINVCMDID)
    assert only(pair.esme.receive_data(wire(nack), now=1.0)) == NackReceived(
        pdu=nack, request=None
    )
    assert pair.esme.outstanding == (request,)


def test_generic_nack_settles_any_request_kind() -> None:
    pair = bound_pair()
    probe = pair.esme.send_request(EnquireLink(), now=0.0)
    event = only(pair.esme.receive_data(wire(GenericNack(sequence_number=probe.sequence_number)),
                                        now=0.0))
    assert isinstance(event, NackReceived) and event.request is probe
    assert pair.esme.outstanding == ()


# -- deadlines and keep-alive ----------------------------------------------------------------


def test_tick_before_the_deadline_does_nothing() -> None:
    pair = bound_pair(response_timeout=10.0)
    pair.esme.send_request(submit(), now=1.0)
    pair.esme.data_to_send()
    assert pair.esme.tick(10.999) == []
    assert pair.esme.data_to_send() == b""
    assert len(pair.esme.outstanding) == 1


def test_timeouts_come_in_send_order() -> None:
    pair = bound_pair(response_timeout=10.0)
    requests = [pair.esme.send_request(submit(i), now=float(i)) for i in range(3)]
    requests.append(pair.esme.send_request(EnquireLink(), now=2.5))
    requests += [pair.esme.send_request(submit(i), now=float(i)) for i in (3, 4)]
    assert pair.esme.tick(12.5) == [RequestTimedOut(request=r) for r in requests[:4]]
    assert [e.request for e in pair.esme.tick(25.0)] == requests[4:]
    assert pair.esme.outstanding == ()


def test_timed_out_request_is_the_same_object_with_its_tag() -> None:
    pair = bound_pair()
    request = pair.esme.send_request(submit(), now=3.0, tag="job")
    assert request.sent_at == 3.0 and request.deadline == 13.0
    event = only(pair.esme.tick(13.0))
    assert event.request is request and event.request.tag == "job"


def test_next_deadline_values() -> None:
    esme = Session(Role.ESME, response_timeout=10.0, enquire_link_interval=30.0)
    assert esme.next_deadline() is None  # nothing timed in OPEN
    esme.bind(BindMode.TRANSMITTER, system_id=ESME_ID, password=PASSWORD, now=2.0)
    assert esme.next_deadline() == 12.0  # the bind's response time-out
    esme.receive_data(wire(BindTransmitterResp(sequence_number=1, system_id="S")), now=3.0)
    assert esme.next_deadline() == 33.0  # the keep-alive: 30 s of silence after the last read
    esme.send_request(submit(), now=4.0)
    esme.send_request(submit(), now=5.0)
    assert esme.next_deadline() == 14.0  # the oldest request's
    esme.tick(14.0)
    assert esme.next_deadline() == 15.0
    esme.receive_data(wire(SubmitSmResp(sequence_number=3, message_id="x")), now=20.0)
    assert esme.next_deadline() == 50.0
    esme.connection_lost()
    assert esme.next_deadline() is None


def test_keepalive_after_silence() -> None:
    pair = bound_pair(enquire_link_interval=30.0, response_timeout=10.0)
    assert pair.esme.next_deadline() == 30.0
    assert pair.esme.tick(29.9) == [] and pair.esme.data_to_send() == b""
    assert pair.esme.tick(30.0) == []
    probe = only(sent(pair.esme))
    assert type(probe) is EnquireLink and probe.sequence_number == 2
    (request,) = pair.esme.outstanding
    assert (request.command_id, request.sequence_number, request.deadline) == (
        C.ENQUIRE_LINK,
        2,
        40.0,
    )
    # One probe at a time.
    assert pair.esme.tick(35.0) == [] and pair.esme.data_to_send() == b""
    # The SMSC answers it by itself; the ESME sees the answer as a response to its probe.
    assert pair.smsc.receive_data(wire(probe), now=36.0) == []
    answer = pair.smsc.data_to_send()
    assert decode_all(answer) == [EnquireLinkResp(sequence_number=2)]
    event = only(pair.esme.receive_data(answer, now=36.0))
    assert isinstance(event, ResponseReceived) and event.request is request
    assert pair.esme.outstanding == ()
    assert pair.esme.next_deadline() == 66.0


def test_traffic_from_the_peer_postpones_the_keepalive() -> None:
    pair = bound_pair(enquire_link_interval=30.0)
    pair.smsc.send_request(deliver(), now=20.0)
    pair.exchange(now=20.0)
    assert pair.esme.tick(30.0) == [] and pair.esme.data_to_send() == b""
    assert pair.esme.next_deadline() == 50.0
    pair.esme.tick(50.0)
    assert command_ids(sent(pair.esme)) == [C.ENQUIRE_LINK]


def test_no_keepalive_unless_bound() -> None:
    esme = Session(Role.ESME, enquire_link_interval=30.0)
    esme.start_clock(0.0)
    assert esme.tick(1000.0) == [] and esme.data_to_send() == b""
    assert esme.next_deadline() is None


def test_start_clock_sets_the_silence_origin_once() -> None:
    smsc = Session(Role.SMSC, enquire_link_interval=30.0)
    smsc.start_clock(100.0)
    smsc.start_clock(200.0)  # no effect: the clock runs already
    smsc.receive_data(wire(BindTransmitter(system_id="x"), seq=1), now=110.0)
    smsc.accept_bind(system_id=SMSC_ID)
    assert smsc.next_deadline() == 140.0


def test_unanswered_keepalive_times_out() -> None:
    pair = bound_pair(enquire_link_interval=30.0, response_timeout=10.0)
    pair.esme.tick(30.0)
    pair.esme.data_to_send()  # lost on the way
    event = only(pair.esme.tick(40.0))
    assert isinstance(event, RequestTimedOut)
    assert event.request.command_id == C.ENQUIRE_LINK


@pytest.mark.parametrize("side", ["esme", "smsc"])
def test_peer_enquire_link_is_answered_at_once_even_with_a_full_window(side: str) -> None:
    pair = bound_pair(window=2)
    us = getattr(pair, side)
    them = pair.peer(us)
    for i in range(2):
        us.send_request(submit(i) if us is pair.esme else deliver(i), now=0.0)
    us.data_to_send()
    assert us.window_free == 0
    them._next_seq = 1234
    probe = them.send_request(EnquireLink(), now=0.0)
    assert us.receive_data(them.data_to_send(), now=1.0) == []  # nothing for the application
    answer = us.data_to_send()
    assert decode_all(answer) == [EnquireLinkResp(sequence_number=1234)]
    assert us.window_free == 0
    event = only(them.receive_data(answer, now=1.0))
    assert isinstance(event, ResponseReceived) and event.request is probe


def test_after_tick_next_deadline_is_in_the_future_with_defaults() -> None:
    """The adapter sleeps until next_deadline() then ticks. When the deadline it is given has
    passed and tick() had nothing to do, it spins. The default settings never get there by the
    keep-alive's own probe (the probe times out first)."""
    pair = bound_pair()
    for now in (30.0, 40.0, 70.0, 80.0):
        pair.esme.tick(now)
        pair.esme.data_to_send()
        assert pair.esme.next_deadline() > now


@pytest.mark.parametrize(
    "settings, probe_at",
    [
        # An application enquire_link sent shortly before the keep-alive falls due (defaults).
        ({}, 25.0),
        # A response time-out longer than the keep-alive interval: the keep-alive's own probe.
        ({"response_timeout": 60.0, "enquire_link_interval": 30.0}, None),
    ],
)
def test_next_deadline_is_never_in_the_past_after_tick(settings: dict, probe_at) -> None:
    pair = bound_pair(**settings)
    if probe_at is not None:
        pair.esme.send_request(EnquireLink(), now=probe_at)
    for now in (30.0, 31.0, 45.0, 60.0, 61.0):
        pair.esme.tick(now)
        deadline = pair.esme.next_deadline()
        assert deadline is None or deadline > now, (now, deadline)


# -- unbind ----------------------------------------------------------------------------------


def test_unbind_by_peer() -> None:
    pair = bound_pair()
    pending = [pair.esme.send_request(submit(i), now=0.0, tag=i) for i in range(2)]
    probe = pair.esme.send_request(EnquireLink(), now=0.0)
    pair.esme.data_to_send()  # the SMSC never sees them
    pair.smsc._next_seq = 500
    pair.smsc.unbind(now=1.0)
    assert pair.smsc.state is State.UNBINDING

    events = pair.exchange(now=1.0).esme
    assert events == [Unbound(by_peer=True, unacknowledged=(*pending, probe))]
    assert pair.esme.state is State.CLOSED
    assert pair.esme.outstanding == () and pair.esme.in_flight == 0
    assert sent(pair.esme) == [UnbindResp(sequence_number=500)]


def test_our_unbind() -> None:
    pair = bound_pair()
    answered = pair.esme.send_request(submit(1), now=0.0)
    orphan = pair.esme.send_request(submit(2), now=0.0)
    received = pair.exchange().smsc
    pair.smsc.respond(received[0].pdu, message_id="m1")  # the second stays unanswered

    unbind = pair.esme.unbind(now=0.0)
    assert unbind.command_id == C.UNBIND and pair.esme.state is State.UNBINDING
    with pytest.raises(LocalProtocolError):  # no new traffic while unbinding
        pair.esme.send_request(submit(3), now=0.0)

    # The unbind and the submit_sm_resp cross: the response is still matched.
    crossing = pair.exchange()
    assert crossing.smsc == [Unbound(by_peer=True)]
    assert pair.smsc.state is State.CLOSED
    (response,) = crossing.esme
    assert isinstance(response, ResponseReceived) and response.request is answered
    assert pair.esme.state is State.UNBINDING

    assert pair.exchange().esme == [Unbound(by_peer=False, unacknowledged=(orphan,))]
    assert pair.esme.state is State.CLOSED and pair.esme.outstanding == ()
    assert pair.esme.in_flight == 0


def test_response_during_unbinding_is_matched() -> None:
    pair = bound_pair()
    request = pair.esme.send_request(submit(), now=0.0)
    pair.esme.unbind(now=0.0)
    event = only(pair.esme.receive_data(
        wire(SubmitSmResp(sequence_number=request.sequence_number, message_id="m")), now=1.0
    ))
    assert isinstance(event, ResponseReceived) and event.request is request


@pytest.mark.parametrize("who", ["esme", "smsc"])
def test_nothing_can_be_sent_after_unbind(who: str) -> None:
    pair = bound_pair()
    getattr(pair, who).unbind(now=0.0)
    pair.pump()
    for session in (pair.esme, pair.smsc):
        assert session.state is State.CLOSED and not session.is_bound
        for pdu in (submit(), deliver(), EnquireLink(), Unbind()):
            with pytest.raises(LocalProtocolError):
                session.send_request(pdu, now=1.0)
        with pytest.raises(LocalProtocolError):
            session.respond(submit(sequence_number=9))
        assert session.tick(1000.0) == [] and session.next_deadline() is None
        assert session.data_to_send() == b""


@pytest.mark.parametrize("late", [deliver(), EnquireLink(), submit()])
def test_closed_session_queues_nothing_for_late_requests(late) -> None:
    pair = bound_pair()
    pair.smsc.unbind(now=0.0)
    # The unbind and a request sent just after it (a peer bug, or a race) arrive in one read.
    stream = pair.smsc.data_to_send() + wire(late, seq=99)
    events = pair.esme.receive_data(stream, now=0.0)
    assert isinstance(events[0], Unbound)
    assert command_ids(sent(pair.esme)) == [C.UNBIND_RESP]


def test_unanswered_unbind_times_out() -> None:
    pair = bound_pair()
    request = pair.esme.unbind(now=0.0)
    assert only(pair.esme.tick(10.0)) == RequestTimedOut(request=request)


def test_peer_unbind_while_we_unbind() -> None:
    pair = bound_pair()
    ours = pair.esme.unbind(now=0.0)
    pair.smsc.unbind(now=0.0)
    (theirs,) = pair.smsc.outstanding
    events = pair.exchange()
    assert events.esme == [Unbound(by_peer=True, unacknowledged=(ours,))]
    assert events.smsc == [Unbound(by_peer=True, unacknowledged=(theirs,))]
    # The crossing unbind_resps match nothing any more (already reported as unacknowledged).
    late = pair.exchange()
    assert [type(e) for e in late.esme + late.smsc] == [UnexpectedResponse] * 2


def test_enquire_link_is_answered_ok_while_unbinding() -> None:
    pair = bound_pair()
    pair.esme.unbind(now=0.0)
    pair.esme.data_to_send()
    assert pair.esme.receive_data(wire(EnquireLink(), seq=7), now=1.0) == []
    assert sent(pair.esme) == [EnquireLinkResp(sequence_number=7)]


# -- deliver_sm and respond() ----------------------------------------------------------------


@pytest.mark.parametrize("mode", RX_MODES)
def test_deliver_sm_is_left_to_the_application(mode: BindMode) -> None:
    pair = bound_pair(mode)
    message = deliver(7, esm_class=0x04, receipted_message_id="2A0F3C7B", message_state=2)
    request = pair.smsc.send_request(message, now=0.0)
    event = only(pair.exchange().esme)
    assert isinstance(event, RequestReceived)
    assert event.pdu == dataclasses.replace(message, sequence_number=1)
    assert pair.esme.data_to_send() == b""  # not answered by the session

    pair.esme.respond(event.pdu)
    assert sent_again(pair.esme) == [DeliverSmResp(sequence_number=request.sequence_number)]
    answer = only(pair.exchange().smsc)
    assert isinstance(answer, ResponseReceived) and answer.request is request
    assert pair.smsc.in_flight == 0


@pytest.mark.parametrize("status", [0, S.ESME_RX_T_APPN, S.ESME_RMSGQFUL, 0xFFFFFFFF])
@pytest.mark.parametrize("seq", [1, 0x1234, 0x7FFFFFFF])
def test_deliver_sm_resp_bytes_are_the_codecs(status: int, seq: int) -> None:
    """respond() writes a deliver_sm_resp without building it: the codec's bytes exactly."""
    pair = bound_pair(BindMode.TRANSCEIVER)
    request = dataclasses.replace(deliver(3), sequence_number=seq)
    pair.esme.respond(request, command_status=status)
    assert pair.esme.data_to_send() == codec.encode(
        DeliverSmResp(sequence_number=seq, command_status=status)
    )


def sent_again(session: Session) -> list:
    """Decode the queue without draining it (so the test can still exchange)."""
    return decode_all(b"".join(session._out))


def test_respond_with_an_error_status() -> None:
    pair = bound_pair(BindMode.RECEIVER)
    pair.smsc.send_request(deliver(), now=0.0)
    (event,) = pair.exchange().esme
    pair.esme.respond(event.pdu, command_status=S.ESME_RX_T_APPN)
    answer = only(pair.exchange().smsc)
    assert answer.pdu.command_status == S.ESME_RX_T_APPN


def test_smsc_answers_submit_through_respond() -> None:
    pair = bound_pair(BindMode.TRANSMITTER)
    request = pair.esme.send_request(submit(), now=0.0)
    (event,) = pair.exchange().smsc
    assert isinstance(event, RequestReceived) and event.pdu == submit(sequence_number=2)
    assert pair.smsc.data_to_send() == b""
    pair.smsc.respond(event.pdu, message_id="2A0F3C7B")
    answer = only(pair.exchange().esme)
    assert answer.request is request
    assert answer.pdu == SubmitSmResp(sequence_number=2, message_id="2A0F3C7B")


@pytest.mark.parametrize("direction", ["esme", "smsc"])
def test_data_sm_either_way(direction: str) -> None:
    pair = bound_pair(BindMode.TRANSCEIVER)
    sender = getattr(pair, direction)
    receiver = pair.peer(sender)
    request = sender.send_request(data_sm(), now=0.0)
    event = only(receiver.receive_data(sender.data_to_send(), now=0.0))
    assert isinstance(event, RequestReceived)
    receiver.respond(event.pdu, message_id="d-1")
    answer = only(sender.receive_data(receiver.data_to_send(), now=0.0))
    assert answer.request is request
    assert answer.pdu == DataSmResp(sequence_number=request.sequence_number, message_id="d-1")


def test_deliver_sm_to_a_transmitter_is_refused() -> None:
    pair = bound_pair(BindMode.TRANSMITTER)
    event = only(pair.esme.receive_data(wire(deliver(), seq=31), now=0.0))
    assert isinstance(event, PduRejected)
    assert event.error.command_status == S.ESME_RINVBNDSTS
    assert (event.error.command_id, event.error.sequence_number) == (C.DELIVER_SM, 31)
    assert sent(pair.esme) == [
        DeliverSmResp(sequence_number=31, command_status=S.ESME_RINVBNDSTS)
    ]
    assert pair.esme.state is State.BOUND_TX


@pytest.mark.parametrize("mode", [BindMode.RECEIVER])
def test_submit_sm_from_a_receiver_is_refused(mode: BindMode) -> None:
    pair = bound_pair(mode)
    event = only(pair.smsc.receive_data(wire(submit(), seq=8), now=0.0))
    assert isinstance(event, PduRejected) and event.error.command_status == S.ESME_RINVBNDSTS
    assert sent(pair.smsc) == [SubmitSmResp(sequence_number=8, command_status=S.ESME_RINVBNDSTS)]


@pytest.mark.parametrize(
    "pdu", [EnquireLink(), Unbind(), BindTransmitter(), Outbind(), SubmitSmResp()]
)
def test_respond_only_answers_messages(pdu) -> None:
    pair = bound_pair()
    with pytest.raises(LocalProtocolError):
        pair.esme.respond(pdu)
    assert pair.esme.data_to_send() == b""


# -- framing of the input --------------------------------------------------------------------


def _three_pdus(pair: SessionPair) -> tuple[bytes, list[Outstanding]]:
    """What the SMSC sends after two submits: their responses, a deliver_sm, an enquire_link."""
    requests = [pair.esme.send_request(submit(i), now=0.0) for i in range(2)]
    pair.esme.data_to_send()
    stream = (
        wire(SubmitSmResp(message_id="first"), seq=requests[1].sequence_number)
        + wire(deliver(), seq=40)
        + wire(SubmitSmResp(message_id="second"), seq=requests[0].sequence_number)
        + wire(EnquireLink(), seq=41)
    )
    return stream, requests


def _check_three(pair: SessionPair, events: list, requests: list[Outstanding]) -> None:
    assert [type(e) for e in events] == [ResponseReceived, RequestReceived, ResponseReceived]
    assert events[0].request is requests[1] and events[0].pdu.message_id == "first"
    assert events[1].pdu.sequence_number == 40
    assert events[2].request is requests[0] and events[2].pdu.message_id == "second"
    assert sent(pair.esme) == [EnquireLinkResp(sequence_number=41)]
    assert pair.esme.outstanding == ()


def test_several_pdus_in_one_read() -> None:
    pair = bound_pair()
    stream, requests = _three_pdus(pair)
    _check_three(pair, pair.esme.receive_data(stream, now=1.0), requests)


def test_one_pdu_byte_by_byte() -> None:
    pair = bound_pair()
    pair.smsc.send_request(deliver(), now=0.0)
    data = pair.smsc.data_to_send()
    for i in range(len(data) - 1):
        assert pair.esme.receive_data(data[i : i + 1], now=1.0) == []
    assert isinstance(only(pair.esme.receive_data(data[-1:], now=1.0)), RequestReceived)


def test_stream_split_at_every_offset() -> None:
    reference, _ = _three_pdus(bound_pair())
    for cut in range(len(reference) + 1):
        pair = bound_pair()
        stream, requests = _three_pdus(pair)
        events = pair.esme.receive_data(stream[:cut], now=1.0)
        events += pair.esme.receive_data(stream[cut:], now=1.0)
        _check_three(pair, events, requests)


@given(cuts=st.lists(st.integers(0, 400), max_size=12))
def test_stream_in_random_chunks(cuts: list[int]) -> None:
    pair = bound_pair()
    stream, requests = _three_pdus(pair)
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    events = []
    for start, end in itertools.pairwise(bounds):
        events += pair.esme.receive_data(stream[start:end], now=1.0)
    _check_three(pair, events, requests)


# -- malformed input -------------------------------------------------------------------------


@pytest.mark.parametrize("command_id", [0x00000099, C.QUERY_SM, C.SUBMIT_MULTI, 0x0000FFFF])
def test_unknown_command_gets_generic_nack_and_the_session_goes_on(command_id: int) -> None:
    pair = bound_pair()
    request = pair.esme.send_request(submit(), now=0.0)
    pair.esme.data_to_send()
    event = only(pair.esme.receive_data(raw_pdu(command_id, 0x1234, b"junk\0"), now=1.0))
    assert isinstance(event, PduRejected)
    assert event.error.command_status == S.ESME_RINVCMDID
    assert event.error.sequence_number == 0x1234
    assert sent(pair.esme) == [
        GenericNack(sequence_number=0x1234, command_status=S.ESME_RINVCMDID)
    ]
    assert pair.esme.state is State.BOUND_TRX
    # Still usable: responses match, requests go out, the peer's probes are answered.
    resp = wire(SubmitSmResp(message_id="ok"), seq=request.sequence_number)
    assert isinstance(only(pair.esme.receive_data(resp, now=1.0)), ResponseReceived)
    pair.esme.send_request(submit(), now=1.0)
    assert pair.esme.receive_data(wire(EnquireLink(), seq=5), now=1.0) == []
    assert command_ids(sent(pair.esme)) == [C.SUBMIT_SM, C.ENQUIRE_LINK_RESP]


def test_unknown_response_command_is_rejected_without_an_answer() -> None:
    pair = bound_pair()
    event = only(pair.esme.receive_data(raw_pdu(0x80000099, 3), now=1.0))
    assert isinstance(event, PduRejected)
    assert pair.esme.data_to_send() == b""


def _submit_with_bad_sm_length() -> bytes:
    frame = bytearray(wire(submit(), seq=66))
    text = b"message 0"
    frame[frame.index(text) - 1] = 200  # sm_length runs past the end
    return bytes(frame)


@pytest.mark.parametrize(
    "frame, status",
    [
        (_submit_with_bad_sm_length(), S.ESME_RINVMSGLEN),
        (wire(submit(), seq=66)[:30], None),  # cut short (command_length fixed below)
        (wire(submit(source_addr="X" * 20), seq=66).replace(b"X" * 20, b"\x80" * 20),
         S.ESME_RINVSRCADR),
    ],
    ids=["sm_length", "truncated", "non-ascii-source"],
)
def test_submit_with_a_bad_body_gets_an_error_response(frame: bytes, status) -> None:
    if status is None:
        frame = struct.pack(">I", len(frame)) + frame[4:]
        status = S.ESME_RINVCMDLEN
    pair = bound_pair(BindMode.TRANSMITTER)
    event = only(pair.smsc.receive_data(frame, now=1.0))
    assert isinstance(event, PduRejected)
    assert event.error.command_status == status
    assert sent(pair.smsc) == [SubmitSmResp(sequence_number=66, command_status=status)]
    assert pair.smsc.state is State.BOUND_TX
    # The next good submit is handled normally.
    assert isinstance(only(pair.smsc.receive_data(wire(submit(), seq=67), now=1.0)),
                      RequestReceived)


def test_undecodable_response_is_dropped_and_its_request_times_out() -> None:
    pair = bound_pair()
    request = pair.esme.send_request(submit(), now=0.0)
    broken = raw_pdu(C.SUBMIT_SM_RESP, request.sequence_number, b"no-nul")
    assert isinstance(only(pair.esme.receive_data(broken, now=1.0)), PduRejected)
    pair.esme.data_to_send()
    assert pair.esme.outstanding == (request,)
    assert only(pair.esme.tick(10.0)).request is request


@pytest.mark.parametrize(
    "bad_header, nack_seq",
    [
        (header(8, C.SUBMIT_SM_RESP, 0, 77), 77),
        (header(0, C.ENQUIRE_LINK, 0, 78), 78),
        (header(15, C.ENQUIRE_LINK, 0, 79), 79),
        (header(0xFFFFFFFF, C.DELIVER_SM, 0, 80), 80),
        (header(codec.DEFAULT_MAX_PDU_LENGTH + 1, C.DELIVER_SM, 0, 81), 81),
        (struct.pack(">I", 3), 0),  # not even a whole header: no sequence number to echo
    ],
    ids=["8", "0", "15", "4G", "max+1", "length-only"],
)
def test_lost_framing_is_a_remote_error(bad_header: bytes, nack_seq: int) -> None:
    pair = bound_pair()
    first = pair.esme.send_request(submit(1), now=0.0)
    second = pair.esme.send_request(submit(2), now=0.0)
    pair.esme.data_to_send()
    before = (
        wire(SubmitSmResp(message_id="a"), seq=first.sequence_number)
        + wire(EnquireLink(), seq=50)
    )
    with pytest.raises(RemoteProtocolError) as info:
        pair.esme.receive_data(before + bad_header + b"\0" * 40, now=1.0)
    exc = info.value
    assert exc.command_status == S.ESME_RINVCMDLEN
    # The complete PDUs before the bad header were handled: their events ride on the error.
    assert len(exc.events) == 1 and exc.events[0].request is first
    assert pair.esme.outstanding == (second,)
    assert pair.esme.state is State.ERROR and not pair.esme.is_bound
    assert sent(pair.esme) == [
        EnquireLinkResp(sequence_number=50),
        GenericNack(sequence_number=nack_seq, command_status=S.ESME_RINVCMDLEN),
    ]
    # ERROR is final: more input raises, nothing may be sent, the requests stay reportable.
    with pytest.raises(RemoteProtocolError):
        pair.esme.receive_data(wire(EnquireLink(), seq=51), now=2.0)
    with pytest.raises(LocalProtocolError):
        pair.esme.send_request(submit(), now=2.0)
    with pytest.raises(LocalProtocolError):
        pair.esme.respond(submit(sequence_number=1))
    assert pair.esme.data_to_send() == b""
    assert pair.esme.connection_lost() == ConnectionLost(unacknowledged=(second,))


def test_bad_header_after_a_partial_frame() -> None:
    pair = bound_pair()
    request = pair.esme.send_request(submit(), now=0.0)
    resp = wire(SubmitSmResp(message_id="a"), seq=request.sequence_number)
    assert pair.esme.receive_data(resp[:10], now=1.0) == []
    with pytest.raises(RemoteProtocolError) as info:
        pair.esme.receive_data(resp[10:] + header(4, 0, 0, 9), now=1.0)
    assert [e.request for e in info.value.events] == [request]


def test_lower_max_pdu_length() -> None:
    pair = bound_pair(max_pdu_length=100)
    with pytest.raises(RemoteProtocolError):
        pair.esme.receive_data(wire(deliver(short_message=b"x" * 120), seq=3), now=1.0)


# -- connection loss -------------------------------------------------------------------------


def test_connection_lost_reports_every_unanswered_request() -> None:
    pair = bound_pair()
    answered = pair.esme.send_request(submit(0), now=0.0)
    left = [
        pair.esme.send_request(submit(1), now=0.0, tag="a"),
        pair.esme.send_request(EnquireLink(), now=0.0),
        pair.esme.send_request(data_sm(), now=0.0, tag="b"),
    ]
    pair.esme.receive_data(wire(SubmitSmResp(), seq=answered.sequence_number), now=0.0)
    lost = pair.esme.connection_lost()
    assert lost == ConnectionLost(unacknowledged=tuple(left))
    assert all(a is b for a, b in zip(lost.unacknowledged, left, strict=True))
    assert pair.esme.state is State.CLOSED
    assert pair.esme.outstanding == () and pair.esme.in_flight == 0
    assert pair.esme.tick(1000.0) == []
    assert pair.esme.connection_lost() == ConnectionLost(unacknowledged=())  # reported once
    with pytest.raises(LocalProtocolError):
        pair.esme.send_request(submit(), now=1.0)


def test_connection_lost_during_bind() -> None:
    esme = Session(Role.ESME)
    bind = esme.bind(BindMode.TRANSMITTER, system_id=ESME_ID, password=PASSWORD, now=0.0)
    assert esme.connection_lost().unacknowledged == (bind,)


# -- known gaps reported as bugs -------------------------------------------------------------


def test_outbind_is_not_waited_for() -> None:
    """outbind has no response: it must not sit in the window until it 'times out'."""
    smsc = Session(Role.SMSC)
    request = smsc.send_request(Outbind(system_id=SMSC_ID, password=PASSWORD), now=0.0)
    assert request.command_id == C.OUTBIND
    assert only(sent(smsc)) == Outbind(
        sequence_number=request.sequence_number, system_id=SMSC_ID, password=PASSWORD
    )
    assert smsc.outstanding == () and smsc.next_deadline() is None
    assert smsc.tick(100.0) == []
    assert smsc.connection_lost() == ConnectionLost(unacknowledged=())


def test_outbind_reaches_the_esme_as_a_request() -> None:
    esme = Session(Role.ESME)
    event = only(esme.receive_data(wire(Outbind(system_id=SMSC_ID, password="x"), seq=1),
                                   now=0.0))
    assert isinstance(event, RequestReceived) and event.pdu.command_id == C.OUTBIND
    assert esme.data_to_send() == b""  # outbind has no response
    esme.bind(BindMode.RECEIVER, system_id=ESME_ID, password=PASSWORD, now=0.0)


def test_generic_nack_to_bind_is_a_failed_bind() -> None:
    """Not stuck in BINDING with nothing outstanding: the ESME is OPEN and may bind again."""
    esme = Session(Role.ESME)
    bind = esme.bind(BindMode.TRANSMITTER, system_id=ESME_ID, password=PASSWORD, now=0.0)
    nack = GenericNack(sequence_number=bind.sequence_number, command_status=S.ESME_RINVCMDLEN)
    event = only(esme.receive_data(wire(nack), now=1.0))
    assert event == BindFailed(command_status=S.ESME_RINVCMDLEN, request=bind)
    assert event.request is bind
    assert esme.state is State.OPEN and esme.outstanding == ()
    esme.bind(BindMode.TRANSMITTER, system_id=ESME_ID, password=PASSWORD, now=2.0)


def test_generic_nack_to_unbind_ends_the_session() -> None:
    pair = bound_pair()
    pending = pair.esme.send_request(submit(), now=0.0)
    unbind = pair.esme.unbind(now=0.0)
    nack = GenericNack(sequence_number=unbind.sequence_number, command_status=S.ESME_RINVCMDID)
    event = only(pair.esme.receive_data(wire(nack), now=1.0))
    assert event == Unbound(by_peer=False, unacknowledged=(pending,))
    assert pair.esme.state is State.CLOSED and pair.esme.outstanding == ()


@pytest.mark.parametrize("how", ["connection_lost", "framing_error"])
@pytest.mark.parametrize("answer", ["accept", "reject"])
def test_late_bind_answer_cannot_revive_a_dead_session(how: str, answer: str) -> None:
    smsc = Session(Role.SMSC)
    smsc.receive_data(wire(BindTransceiver(system_id=ESME_ID), seq=1), now=0.0)
    # The adapter checks the credentials (awaits) while the connection fails.
    if how == "connection_lost":
        smsc.connection_lost()
    else:
        with pytest.raises(RemoteProtocolError):
            smsc.receive_data(header(1, 0), now=0.0)
    dead = smsc.state
    smsc.data_to_send()
    with pytest.raises(LocalProtocolError):
        if answer == "accept":
            smsc.accept_bind(system_id=SMSC_ID)
        else:
            smsc.reject_bind(S.ESME_RINVPASWD)
    assert smsc.state is dead and smsc.data_to_send() == b""


# -- cross-check with smpplib ----------------------------------------------------------------


def smpplib_parse(data: bytes):
    """smpplib 2.2.4's own parser. Without a client it cannot number PDUs, so requests are
    built with ``need_sequence=False`` (its response classes pass that themselves)."""
    (command_id,) = struct.unpack_from(">I", data, 4)
    kwargs = {} if command_id & 0x80000000 else {"need_sequence": False}
    return smpplib.smpp.parse_pdu(data, allow_unknown_opt_params=True, **kwargs)


@pytest.mark.parametrize("mode", MODES)
def test_smpplib_parses_our_bind(mode: BindMode) -> None:
    esme = Session(Role.ESME)
    esme.bind(mode, system_id=ESME_ID, password=PASSWORD, system_type="VMA", addr_ton=1,
              addr_npi=1, address_range="^336", now=0.0)
    parsed = smpplib_parse(esme.data_to_send())
    assert parsed.command == f"bind_{mode.value}"
    assert (parsed.sequence, parsed.status) == (1, 0)
    assert parsed.system_id == ESME_ID.encode() and parsed.password == PASSWORD.encode()
    assert parsed.system_type == b"VMA" and parsed.interface_version == 0x34
    assert (parsed.addr_ton, parsed.addr_npi, parsed.address_range) == (1, 1, b"^336")


def test_smpplib_parses_our_bind_response() -> None:
    pair = SessionPair()
    pair.esme.bind(BindMode.TRANSCEIVER, system_id=ESME_ID, password=PASSWORD, now=0.0)
    pair.exchange()
    pair.smsc.accept_bind(system_id=SMSC_ID)
    parsed = smpplib_parse(pair.smsc.data_to_send())
    assert parsed.command == "bind_transceiver_resp"
    assert (parsed.sequence, parsed.status, parsed.system_id) == (1, 0, SMSC_ID.encode())
    assert parsed.sc_interface_version == 0x34


def test_smpplib_parses_our_submits() -> None:
    pair = bound_pair()
    pair.esme._next_seq = MAX_SEQUENCE
    for i in range(3):
        pair.esme.send_request(submit(i, schedule_delivery_time="250601083000004+"), now=0.0)
    data = pair.esme.data_to_send()
    frames = codec.Framer().feed(data)
    assert len(frames) == 3
    for i, (frame, seq) in enumerate(zip(frames, [MAX_SEQUENCE, 1, 2], strict=True)):
        parsed = smpplib_parse(frame)
        assert parsed.command == "submit_sm"
        assert (parsed.sequence, parsed.status) == (seq, 0)
        assert parsed.source_addr == b"MyShop" and parsed.source_addr_ton == 5
        assert parsed.destination_addr == b"33612345678"
        assert (parsed.dest_addr_ton, parsed.dest_addr_npi) == (1, 1)
        assert parsed.registered_delivery == 1
        assert parsed.schedule_delivery_time == b"250601083000004+"
        assert parsed.short_message == f"message {i}".encode()
        assert parsed.sm_length == len(parsed.short_message)


def test_smpplib_parses_our_answers() -> None:
    pair = bound_pair()
    pair.smsc.send_request(deliver(), now=0.0)
    (event,) = pair.exchange().esme
    pair.esme.respond(event.pdu)
    pair.esme.receive_data(wire(EnquireLink(), seq=9), now=0.0)
    frames = codec.Framer().feed(pair.esme.data_to_send())
    parsed = [smpplib_parse(f) for f in frames]
    assert [(p.command, p.sequence, p.status) for p in parsed] == [
        ("deliver_sm_resp", 1, 0),
        ("enquire_link_resp", 9, 0),
    ]


# -- every state x every input (h2's test_state_machines) ------------------------------------


def session_in(state: State, role: Role, mode: BindMode = BindMode.TRANSCEIVER) -> Session:
    """A fresh session of ``role`` brought to ``state`` through its public API and the wire."""
    pair = SessionPair()
    us = pair.esme if role is Role.ESME else pair.smsc
    if state is State.OPEN:
        pass
    elif state is State.BINDING:
        pair.esme.bind(mode, system_id=ESME_ID, password=PASSWORD, now=0.0)
        pair.exchange()
    elif state in BOUND_STATE.values():
        mode = next(m for m, s in BOUND_STATE.items() if s is state)
        pair.bind(mode)
    elif state is State.UNBINDING:
        pair.bind(mode)
        us.unbind(now=0.0)
    elif state is State.CLOSED:
        pair.bind(mode)
        pair.peer(us).unbind(now=0.0)
        pair.exchange()
    elif state is State.ERROR:
        pair.bind(mode)
        with pytest.raises(RemoteProtocolError):
            us.receive_data(header(3, 0, 0, 0), now=0.0)
    us.data_to_send()
    assert us.state is state
    return us


def _peer_role(role: Role) -> Role:
    return Role.SMSC if role is Role.ESME else Role.ESME


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("state", list(State))
def test_send_request_follows_the_allowed_table(state: State, role: Role) -> None:
    allowed = ALLOWED_REQUESTS.get((state, role), frozenset())
    for cid, sample in SAMPLES.items():
        if cid & 0x80000000:
            continue
        us = session_in(state, role)
        if cid in allowed:
            request = us.send_request(sample, now=1.0)
            assert request.command_id == cid
            assert command_ids(sent(us)) == [cid]
        else:
            with pytest.raises(LocalProtocolError):
                us.send_request(sample, now=1.0)
            assert us.data_to_send() == b"" and us.state is state


@given(
    state=st.sampled_from(list(State)),
    role=st.sampled_from(list(Role)),
    command_id=st.sampled_from(sorted(SAMPLES)),
    seq=st.integers(0, 0xFFFFFFFF),
)
def test_every_state_by_every_input(state: State, role: Role, command_id: int, seq: int) -> None:
    check_input(state, role, command_id, seq)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("state", list(State))
def test_every_state_by_every_input_exhaustive(state: State, role: Role) -> None:
    """The same, deterministically: every PDU class in this state, at the sequence edges."""
    for command_id in SAMPLES:
        for seq in (1, MAX_SEQUENCE, 0xFFFFFFFF):
            check_input(state, role, command_id, seq)


def check_input(state: State, role: Role, command_id: int, seq: int) -> None:
    """Feed one valid PDU to a session of ``role`` in ``state``: it must end in a valid state
    with the answer the ALLOWED_REQUESTS table implies, or raise RemoteProtocolError in ERROR."""
    us = session_in(state, role)
    outstanding = us.outstanding
    data = wire(SAMPLES[command_id], seq=seq)
    if state is State.ERROR:
        with pytest.raises(RemoteProtocolError):
            us.receive_data(data, now=1.0)
        assert us.state is State.ERROR and us.data_to_send() == b""
        return
    events = us.receive_data(data, now=1.0)
    answers = sent(us)

    if command_id & 0x80000000:  # a response: never answered
        assert answers == []
        event = only(events)
        matched = [o for o in outstanding if o.sequence_number == seq]
        if matched and (command_id == C.GENERIC_NACK or matched[0].command_id | 0x80000000
                        == command_id):
            assert matched[0] not in us.outstanding  # settled; the outcomes are tested above
            return
        assert us.state is state and us.outstanding == outstanding
        if command_id == C.GENERIC_NACK:
            assert isinstance(event, NackReceived) and event.request is None
        else:
            assert isinstance(event, UnexpectedResponse)
        return

    allowed = ALLOWED_REQUESTS.get((state, _peer_role(role)), frozenset())
    if command_id not in allowed:
        event = only(events)
        assert isinstance(event, PduRejected)
        bound_again = command_id in (C.BIND_TRANSMITTER, C.BIND_RECEIVER, C.BIND_TRANSCEIVER) and (
            state in BOUND_STATE.values()
        )
        status = S.ESME_RALYBND if bound_again else S.ESME_RINVBNDSTS
        assert event.error.command_status == status
        assert event.error.sequence_number == seq
        assert us.state is state and us.outstanding == outstanding
        if state is not State.CLOSED:  # CLOSED: see test_closed_session_queues_nothing...
            answer = only(answers)
            expected_id = C.GENERIC_NACK if command_id == C.OUTBIND else command_id | 0x80000000
            assert answer.command_id == expected_id
            assert (answer.sequence_number, answer.command_status) == (seq, status)
        return

    if command_id == C.ENQUIRE_LINK:
        assert events == []
        assert answers == [EnquireLinkResp(sequence_number=seq)]
        assert us.state is state
    elif command_id == C.UNBIND:
        assert events == [Unbound(by_peer=True, unacknowledged=outstanding)]
        assert answers == [UnbindResp(sequence_number=seq)]
        assert us.state is State.CLOSED
    elif command_id in (C.BIND_TRANSMITTER, C.BIND_RECEIVER, C.BIND_TRANSCEIVER):
        assert role is Role.SMSC and state is State.OPEN
        assert isinstance(only(events), BindRequested) and answers == []
        assert us.state is State.BINDING
    else:
        event = only(events)
        assert isinstance(event, RequestReceived) and event.pdu.sequence_number == seq
        assert answers == [] and us.state is state
        if command_id != C.OUTBIND:  # outbind has no response
            us.respond(event.pdu)
            assert only(sent(us)).sequence_number == seq


def test_every_pdu_class_has_a_sample() -> None:
    assert set(SAMPLES) == set(PDU_CLASSES)
    assert {type(p) for p in SAMPLES.values()} == set(PDU_CLASSES.values())


def test_bind_resp_classes_match_modes() -> None:
    for mode in MODES:
        assert BIND_RESP_CLASS[mode].command_id == BIND_CLASS[mode].command_id | 0x80000000
    assert BindTransmitterResp.command_id == C.BIND_TRANSMITTER_RESP
