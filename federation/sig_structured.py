"""A small RFC 8941 (Structured Field Values) parser and serialiser.

RFC 9421 message signatures are built on structured fields: ``Signature-Input`` is a
dictionary of inner lists with parameters, ``Signature`` and ``Content-Digest`` are
dictionaries of byte sequences, and the ``@signature-params`` line of the signature base is
the *canonical re-serialisation* of the inner list. Getting one byte wrong there makes every
signature fail, so parsing and serialising live together here and follow the RFC's
algorithms closely rather than using ad-hoc regular expressions.

Only what HTTP signatures need is implemented: items, inner lists, parameters, lists and
dictionaries with integers, decimals, strings, tokens, byte sequences and booleans (no
RFC 9651 dates or display strings).
"""

from __future__ import annotations

import base64
import binascii
import string
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

__all__ = [
    "InnerList",
    "Item",
    "Member",
    "StructuredFieldError",
    "Token",
    "parse_dictionary",
    "parse_item",
    "parse_list",
    "serialize_dictionary",
    "serialize_item",
    "serialize_list",
    "serialize_member",
]


class StructuredFieldError(ValueError):
    """The text is not a valid structured field of the requested type."""


class Token(str):
    """A bare token; kept distinct from ``str`` because it serialises without quotes."""

    __slots__ = ()


BareItem = int | Decimal | str | bytes | bool
Params = dict[str, BareItem]


@dataclass(frozen=True)
class Item:
    """A bare item with its parameters."""

    value: BareItem
    params: Params = field(default_factory=dict)


@dataclass(frozen=True)
class InnerList:
    """A parenthesised list of items, itself carrying parameters."""

    items: list[Item]
    params: Params = field(default_factory=dict)


Member = Item | InnerList

_LCALPHA = string.ascii_lowercase
_DIGITS = string.digits
_KEY_CHARS = _LCALPHA + _DIGITS + "_-.*"
_TCHAR = "!#$%&'*+-.^_`|~" + string.ascii_letters + _DIGITS
_TOKEN_CHARS = _TCHAR + ":/"
_B64_CHARS = string.ascii_letters + _DIGITS + "+/="


class _Parser:
    """Cursor over the input; each method mirrors one parsing algorithm of RFC 8941 §4.2."""

    def __init__(self, text: str) -> None:
        try:
            text.encode("ascii")
        except UnicodeEncodeError as exc:
            raise StructuredFieldError("structured fields are ASCII only") from exc
        self.s = text.strip(" \t")
        self.i = 0

    def at_end(self) -> bool:
        return self.i >= len(self.s)

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise StructuredFieldError(f"expected {char!r} at position {self.i}")
        self.i += 1

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.i += 1

    def after_member(self) -> bool:
        """Consume the separator after a list/dictionary member; False at the end."""
        self.skip(" \t")
        if self.at_end():
            return False
        self.expect(",")
        self.skip(" \t")
        if self.at_end():
            raise StructuredFieldError("trailing comma")
        return True

    def member(self) -> Member:
        return self.inner_list() if self.peek() == "(" else self.item()

    def inner_list(self) -> InnerList:
        self.expect("(")
        items: list[Item] = []
        while True:
            self.skip(" ")
            if self.peek() == ")":
                self.i += 1
                return InnerList(items, self.params())
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise StructuredFieldError("inner list items must be space separated")

    def item(self) -> Item:
        value = self.bare_item()
        return Item(value, self.params())

    def params(self) -> Params:
        params: Params = {}
        while self.peek() == ";":
            self.i += 1
            self.skip(" ")
            key = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.i += 1
                value = self.bare_item()
            params[key] = value
        return params

    def key(self) -> str:
        start = self.i
        if not (self.peek() and self.peek() in _LCALPHA + "*"):
            raise StructuredFieldError(f"invalid key at position {self.i}")
        while self.peek() and self.peek() in _KEY_CHARS:
            self.i += 1
        return self.s[start : self.i]

    def bare_item(self) -> BareItem:
        char = self.peek()
        if char == "-" or (char and char in _DIGITS):
            return self.number()
        if char == '"':
            return self.quoted()
        if char == ":":
            return self.byte_sequence()
        if char == "?":
            return self.boolean()
        if char and (char in string.ascii_letters or char == "*"):
            return self.token()
        raise StructuredFieldError(f"unexpected {char!r} at position {self.i}")

    def number(self) -> int | Decimal:
        start = self.i
        if self.peek() == "-":
            self.i += 1
        if not (self.peek() and self.peek() in _DIGITS):
            raise StructuredFieldError("number without digits")
        self.skip(_DIGITS + ".")
        text = self.s[start : self.i]
        digits = text.lstrip("-")
        if "." not in text:
            if len(digits) > 15:
                raise StructuredFieldError("integer too long")
            return int(text)
        whole, _, frac = digits.partition(".")
        if "." in frac or not frac or len(whole) > 12 or len(frac) > 3:
            raise StructuredFieldError("invalid decimal")
        return Decimal(text)

    def quoted(self) -> str:
        self.expect('"')
        out: list[str] = []
        while not self.at_end():
            char = self.s[self.i]
            self.i += 1
            if char == "\\":
                nxt = self.peek()
                if nxt not in ('"', "\\"):
                    raise StructuredFieldError("invalid escape in string")
                out.append(nxt)
                self.i += 1
            elif char == '"':
                return "".join(out)
            elif not (" " <= char <= "~"):
                raise StructuredFieldError("invalid character in string")
            else:
                out.append(char)
        raise StructuredFieldError("unterminated string")

    def token(self) -> Token:
        start = self.i
        self.i += 1
        self.skip(_TOKEN_CHARS)
        return Token(self.s[start : self.i])

    def byte_sequence(self) -> bytes:
        self.expect(":")
        start = self.i
        self.skip(_B64_CHARS)
        text = self.s[start : self.i]
        self.expect(":")
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise StructuredFieldError("invalid base64 in byte sequence") from exc

    def boolean(self) -> bool:
        self.expect("?")
        char = self.peek()
        if char not in ("0", "1"):
            raise StructuredFieldError("invalid boolean")
        self.i += 1
        return char == "1"


