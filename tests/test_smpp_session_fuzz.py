"""A whole SMPP link under random operations. Hypothesis draws a program — a list of operations
(bind, answer the bind, submit, deliver, data_sm, enquire_link, respond, unbind, move bytes in
random chunks, let time pass, forge a response, feed garbage, lose the connection) — and runs it
against a SessionPair (an ESME and an SMSC session), checking after every step that

- the window holds: 0 <= in_flight <= window, and in_flight counts the windowed outstanding;
- outstanding sequence numbers are unique and within 1..0x7FFFFFFF;
- every request a side sent ends exactly once: answered (ResponseReceived, NackReceived,
  BindFailed, or Bound / Unbound for a bind / unbind, which do not name the request), timed out,
  or handed back by Unbound or ConnectionLost; nothing is reported that was not outstanding, and
  nothing leaves the window unreported;
- a request is refused exactly when the ALLOWED_REQUESTS table or the window says so;
- after tick(now) nothing overdue is left outstanding;
- nothing but LocalProtocolError (our misuse) or RemoteProtocolError (a peer's broken stream)
  ever escapes the session.

A program is a list of (operation, argument) integer pairs rather than a RuleBasedStateMachine:
Hypothesis' stateful runner costs ~5 ms a run before any session code runs, which would take
CI's 1000 examples past the time budget; integers draw fast and shrink to the simplest operation.
The operations performed are reported with ``note`` when a run fails.

Bind answers are only
given while the SMSC is BINDING (answering otherwise is a LocalProtocolError by design).
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Callable

from hypothesis import given, note
from hypothesis import strategies as st

from gateway.smpp.events import (
    BindFailed,
    BindMode,
    Bound,
    ConnectionLost,
    NackReceived,
    Outstanding,
    RequestReceived,
    RequestTimedOut,
    ResponseReceived,
    Unbound,
)
from gateway.smpp.pdu import (
    BindReceiverResp,
    BindTransceiverResp,
    BindTransmitterResp,
    CommandId,
    CommandStatus,
    DataSmResp,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    SubmitSmResp,
    UnbindResp,
)
from gateway.smpp.session import (
    _WINDOWED,
    ALLOWED_REQUESTS,
    MAX_SEQUENCE,
    LocalProtocolError,
    RemoteProtocolError,
    Session,
    State,
    WindowFull,
)
from tests.helpers_session import (
    ESME_ID,
    PASSWORD,
    SMSC_ID,
    SessionPair,
    data_sm,
    deliver,
    header,
    raw_pdu,
    submit,
    wire,
)

C = CommandId
S = CommandStatus
_BINDS = frozenset({C.BIND_TRANSMITTER, C.BIND_RECEIVER, C.BIND_TRANSCEIVER})

STATUSES = [0, 0, 0, S.ESME_RTHROTTLED, S.ESME_RSYSERR, S.ESME_RINVDSTADR]
STEPS = [0.5, 1.0, 4.0, 9.0, 10.0, 31.0]
RESPONSES = [
    SubmitSmResp(message_id="f"),
    DeliverSmResp(),
    DataSmResp(message_id="f"),
    EnquireLinkResp(),
    UnbindResp(),
    GenericNack(command_status=S.ESME_RINVCMDLEN),
    BindTransmitterResp(system_id="F"),
    BindReceiverResp(system_id="F"),
    BindTransceiverResp(system_id="F", sc_interface_version=0x34),
]

#: Bytes a broken or hostile peer might send.
GARBAGE = st.one_of(
    st.binary(max_size=48),
    st.builds(
        raw_pdu,
        st.sampled_from([0x99, C.QUERY_SM, 0x80000099, C.SUBMIT_SM, C.DELIVER_SM,
                         C.BIND_TRANSMITTER, C.ENQUIRE_LINK, C.UNBIND, C.OUTBIND]),
        st.integers(0, 0xFFFFFFFF),
        st.binary(max_size=24),
    ),
    st.builds(header, st.sampled_from([0, 4, 15, 0x10001, 0xFFFFFFFF]),
              st.integers(0, 0xFFFFFFFF)),
)


class Side:
    """The test's ledger for one session: every request it ever had outstanding, and how each
    ended."""

    def __init__(self, name: str, session: Session) -> None:
        self.name = name
        self.session = session
        self.tracked: dict[int, Outstanding] = {}
        self.ended: set[int] = set()
        #: Requests from the peer that the application still has to answer.
        self.inbox: list = []


class Link:
    """A SessionPair, the ledgers of both sides, and one method per operation."""

    def __init__(self, setup: int, garbage: list[bytes]) -> None:
        rnd = random.Random(setup)
        self.pair = SessionPair(
            window=rnd.randint(1, 4),
            response_timeout=rnd.choice([5.0, 10.0]),
            enquire_link_interval=rnd.choice([8.0, 30.0]),
        )
        self.esme = Side("esme", self.pair.esme)
        self.smsc = Side("smsc", self.pair.smsc)
        self.garbage = garbage
        self.link_up = True
        for side in (self.esme, self.smsc):
            side.session.start_clock(0.0)
            if rnd.random() < 0.3:  # close to the wrap of the sequence numbers
                side.session._next_seq = MAX_SEQUENCE - rnd.randrange(4)
        if setup % 4:  # mostly start bound; sometimes let the program bind (or not)
            mode = list(BindMode)[setup % 3]
            self.bind(mode)
            self.move(self.esme)
            self.answer_bind(accept=True)
            self.move(self.smsc)
            assert self.esme.session.is_bound and self.smsc.session.is_bound

    @property
    def now(self) -> float:
        return self.pair.now

    def peer(self, side: Side) -> Side:
        return self.smsc if side is self.esme else self.esme

    # -- the engine: run one call, check what came out ------------------------------------

    def call(self, side: Side, fn: Callable, *, local_ok: bool = False,
             remote_ok: bool = False) -> tuple[object, Exception | None]:
        """Run ``fn`` against ``side``; account for its events; return (result, error)."""
        before = {id(o): o for o in side.session.outstanding}
        result, error, events = None, None, []
        try:
            result = fn()
        except LocalProtocolError as exc:
            assert local_ok, f"{side.name}: unexpected {exc!r}"
            error = exc
        except RemoteProtocolError as exc:
            assert remote_ok, f"{side.name}: unexpected {exc!r}"
            error = exc
            events = exc.events
        else:
            if isinstance(result, list):
                events = result
            elif isinstance(result, ConnectionLost):
                events = [result]
        self.account(side, before, events)
        return result, error

    def account(self, side: Side, before: dict[int, Outstanding], events: list) -> None:
        after = {id(o): o for o in side.session.outstanding}
        for key, request in after.items():
            side.tracked.setdefault(key, request)  # sent by this call (or by tick's keep-alive)
        reported: list[Outstanding] = []
        for event in events:
            if isinstance(event, ResponseReceived | RequestTimedOut | BindFailed | NackReceived):
                if event.request is not None:  # a generic_nack may match nothing
                    reported.append(event.request)
            elif isinstance(event, Unbound | ConnectionLost):
                reported.extend(event.unacknowledged)
            elif isinstance(event, RequestReceived):
                side.inbox.append(event.pdu)
        for request in reported:
            key = id(request)
            assert key in side.tracked, f"{side.name}: reported a request it never sent: {request}"
            assert key not in side.ended, f"{side.name}: {request} reported twice"
            assert key in before and key not in after, f"{side.name}: {request} not settled"
            side.ended.add(key)
        for key in before.keys() - after.keys() - {id(r) for r in reported}:
            request = before[key]
            # Bound and Unbound(by_peer=False) answer a bind / an unbind without naming it.
            if request.command_id in _BINDS:
                assert any(isinstance(e, Bound) for e in events), (side.name, request, events)
            elif request.command_id == C.UNBIND:
                assert any(isinstance(e, Unbound) and not e.by_peer for e in events), events
            else:
                raise AssertionError(f"{side.name}: {request} left unreported: {events}")
            side.ended.add(key)
        self.check(side)

    def check(self, side: Side) -> None:
        session = side.session
        windowed = [o for o in session.outstanding if o.command_id in _WINDOWED]
        assert 0 <= session.in_flight <= session.window
        assert session.in_flight == len(windowed)
        assert session.window_free == session.window - session.in_flight
        seqs = [o.sequence_number for o in session.outstanding]
        assert len(seqs) == len(set(seqs)), seqs
        assert all(1 <= seq <= MAX_SEQUENCE for seq in seqs), seqs
        # The ledger agrees: outstanding = sent and not yet ended.
        assert {id(o) for o in session.outstanding} == side.tracked.keys() - side.ended
        assert isinstance(session.state, State)

    def finish(self) -> None:
        """Lose the connection: afterwards every request ever sent has ended exactly once."""
        for side in (self.esme, self.smsc):
            self.call(side, side.session.connection_lost)
            missing = [side.tracked[k] for k in side.tracked.keys() - side.ended]
            assert not missing, f"{side.name}: requests never reported: {missing}"

    # -- operations -----------------------------------------------------------------------

    def move(self, source: Side, cuts: list[int] = ()) -> None:  # type: ignore[assignment]
        """Deliver what ``source`` queued to its peer, cut into chunks at ``cuts``."""
        target = self.peer(source)
        data = source.session.data_to_send()
        if not self.link_up:
            return
        bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
        for start, end in itertools.pairwise(bounds):
            _, error = self.call(
                target,
                lambda chunk=data[start:end]: target.session.receive_data(chunk, now=self.now),
                remote_ok=True,
            )
            if error is not None:
                break

    def send(self, side: Side, pdu) -> None:
        session = side.session
        state, was_in_flight = session.state, session.in_flight
        allowed = pdu.command_id in ALLOWED_REQUESTS.get((state, session.role), ())
        windowed = pdu.command_id in _WINDOWED
        result, error = self.call(
            side, lambda: session.send_request(pdu, now=self.now), local_ok=True
        )
        if not allowed:
            assert error is not None and not isinstance(error, WindowFull), (state, pdu)
        elif windowed and was_in_flight >= session.window:
            assert isinstance(error, WindowFull), error
        else:
            assert error is None, error
            assert result.command_id == pdu.command_id
            assert session.in_flight == was_in_flight + windowed

    def bind(self, mode: BindMode) -> None:
        session = self.esme.session
        allowed = session.state is State.OPEN
        _, error = self.call(
            self.esme,
            lambda: session.bind(mode, system_id=ESME_ID, password=PASSWORD, now=self.now),
            local_ok=True,
        )
        assert (error is None) == allowed

    def answer_bind(self, *, accept: bool) -> None:
        session = self.smsc.session
        if session.state is not State.BINDING:
            return  # answering in CLOSED/ERROR: see test_late_bind_answer_cannot_revive...
        if accept:
            self.call(self.smsc, lambda: session.accept_bind(system_id=SMSC_ID))
            assert session.is_bound
        else:
            self.call(self.smsc, lambda: session.reject_bind(S.ESME_RINVPASWD))
            assert session.state is State.OPEN

    def unbind(self, side: Side) -> None:
        session = side.session
        allowed = session.is_bound or session.state is State.UNBINDING
        _, error = self.call(side, lambda: session.unbind(now=self.now), local_ok=True)
        assert (error is None) == allowed
        if allowed:
            assert session.state is State.UNBINDING

    def respond(self, side: Side, rnd: random.Random) -> None:
        if not side.inbox:
            return
        pdu = side.inbox.pop(rnd.randrange(len(side.inbox)))
        if pdu.command_id == C.OUTBIND:  # outbind has no response
            return
        message_id = "" if pdu.command_id == C.DELIVER_SM else f"m{pdu.sequence_number}"
        dead = side.session.state in (State.CLOSED, State.ERROR)
        _, error = self.call(
            side,
            lambda: side.session.respond(
                pdu, command_status=rnd.choice(STATUSES), message_id=message_id
            ),
            local_ok=dead,
        )
        assert (error is not None) == dead

    def tick(self, dt: float) -> None:
        self.pair.advance(dt)
        for side in (self.esme, self.smsc):
            session = side.session
            result, _ = self.call(side, lambda s=session: s.tick(self.now))
            assert all(
                isinstance(e, RequestTimedOut) and e.request.deadline <= self.now
                for e in result  # type: ignore[union-attr]
            )
            assert all(o.deadline > self.now for o in session.outstanding)

    def feed_garbage(self, side: Side, data: bytes) -> None:
        self.call(side, lambda: side.session.receive_data(data, now=self.now), remote_ok=True)

    def forge_response(self, side: Side, rnd: random.Random) -> None:
        """A response from the peer, for one of our requests or for none, of any command."""
        outstanding = side.session.outstanding
        if outstanding and rnd.random() < 0.7:
            seq = rnd.choice(outstanding).sequence_number
        else:
            seq = rnd.randint(1, 60)
        pdu = dataclasses.replace(
            rnd.choice(RESPONSES), sequence_number=seq, command_status=rnd.choice(STATUSES)
        )
        data = wire(pdu)
        if rnd.random() < 0.3:  # and then the stream breaks, in the same read
            data += header(rnd.choice([0, 15, 0xFFFFFFFF]), 0, 0, seq)
        self.call(side, lambda: side.session.receive_data(data, now=self.now), remote_ok=True)

    def lose_connection(self) -> None:
        self.link_up = False
        for side in (self.esme, self.smsc):
            self.call(side, side.session.connection_lost)
            assert side.session.state is State.CLOSED and side.session.outstanding == ()

    # -- the program ----------------------------------------------------------------------

    def run(self, op: int, arg: int) -> str:
        """Perform operation ``op`` with parameters drawn from ``arg``; return a description."""
        rnd = random.Random(arg)
        side = self.esme if arg & 1 else self.smsc
        name, action = OPS[op]
        action(self, side, rnd)
        return f"{name}({side.name}, arg={arg})"


def _transfer(link: Link, side: Side, rnd: random.Random) -> None:
    link.move(side, [rnd.randrange(2000) for _ in range(rnd.randrange(4))])


def _garbage(link: Link, side: Side, rnd: random.Random) -> None:
    if link.garbage:
        link.feed_garbage(side, rnd.choice(link.garbage))


OPS: list[tuple[str, Callable[[Link, Side, random.Random], None]]] = [
    ("transfer", _transfer),
    ("submit", lambda link, side, rnd: link.send(link.esme, submit(rnd.randrange(100)))),
    ("deliver", lambda link, side, rnd: link.send(link.smsc, deliver(rnd.randrange(100)))),
    ("respond", lambda link, side, rnd: link.respond(side, rnd)),
    ("tick", lambda link, side, rnd: link.tick(rnd.choice(STEPS))),
    ("transfer", _transfer),
    ("enquire_link", lambda link, side, rnd: link.send(side, EnquireLink())),
    ("data_sm", lambda link, side, rnd: link.send(side, data_sm())),
    ("unbind", lambda link, side, rnd: link.unbind(side)),
    ("bind", lambda link, side, rnd: link.bind(rnd.choice(list(BindMode)))),
    ("answer_bind", lambda link, side, rnd: link.answer_bind(accept=rnd.random() < 0.7)),
    ("forge_response", lambda link, side, rnd: link.forge_response(side, rnd)),
    ("garbage", _garbage),
    ("lose_connection", lambda link, side, rnd: link.lose_connection()),
]

PROGRAMS = st.lists(
    st.tuples(st.integers(0, len(OPS) - 1), st.integers(0, 0xFFFF)), max_size=40
)


@given(setup=st.integers(0, 0xFFFF), program=PROGRAMS,
       garbage=st.lists(GARBAGE, max_size=3))
def test_random_programs_keep_the_session_invariants(
    setup: int, program: list[tuple[int, int]], garbage: list[bytes]
) -> None:
    link = Link(setup, garbage)
    note(f"window={link.pair.esme.window} timeout={link.pair.esme.response_timeout} "
         f"interval={link.pair.esme.enquire_link_interval} bound={link.esme.session.is_bound}")
    for op, arg in program:
        note(link.run(op, arg))
    link.finish()


def test_programs_reach_the_interesting_states() -> None:
    """The operations are not vacuous: a plain deterministic program visits every state of both
    roles (ERROR through garbage) and ends every request."""
    seen: set[tuple[str, State]] = set()
    rnd = random.Random(1)
    for setup in range(300):
        link = Link(setup, [header(4, 0), raw_pdu(0x99, 1)])
        for _ in range(30):
            link.run(rnd.randrange(len(OPS)), rnd.randrange(0x10000))
            seen |= {(s.name, s.session.state) for s in (link.esme, link.smsc)}
        link.finish()
    for name in ("esme", "smsc"):
        missing = [state for state in State if (name, state) not in seen]
        assert not missing, (name, missing)
