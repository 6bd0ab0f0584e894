"""The compiled core: GSM-7/UCS-2 encoding, transliteration and splitting.

The Cython modules are what ships; there is no pure-Python fallback, so a missing build is an
ImportError that says how to build (the pure-Python oracle lives in tests/ and serves only as a
test and benchmark reference).
"""

try:
    from gateway._core._bucket import TokenBucket as TokenBucket
    from gateway._core._gsm7 import (
        decode_septets,
        encode_septets,
        is_gsm7,
        pack_septets,
        septet_count,
        unpack_septets,
    )
    from gateway._core._numset import NumberSet as NumberSet
    from gateway._core._split import (
        Count,
        Decoded,
        Plan,
        count,
        decode,
        decode_ucs2,
        encode_ucs2,
        plan,
    )
    from gateway._core._translit import changes as transliteration_changes
    from gateway._core._translit import transliterate
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError(
        f"gateway's compiled core is not built ({exc}); run 'make build' "
        "(or '.venv/bin/python setup.py build_ext --inplace')"
    ) from exc

from gateway._core.errors import CodecError, DecodeError, InvalidText, TooManyParts

__all__ = [
    "CodecError",
    "Count",
    "DecodeError",
    "Decoded",
    "InvalidText",
    "Plan",
    "TooManyParts",
    "count",
    "decode",
    "decode_septets",
    "decode_ucs2",
    "encode_septets",
    "encode_ucs2",
    "is_gsm7",
    "pack_septets",
    "plan",
    "septet_count",
    "transliterate",
    "transliteration_changes",
    "unpack_septets",
]
