"""Ids in URLs: the ``{name:id}`` path convertor and ``parse_id`` for query and form values.

Row ids are 63-bit integers (``storage.ids``). Starlette's ``int`` convertor accepts any
run of digits, and a number past 2**63 - 1 then fails inside the database driver (an
``OverflowError``, a 500); ``str.isdigit`` is no guard either, since it accepts digits
``int`` refuses (``"²"``). Here a path segment only matches when it is ASCII digits
naming a value that fits, so anything else is simply an unknown page (404), and query
or form values go through the same rule.
"""

from __future__ import annotations

import re

from starlette.convertors import Convertor, register_url_convertor

MAX_ID = 2**63 - 1


def _not_above(limit: str) -> str:
    """A regular expression for ASCII digit strings whose value is at most ``limit``
    (fewer digits, or as many digits and not above it, digit by digit)."""
    width = len(limit)
    choices = [f"[0-9]{{1,{width - 1}}}"] if width > 1 else []
    for position, digit in enumerate(limit):
        if digit != "0":
            rest = width - position - 1
            tail = f"[0-9]{{{rest}}}" if rest else ""
            choices.append(f"{limit[:position]}[0-{int(digit) - 1}]{tail}")
    choices.append(limit)
    return "(?:" + "|".join(choices) + ")"


ID_PATTERN = _not_above(str(MAX_ID))
_ID_RE = re.compile(ID_PATTERN)


def parse_id(raw: str | None) -> int | None:
    """The id ``raw`` spells (ASCII digits, at most ``MAX_ID``), or None."""
    if raw is None or not _ID_RE.fullmatch(raw):
        return None
    return int(raw)


class IdConvertor(Convertor[int]):
    """``{post_id:id}``: matches only ids that fit in 63 bits."""

    regex = ID_PATTERN

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        if not 0 <= int(value) <= MAX_ID:
            raise ValueError("an id must fit in 63 bits")
        return str(int(value))


register_url_convertor("id", IdConvertor())
