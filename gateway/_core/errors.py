"""Errors of the message codec.

Plain Python so that callers can catch them without importing the compiled modules, and so that
every error is a ``ValueError``: a text or payload that cannot be carried is bad input, not a bug.
"""

from __future__ import annotations

__all__ = ["CodecError", "DecodeError", "InvalidText", "TooManyParts"]


class CodecError(ValueError):
    """Base class of every error the codec raises on bad input."""


class InvalidText(CodecError):
    """The text holds something no SMS can carry (a lone UTF-16 surrogate), or a character that
    the requested encoding lacks."""


class TooManyParts(CodecError):
    """The text needs more than the 255 parts a concatenated SMS can have.

    ``parts_needed`` is at least 256; ``units`` is the size of the text in septets (GSM-7) or
    UTF-16 units (UCS-2), ``encoding`` which of the two.
    """

    max_parts = 255

    def __init__(self, message: str, *, units: int, encoding: str, parts_needed: int) -> None:
        super().__init__(message)
        self.units = units
        self.encoding = encoding
        self.parts_needed = parts_needed


class DecodeError(CodecError):
    """A payload received from an operator cannot be decoded: truncated or inconsistent UDH, an odd
    number of octets in UCS-2, or a data_coding that carries no text."""