def parse_dictionary(text: str) -> dict[str, Member]:
    """Parse a Dictionary; a later duplicate key overrides an earlier one (RFC 8941)."""
    parser = _Parser(text)
    result: dict[str, Member] = {}
    while not parser.at_end():
        key = parser.key()
        if parser.peek() == "=":
            parser.i += 1
            result[key] = parser.member()
        else:
            result[key] = Item(True, parser.params())
        if not parser.after_member():
            break
    return result


def parse_list(text: str) -> list[Member]:
    """Parse a List of items and inner lists."""
    parser = _Parser(text)
    result: list[Member] = []
    while not parser.at_end():
        result.append(parser.member())
        if not parser.after_member():
            break
    return result


def parse_item(text: str) -> Item:
    """Parse a single Item; trailing characters are an error."""
    parser = _Parser(text)
    item = parser.item()
    if not parser.at_end():
        raise StructuredFieldError("trailing characters after item")
    return item


def _serialize_bare(value: BareItem) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        rounded = value.quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)
        text = format(rounded, "f").rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, Token):
        return str(value)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _serialize_params(params: Params) -> str:
    return "".join(
        f";{key}" if value is True else f";{key}={_serialize_bare(value)}"
        for key, value in params.items()
    )


def serialize_item(item: Item) -> str:
    """Serialise an item with its parameters."""
    return _serialize_bare(item.value) + _serialize_params(item.params)


def serialize_member(member: Member) -> str:
    """Serialise an item or an inner list (used for ``@signature-params`` and ``;key``)."""
    if isinstance(member, InnerList):
        inner = " ".join(serialize_item(item) for item in member.items)
        return f"({inner})" + _serialize_params(member.params)
    return serialize_item(member)


def serialize_list(members: list[Member]) -> str:
    """Serialise a List."""
    return ", ".join(serialize_member(member) for member in members)


def serialize_dictionary(members: dict[str, Member]) -> str:
    """Serialise a Dictionary; boolean-true members are written as a bare key."""
    parts = []
    for key, member in members.items():
        if isinstance(member, Item) and member.value is True:
            parts.append(key + _serialize_params(member.params))
        else:
            parts.append(f"{key}={serialize_member(member)}")
    return ", ".join(parts)
