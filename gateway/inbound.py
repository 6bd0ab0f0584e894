"""deliver_sm / data_sm from the operators: receipts to the outbox, replies to the event log.

Links hand over every inbound PDU of one read as a batch; the batch goes into the writer's open
transaction and the link acknowledges only after the commit, so a receipt the SMSC saw
acknowledged is stored. A store that cannot write answers ESME_RX_T_APPN (temporary): the SMSC
delivers it again later. A receipt we cannot parse is acknowledged (it will never parse better)
and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog
import trio

from gateway.dispatch import Clock, Route
from gateway.metrics import Metrics
from gateway.outbox import ReceiptUpdate, ReplyEvent, opid_key
from gateway.smpp.pdu import CommandStatus, DataSm, DeliverSm, Pdu
from gateway.smpp.reassembly import Reassembler, Reply
from gateway.smpp.receipts import (
    IdFormat,
    ReceiptParseError,
    is_receipt,
    normalize_id,
    receipt_outcome,
)
from gateway.storage import StoreFull
from gateway.writer import BatchWriter

log = structlog.get_logger("gateway.inbound")

#: Receipt stats that can mean the number itself failed (with a permanent error code).
FAILED_STATS = frozenset({"UNDELIV", "REJECTD"})

#: How long the parts of a concatenated reply may take to all arrive.
REPLY_PARTS_TIMEOUT = 120.0
#: Incomplete concatenated replies held per operator.
REPLY_PARTS_PENDING = 10_000


class Inbound:
    """The ``InboundHandler`` every operator's links call."""

    def __init__(
        self,
        *,
        writer: BatchWriter,
        routes: Sequence[Route],
        clock: Clock,
        metrics: Metrics,
        permanent_error: dict[str, Callable[[str | None], bool]] | None = None,
    ) -> None:
        self.writer = writer
        #: Per operator: whether a receipt's err: code means the number itself is dead.
        self.permanent_error = permanent_error or {}
        self.clock = clock
        self.metrics = metrics
        self.routes = {route.name: route for route in routes}
        self.reassemblers = {
            route.name: Reassembler(REPLY_PARTS_TIMEOUT, REPLY_PARTS_PENDING) for route in routes
        }

    async def __call__(self, operator: str, pdus: Sequence[Pdu]) -> Sequence[int]:
        route = self.routes[operator]
        id_format = route.receipt_id_format
        is_permanent = self.permanent_error.get(operator)
        pending = self.writer.open
        batch = pending.batch
        now = trio.current_time()
        at = self.clock.wall_at(now)
        for pdu in pdus:
            if not isinstance(pdu, DeliverSm | DataSm):
                continue
            esm_class = pdu.esm_class
            short_message = getattr(pdu, "short_message", b"")
            if is_receipt(esm_class):
                try:
                    message_id, stat, err, final, delivered = receipt_outcome(
                        short_message,
                        data_coding=pdu.data_coding,
                        receipted_message_id=pdu.receipted_message_id,
                        message_state=pdu.message_state,
                        network_error_code=pdu.network_error_code,
                        message_payload=pdu.message_payload,
                    )
                except ReceiptParseError as exc:
                    self.metrics.receipts_unmatched.labels(operator).inc()
                    log.warning("inbound.receipt_unparsed", operator=operator, error=str(exc))
                    continue
                if message_id is None:
                    self.metrics.receipts_unmatched.labels(operator).inc()
                    continue
                normalised = message_id
                if id_format is not IdFormat.AS_IS:
                    normalised = normalize_id(message_id, id_format)
                batch.receipts.append(
                    ReceiptUpdate(
                        key=opid_key(operator, normalised),
                        operator=operator,
                        message_id=message_id,
                        stat=stat,
                        err=err,
                        final=final,
                        delivered=delivered,
                        at=at,
                        permanent=(
                            not delivered
                            and stat in FAILED_STATS
                            and is_permanent is not None
                            and is_permanent(err)
                        ),
                    )
                )
                continue
            reply = self.reassemblers[operator].add(
                source=pdu.source_addr,
                destination=pdu.destination_addr,
                payload=short_message or (pdu.message_payload or b""),
                data_coding=pdu.data_coding,
                esm_class=esm_class,
                sar_ref=pdu.sar_msg_ref_num,
                sar_total=pdu.sar_total_segments,
                sar_seq=pdu.sar_segment_seqnum,
                now=now,
            )
            if isinstance(reply, Reply):
                self.metrics.replies.labels(operator).inc()
                batch.replies.append(
                    ReplyEvent(
                        sender=_e164(pdu.source_addr, pdu.source_addr_ton),
                        to=reply.destination,
                        text=reply.text,
                        operator=operator,
                        at=at,
                    )
                )
        self.writer.kick()
        try:
            await pending.wait()
        except StoreFull:
            return [CommandStatus.ESME_RX_T_APPN] * len(pdus)
        return [0] * len(pdus)

    async def expire_replies(self) -> None:
        """Give up on concatenated replies whose parts never all came (logged, not stored)."""
        while True:
            await trio.sleep(REPLY_PARTS_TIMEOUT / 4)
            now = trio.current_time()
            for operator, reassembler in self.reassemblers.items():
                for incomplete in reassembler.expire(now):
                    log.info(
                        "inbound.reply_incomplete",
                        operator=operator,
                        received=len(incomplete.received),
                        missing=len(incomplete.missing),
                        reason=str(incomplete.reason),
                    )


def _e164(address: str, ton: int) -> str:
    """A subscriber address as E.164 when the operator says it is international."""
    if ton == 1 and address.isdigit():
        return "+" + address
    return address


__all__ = ["Inbound"]
