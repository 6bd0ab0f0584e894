"""A pure-Python reference NumberSet for the compiled one (``gateway/_core/_numset.pyx``).

Same contract, written as plainly as possible on a Python ``set`` of ints: the tests drive both
with the same operations and compare every result. Only the tests import this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

MIN_NUMBER = 10
END_NUMBER = 10**15
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def key(number: object) -> int:
    if isinstance(number, str):
        if number.isascii() and _E164.fullmatch(number):
            return int(number[1:])
        shown = number if len(number) <= 64 else number[:64] + "…"
        raise ValueError(f"{shown!r} is not E.164 (normalize() it first)")
    if isinstance(number, int) and not isinstance(number, bool):
        if MIN_NUMBER <= number < END_NUMBER:
            return number
        raise ValueError(f"{number} is not the integer of an E.164 number (10 to 10**15 - 1)")
    raise TypeError(f"a number is an E.164 str or an int, not {type(number).__name__}")


class NumberSet:
    def __init__(self, capacity: int = 0) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must not be negative, not {capacity}")
        self._set: set[int] = set()

    def reserve(self, count: int) -> None:
        pass

    def add(self, number: str | int) -> bool:
        k = key(number)
        new = k not in self._set
        self._set.add(k)
        return new

    def discard(self, number: str | int) -> bool:
        k = key(number)
        had = k in self._set
        self._set.discard(k)
        return had

    def __contains__(self, number: object) -> bool:
        return key(number) in self._set

    def __len__(self) -> int:
        return len(self._set)

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._set))

    def add_all(self, numbers: Iterable[str | int]) -> int:
        return sum(self.add(n) for n in numbers)

    def add_keys(self, keys: Iterable[bytes]) -> int:
        added = 0
        for k in keys:
            if len(k) < 8:
                raise ValueError(f"a packed key has at least 8 bytes, not {bytes(k)!r}")
            added += self.add(int.from_bytes(k[:8], "big"))
        return added

    def find(self, numbers: Sequence[str | int]) -> list[int]:
        return [i for i, n in enumerate(numbers) if key(n) in self._set]

    def find_keys(self, numbers: Sequence[str | int], suffix: bytes = b""
                  ) -> tuple[list[int], list[bytes]]:
        positions = self.find(numbers)
        return positions, [key(numbers[i]).to_bytes(8, "big") + suffix for i in positions]

    def clear(self) -> None:
        self._set.clear()
