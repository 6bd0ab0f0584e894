"""Errors of the SMPP codec and session. Every one carries the wire code to answer with.

``command_status`` is the status the session puts in its answer (an error response or a
generic_nack); ``command_id`` and ``sequence_number`` are known when the 16-octet header could be
read, so the session can address that answer. Never read them back from ``args``.

- ``FramingError``: the byte stream has lost its framing; answer generic_nack and close.
- ``PduDecodeError``: one whole frame has a bad body; answer it and carry on (the stream is in
  sync).
- ``PduEncodeError``: we were asked to build a PDU the protocol does not allow (a bug on our side).
"""

from __future__ import annotations

from gateway.smpp.pdu import CommandStatus

__all__ = ["FramingError", "PduDecodeError", "PduEncodeError", "ProtocolError"]


def _as_status(value: int) -> int:
    """The CommandStatus member for a known code (for readable reprs), else the plain int."""
    try:
        return CommandStatus(value)
    except ValueError:
        return value


class ProtocolError(Exception):
    """Base class of every SMPP protocol error.

    ``command_status`` is the wire code to answer with (``CommandStatus`` when it is a known
    code). ``command_id`` and ``sequence_number`` are None when the header was not readable.
    """

    #: The status used when the raiser does not name one.
    default_status: int = CommandStatus.ESME_RSYSERR

    def __init__(
        self,
        message: str,
        *,
        command_status: int | None = None,
        command_id: int | None = None,
        sequence_number: int | None = None,
    ) -> None:
        super().__init__(message)
        self.command_status: int = _as_status(
            type(self).default_status if command_status is None else command_status
        )
        self.command_id = command_id
        self.sequence_number = sequence_number

    def __repr__(self) -> str:
        status = self.command_status
        name = status.name if isinstance(status, CommandStatus) else f"0x{status:08X}"
        cid = "None" if self.command_id is None else f"0x{self.command_id:08X}"
        return (
            f"{type(self).__name__}({str(self)!r}, command_status={name}, command_id={cid}, "
            f"sequence_number={self.sequence_number})"
        )


class FramingError(ProtocolError):
    """The byte stream cannot be cut into PDUs any more: a command_length below 16 or above the
    configured maximum (or, for ``codec.decode``, a frame whose length disagrees with its header).

    The connection must be closed after a generic_nack ESME_RINVCMDLEN. ``frames`` holds the
    complete frames ``Framer.feed`` found *before* the bad header in the same call: they are
    intact and may still be decoded and handled (e.g. a submit_sm_resp) before closing.
    """

    default_status = CommandStatus.ESME_RINVCMDLEN

    def __init__(
        self,
        message: str,
        *,
        command_status: int | None = None,
        command_id: int | None = None,
        sequence_number: int | None = None,
        frames: tuple[bytes, ...] = (),
    ) -> None:
        super().__init__(
            message,
            command_status=command_status,
            command_id=command_id,
            sequence_number=sequence_number,
        )
        self.frames = frames


class PduDecodeError(ProtocolError):
    """One frame was read whole but its body is bad, or its command is unknown or unsupported.

    The stream stays in sync: the session answers (the matching response with this status for a
    request it knows, generic_nack otherwise) and carries on. ``codec.decode`` documents which
    status each defect gets.
    """

    default_status = CommandStatus.ESME_RINVCMDLEN


class PduEncodeError(ProtocolError, ValueError):
    """We were asked to build an illegal PDU (a string too long for its field, a value out of
    range, short_message together with message_payload, ...). The message names the field;
    ``command_status`` is the status a peer would have answered it with."""

    default_status = CommandStatus.ESME_RSYSERR
