"""Replies (MO messages) that arrive in parts: put concatenated deliver_sm parts back together.

A subscriber's long reply reaches us as several deliver_sm PDUs, each carrying one part and either a
concatenation IE in its UDH (8-bit ``05 00 03 ref total seq`` or 16-bit ``06 08 04 ref ref total
seq``, esm_class UDHI 0x40) or the SAR TLVs ``sar_msg_ref_num`` / ``sar_total_segments`` /
``sar_segment_seqnum`` (reference §5). Parts can arrive in any order, twice (an SMSC redelivers when
our deliver_sm_resp was late or lost), interleaved with other senders' messages, or never.

Why the payload octets are joined before decoding: senders split at unit boundaries of their own
choosing, and not all of them keep a GSM-7 ESC pair or a UTF-16 surrogate pair inside one part.
Decoding each part alone would turn such a pair into a space and two U+FFFD; decoding the joined
octets once gets the character back.

Sans-IO: :class:`Reassembler` reads no clock (``now`` is a parameter: pass ``trio.current_time()``,
which never goes backwards), does no logging and keeps all its state in bounded memory.

* Groups are keyed by (source, destination, ref, total); the part number is ``seq``.
* A UDH concatenation IE wins over SAR TLVs; a part with neither (or a UDH IE / SAR set that TS
  23.040 says to ignore: total 0, seq 0 or seq > total) or with total 1 is a complete message.
* A UDH that cannot be parsed (length running past the payload) is not fatal: the whole payload is
  delivered as a one-part message and :attr:`Reply.udh_error` says why, so the caller can log it
  and a "STOP" behind a broken header still reaches the opt-out logic.
* A duplicate part (same group, same seq) is ignored, the first copy kept. A part that repeats a
  group completed within ``timeout`` is recognised as a redelivery and ignored too, instead of
  starting a new group that would later expire as a phantom partial reply.
* ``max_pending`` bounds the number of incomplete groups and ``max_octets`` their buffered octets.
  When a new group would exceed either, the oldest group is evicted early. ``add`` still returns
  only complete replies; evicted groups wait (at most ``max_pending`` of them, the oldest dropped
  and counted in :attr:`Reassembler.lost` beyond that) until the next :meth:`Reassembler.expire`,
  which returns them with the timed-out ones, marked :attr:`ExpiryReason.EVICTED`.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from enum import StrEnum

from gateway._core import unpack_septets
from gateway.codec import MAX_PARTS, CodecError, DecodeError, decode

__all__ = [
    "DEFAULT_MAX_PENDING_OCTETS",
    "ESM_CLASS_UDHI",
    "ExpiryReason",
    "Incomplete",
    "Reassembler",
    "Reply",
]

#: esm_class bit 6: short_message starts with a user data header (reference §8).
ESM_CLASS_UDHI = 0x40

#: Default bound on the octets buffered in incomplete groups. A full 255-part message of 153-octet
#: parts is 39 KiB, so 4 MiB holds a hundred of those, or some 13 000 typical two-part replies,
#: while staying small next to the daemon's other buffers.
DEFAULT_MAX_PENDING_OCTETS = 4 * 1024 * 1024

#: SAR reference is a 2-octet integer (sar_msg_ref_num, reference §9).
_MAX_SAR_REF = 0xFFFF

#: Latin-1 (data_coding 3) decodes any octets, so decoding with it only fails on the UDH: used to
#: read a part's header whatever its own data_coding, which may carry no text at all.
_ANY_OCTETS_DC = 3


def _is_gsm7(data_coding: int) -> bool:
    """data_coding values the codec decodes as GSM-7 (0, and the TS 23.038 message-waiting
    0xC0-0xDF and 7-bit message-class 0xF0-0xF3 groups); mirrors gateway.codec.decode."""
    return data_coding == 0 or 0xC0 <= data_coding <= 0xDF or 0xF0 <= data_coding <= 0xF3


def _decode_text(octets: bytes, data_coding: int) -> str | None:
    """Text of joined part bodies. A UCS-2 body of odd length (a truncated part) keeps its even
    prefix plus U+FFFD; a data_coding that carries no text (8-bit binary) gives None."""
    try:
        return decode(octets, data_coding).text
    except CodecError:
        pass
    if len(octets) % 2:
        try:
            return decode(octets[:-1], data_coding).text + "\ufffd"
        except CodecError:
            pass
    return None


class ExpiryReason(StrEnum):
    """Why :meth:`Reassembler.expire` gave up on a group."""

    #: No part completed the group within ``timeout`` of its first part.
    TIMEOUT = "timeout"
    #: Evicted early to keep within ``max_pending`` / ``max_octets``.
    EVICTED = "evicted"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """A complete MO message. Don't subclass this: the adapter dispatches on the exact type."""

    #: The subscriber (deliver_sm source_addr).
    source: str
    #: Our number or sender id the reply was sent to (deliver_sm destination_addr).
    destination: str
    #: The decoded text; None when the data_coding carries no text (8-bit binary, see payload).
    text: str | None
    #: The joined part bodies, UDH removed (unpacked septets when the reassembler is ``packed``).
    payload: bytes
    #: Number of parts (1 for a single message).
    parts: int
    #: data_coding of the first part.
    data_coding: int
    #: Concatenation reference (UDH or sar_msg_ref_num), None for a single message.
    ref: int | None = None
    #: Why the UDH was ignored, when it could not be parsed; None otherwise.
    udh_error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Incomplete:
    """A concatenated reply given up on: what arrived, what is missing, and why it ended."""

    source: str
    destination: str
    ref: int
    #: Parts the message announced.
    total: int
    #: data_coding of the lowest-numbered part received.
    data_coding: int
    #: Part numbers received and missing, ascending.
    received: tuple[int, ...]
    missing: tuple[int, ...]
    #: The received parts' text in order; each run of consecutive parts is decoded as one and the
    #: runs are concatenated with no marker (``missing`` says where the gaps are). None when the
    #: data_coding carries no text.
    text_so_far: str | None
    #: ``now`` when the group's first part arrived.
    first_seen: float
    reason: ExpiryReason


