"""Header normalisation shared by the digest and signature code.

Both signature schemes sign header *values* as received, after the same normalisation: names
are case-insensitive, leading/trailing whitespace is dropped, obsolete line folding becomes a
single space, and a header sent on several lines is joined with ``", "``. Callers hand us
whatever they have - a plain dict, a Starlette/httpx ``Headers`` object (which may hold a
header more than once), or a list of ``(name, value)`` pairs from a raw message - so this module
turns all of them into one shape before anything is signed or compared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["HeaderInput", "HeaderLines", "SignatureFormatError", "combined", "header_lines"]

HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]]
"""Anything that yields header names and values (duplicates allowed for pair lists)."""

HeaderLines = Mapping[str, tuple[str, ...]]
"""Lower-cased header name -> the normalised value of each field line, in order."""

_FOLD = re.compile(r"[ \t]*\r?\n[ \t]*")


def header_lines(headers: HeaderInput) -> dict[str, tuple[str, ...]]:
    """Normalise ``headers`` into lower-cased names and per-line stripped values.

    Mappings that can hold repeated headers expose ``multi_items()`` (Starlette and httpx
    both do); it is used when present so no field line is silently lost.
    """
    pairs: Iterable[tuple[str, str]]
    if isinstance(headers, Mapping):
        multi = getattr(headers, "multi_items", None)
        pairs = multi() if callable(multi) else headers.items()
    else:
        pairs = headers
    collected: dict[str, list[str]] = {}
    for name, value in pairs:
        # Folding needs a line break; most values have none (and the regex was a tenth of
        # an inbox delivery's parsing).
        text = _FOLD.sub(" ", value) if "\n" in value else value
        collected.setdefault(name.strip().lower(), []).append(text.strip())
    return {name: tuple(values) for name, values in collected.items()}


def combined(lines: HeaderLines, name: str) -> str | None:
    """The value of header ``name`` with its field lines joined by ``", "``; None if absent."""
    values = lines.get(name.lower())
    return None if values is None else ", ".join(values)


class SignatureFormatError(ValueError):
    """A signature header is malformed or names something the message does not have.

    Raised by the scheme-specific helpers; the public API turns it into ``Rejected`` so the
    message text must be a short, human reason.
    """
