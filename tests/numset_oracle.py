"""A pure-Python reference NumberSet for the compiled one (``gateway/_core/_numset.pyx``).

Same contract, written as plainly as possible on a Python ``dict`` of number -> tag: the tests
drive both with the same operations and compare every result. Only the tests import this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence

MIN_NUMBER = 10
END_NUMBER = 10**15
NUMBER_BITS = 50
MAX_TAG = 2**14 - 1
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


def packed(k: bytes | bytearray | memoryview) -> int:
    if len(k) < 8:
        raise ValueError(f"a packed key has at least 8 bytes, not {bytes(k)!r}")
    return key(int.from_bytes(k[:8], "big"))


def tag(t: int) -> int:
    if not 0 <= t <= MAX_TAG:
        raise ValueError(f"a tag is 0 to {MAX_TAG}, not {t}")
    return t


class NumberSet:
    def __init__(self, capacity: int = 0) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must not be negative, not {capacity}")
        self._tags: dict[int, int] = {}

    def reserve(self, count: int) -> None:
        pass

    def add(self, number: str | int) -> bool:
        k = key(number)
        new = k not in self._tags
        self._tags[k] = 0  # an added number is untagged
        return new

    def discard(self, number: str | int) -> bool:
        return self._tags.pop(key(number), None) is not None

    def __contains__(self, number: object) -> bool:
        return key(number) in self._tags

    def __len__(self) -> int:
        return len(self._tags)

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._tags))

    def items(self) -> Iterator[tuple[int, int]]:
        return iter(list(self._tags.items()))

    def tag_of(self, number: str | int) -> int | None:
        return self._tags.get(key(number))

    def set_tag(self, number: str | int, t: int) -> bool:
        t, k = tag(t), key(number)
        if k not in self._tags:
            return False
        self._tags[k] = t
        return True

    def add_all(self, numbers: Iterable[str | int]) -> int:
        return sum(self.add(n) for n in numbers)

    def add_keys(self, keys: Iterable[bytes]) -> int:
        return sum(self.add(packed(k)) for k in keys)

    def mark_keys(self, keys: Iterable[bytes], keep: bytes | None = None) -> bytearray:
        keep = keep or b""
        marks = bytearray()
        for k in keys:
            n = packed(k)
            t = self._tags.get(n)
            if t is None:
                marks.append(1)
            elif t and t < len(keep) and keep[t]:
                marks.append(2)
                continue
            else:
                marks.append(0)
            self._tags[n] = 0
        return marks

    def tag_keys(self, keys: Iterable[bytes], t: int, marks: bytes | None = None) -> int:
        t, keys = tag(t), list(keys)
        if marks is not None and len(marks) != len(keys):
            raise ValueError(f"{len(marks)} marks for {len(keys)} keys")
        tagged = 0
        for i, k in enumerate(keys):
            if marks is not None and marks[i] != 1:
                continue
            n = packed(k)
            if n in self._tags:
                self._tags[n] = t
                tagged += 1
        return tagged

    def load(self, items: Iterable[tuple[bytes, bytes]],
             intern: Callable[[tuple[tuple[bytes, bytes], ...]], int]) -> int:
        # Plainly: the runs of consecutive pairs of one number; a number's first run is
        # tagged if the number was not here, anything else is untagged.
        runs: list[tuple[int, list[tuple[bytes, bytes]]]] = []
        for k, v in items:
            n = packed(k)
            if runs and runs[-1][0] == n:
                runs[-1][1].append((bytes(k[8:]), bytes(v)))
            else:
                runs.append((n, [(bytes(k[8:]), bytes(v))]))
        added = 0
        for n, run in runs:
            if n in self._tags:
                self._tags[n] = 0
            else:
                self._tags[n] = tag(intern(tuple(run)))
                added += 1
        return added

    def find(self, numbers: Sequence[str | int]) -> list[int]:
        return [i for i, n in enumerate(numbers) if key(n) in self._tags]

    def find_keys(self, numbers: Sequence[str | int], suffix: bytes = b""
                  ) -> tuple[list[int], list[bytes]]:
        positions = self.find(numbers)
        return positions, [key(numbers[i]).to_bytes(8, "big") + suffix for i in positions]

    def find_tagged(self, numbers: Sequence[str | int]
                    ) -> tuple[list[int], list[int], list[int], list[bytes]]:
        found = self.find(numbers)
        tagged = [i for i in found if self._tags[key(numbers[i])]]
        untagged = [i for i in found if not self._tags[key(numbers[i])]]
        return (tagged, [self._tags[key(numbers[i])] for i in tagged], untagged,
                [key(numbers[i]).to_bytes(8, "big") for i in untagged])

    def answer(self, numbers: Sequence[str | int], rows: Callable[[int], tuple | None],
               out: list, cls: type = tuple) -> tuple[list[int], list[bytes]]:
        if len(out) < len(numbers):
            raise ValueError(f"out has {len(out)} items for {len(numbers)} numbers")
        positions, tags, untagged, keys = self.find_tagged(numbers)
        seen: dict[int, tuple | None] = {}
        for i, t in zip(positions, tags, strict=True):
            if t not in seen:
                seen[t] = rows(t)
            if seen[t] is not None:
                out[i] = tuple.__new__(cls, (numbers[i], *seen[t]))
        return untagged, keys

    def clear(self) -> None:
        self._tags.clear()