@dataclass(slots=True)
class _Part:
    body: bytes
    data_coding: int
    #: hash of (payload as received, data_coding): recognises a redelivery of a completed group.
    digest: int


@dataclass(slots=True)
class _Group:
    first_seen: float
    parts: dict[int, _Part] = field(default_factory=dict)
    octets: int = 0


_Key = tuple[str, str, int, int]


def _text_of(parts: list[_Part]) -> str | None:
    """Decode consecutive parts as one string, a new run wherever the data_coding changes (a
    sender should never mix them within a message, but a join across encodings would be
    garbage)."""
    texts: list[str] = []
    i = 0
    while i < len(parts):
        j = i
        while j + 1 < len(parts) and parts[j + 1].data_coding == parts[i].data_coding:
            j += 1
        text = _decode_text(b"".join(p.body for p in parts[i : j + 1]), parts[i].data_coding)
        if text is None:
            return None
        texts.append(text)
        i = j + 1
    return "".join(texts)


class Reassembler:
    """Joins the parts of concatenated MO messages (see the module docstring for the rules).

    ``timeout``: seconds after a group's first part before :meth:`expire` gives up on it (and how
    long a completed group is remembered to drop redelivered parts). ``max_pending``: most
    incomplete groups held. ``max_octets``: most part octets held in them. ``packed``: the SMSC
    delivers GSM-7 as packed septets (a per-operator setting, reference §3).
    """

    def __init__(
        self,
        timeout: float,
        max_pending: int,
        *,
        max_octets: int = DEFAULT_MAX_PENDING_OCTETS,
        packed: bool = False,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, not {timeout!r}")
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, not {max_pending!r}")
        if max_octets < 1:
            raise ValueError(f"max_octets must be at least 1, not {max_octets!r}")
        self._timeout = timeout
        self._max_pending = max_pending
        self._max_octets = max_octets
        self._packed = packed
        #: Incomplete groups in first-seen order (``now`` never goes backwards).
        self._groups: OrderedDict[_Key, _Group] = OrderedDict()
        self._octets = 0
        #: Groups completed within ``timeout``: completion time and their (seq, digest) pairs.
        self._done: OrderedDict[_Key, tuple[float, frozenset[tuple[int, int]]]] = OrderedDict()
        #: Groups evicted early, returned by the next expire().
        self._evicted: deque[Incomplete] = deque()
        self._lost = 0

    def __len__(self) -> int:
        """Number of incomplete groups held."""
        return len(self._groups)

    @property
    def pending_octets(self) -> int:
        """Part octets buffered in incomplete groups (bounded by ``max_octets``, plus at most one
        group larger than that on its own)."""
        return self._octets

    @property
    def lost(self) -> int:
        """Evicted groups dropped because :meth:`expire` was not called to drain them: count it,
        it means the caller drains too rarely for the load."""
        return self._lost

    def next_deadline(self) -> float | None:
        """When :meth:`expire` will next time a group out (None with nothing pending); evicted
        groups are returned by any call."""
        for group in self._groups.values():
            return group.first_seen + self._timeout
        return None

    def add(
        self,
        *,
        source: str,
        destination: str,
        payload: bytes,
        data_coding: int,
        esm_class: int,
        sar_ref: int | None = None,
        sar_total: int | None = None,
        sar_seq: int | None = None,
        now: float,
    ) -> Reply | None:
        """Take one deliver_sm; return the complete :class:`Reply` when this part completes its
        message (at once for a single message), else None.

        ``payload`` is short_message, or message_payload when short_message is empty. Never
        raises on the octets: a data_coding and esm_class outside one octet are caller bugs
        (ValueError).
        """
        if not 0 <= data_coding <= 0xFF:
            raise ValueError(f"data_coding must be one octet, not {data_coding!r}")
        if not 0 <= esm_class <= 0xFF:
            raise ValueError(f"esm_class must be one octet, not {esm_class!r}")
        payload = bytes(payload)
        ref = total = seq = None
        udh_len = 0
        udh_error = None
        if esm_class & ESM_CLASS_UDHI:
            try:
                d = decode(payload, _ANY_OCTETS_DC, udhi=True)
            except DecodeError as exc:
                udh_error = str(exc)
            else:
                udh_len = len(d.udh)
                ref, total, seq = d.ref, d.total, d.seq
        if ref is None and _valid_sar(sar_ref, sar_total, sar_seq):
            ref, total, seq = sar_ref, sar_total, sar_seq
        body = self._body(payload, udh_len, data_coding)

        if ref is None or total is None or seq is None or total == 1:
            return Reply(
                source=source,
                destination=destination,
                text=_decode_text(body, data_coding),
                payload=body,
                parts=1,
                data_coding=data_coding,
                ref=ref,
                udh_error=udh_error,
            )

        key: _Key = (source, destination, ref, total)
        digest = hash((payload, data_coding))
        done = self._done.get(key)
        if done is not None:
            if now - done[0] >= self._timeout:
                del self._done[key]
            elif (seq, digest) in done[1]:
                return None  # a redelivered part of a message already returned

        group = self._groups.get(key)
        if group is None:
            while len(self._groups) >= self._max_pending:
                self._evict_oldest()
            group = self._groups[key] = _Group(first_seen=now)
        if seq in group.parts:
            return None  # duplicate: keep the first copy
        group.parts[seq] = _Part(body=body, data_coding=data_coding, digest=digest)
        group.octets += len(body)
        self._octets += len(body)

        if len(group.parts) == total:
            del self._groups[key]
            self._octets -= group.octets
            ordered = [group.parts[i] for i in range(1, total + 1)]
            self._remember(key, now, group)
            return Reply(
                source=source,
                destination=destination,
                text=_text_of(ordered),
                payload=b"".join(p.body for p in ordered),
                parts=total,
                data_coding=ordered[0].data_coding,
                ref=ref,
            )

        while self._octets > self._max_octets and next(iter(self._groups)) != key:
            self._evict_oldest()
        return None

    def expire(self, now: float) -> list[Incomplete]:
        """Drop and return the groups whose first part is at least ``timeout`` old, after any
        groups evicted early since the last call (oldest first). Call it periodically, e.g. at
        :meth:`next_deadline`."""
        out = list(self._evicted)
        self._evicted.clear()
        while self._groups:
            key, group = next(iter(self._groups.items()))
            if now - group.first_seen < self._timeout:
                break
            out.append(self._pop(key, ExpiryReason.TIMEOUT))
        while self._done:
            key, (completed_at, _) = next(iter(self._done.items()))
            if now - completed_at < self._timeout:
                break
            del self._done[key]
        return out

    # -----------------------------------------------------------------------------------------

    def _body(self, payload: bytes, udh_len: int, data_coding: int) -> bytes:
        """A part's text octets after its UDH: unpacked septets when the SMSC packs GSM-7 (the
        text starts on the first septet boundary after the header, TS 23.040 9.2.3.24)."""
        if self._packed and _is_gsm7(data_coding):
            fill = (7 - (udh_len * 8) % 7) % 7
            return unpack_septets(payload)[(udh_len * 8 + fill) // 7 :]
        return payload[udh_len:]

    def _remember(self, key: _Key, now: float, group: _Group) -> None:
        """Keep a completed group's part digests for ``timeout`` to drop redeliveries."""
        self._done.pop(key, None)
        self._done[key] = (now, frozenset((s, p.digest) for s, p in group.parts.items()))
        while len(self._done) > self._max_pending:
            self._done.popitem(last=False)

    def _evict_oldest(self) -> None:
        key = next(iter(self._groups))
        if len(self._evicted) >= self._max_pending:
            self._evicted.popleft()
            self._lost += 1
        self._evicted.append(self._pop(key, ExpiryReason.EVICTED))

    def _pop(self, key: _Key, reason: ExpiryReason) -> Incomplete:
        group = self._groups.pop(key)
        self._octets -= group.octets
        source, destination, ref, total = key
        received = tuple(sorted(group.parts))
        runs: list[list[_Part]] = []
        previous = None
        for seq in received:
            if previous is None or seq != previous + 1:
                runs.append([])
            runs[-1].append(group.parts[seq])
            previous = seq
        texts = [_text_of(run) for run in runs]
        return Incomplete(
            source=source,
            destination=destination,
            ref=ref,
            total=total,
            data_coding=group.parts[received[0]].data_coding,
            received=received,
            missing=tuple(s for s in range(1, total + 1) if s not in group.parts),
            text_so_far=None if None in texts else "".join(t for t in texts if t is not None),
            first_seen=group.first_seen,
            reason=reason,
        )


def _valid_sar(ref: int | None, total: int | None, seq: int | None) -> bool:
    """All three SAR TLVs present and usable; TS 23.040 says to ignore a concatenation IE with
    total 0, seq 0 or seq > total, and the same rule applies to its SAR form."""
    if ref is None or total is None or seq is None:
        return False
    return 0 <= ref <= _MAX_SAR_REF and 1 <= seq <= total <= MAX_PARTS
