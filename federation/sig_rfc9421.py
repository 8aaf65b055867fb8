"""RFC 9421 HTTP Message Signatures: components and the signature base.

Mastodon 4.4+ and newer servers (Fedify, Bonfire) can sign with RFC 9421. The signature base
is one line per covered component, ``"<identifier>": <value>``, and a final
``"@signature-params"`` line holding the canonical serialisation of the whole
``Signature-Input`` entry (components *and* parameters such as ``created`` and ``keyid``), so
the parameters are signed too. Derived components (``@method``, ``@target-uri`` ...) are
computed from the request as this server received it, which is why the caller passes the
scheme/authority it was reached on.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from federation.sig_headers import HeaderLines, SignatureFormatError, combined
from federation.sig_structured import (
    InnerList,
    Item,
    Member,
    StructuredFieldError,
    Token,
    parse_dictionary,
    parse_list,
    serialize_dictionary,
    serialize_item,
    serialize_list,
    serialize_member,
)

__all__ = ["MessageContext", "select_label", "signature_base"]

_DEFAULT_PORTS = {"https": ":443", "http": ":80"}


@dataclass(frozen=True)
class MessageContext:
    """What derived components are computed from: the message as received."""

    method: str
    path_with_query: str
    scheme: str
    authority: str | None
    status: int | None
    lines: HeaderLines

    def normalised_authority(self) -> str:
        """Host[:port], lower-cased, default port dropped (RFC 9421 §2.2.3)."""
        raw = self.authority if self.authority is not None else combined(self.lines, "host")
        if not raw:
            raise SignatureFormatError("request has no authority (Host header)")
        authority = raw.strip().lower()
        default = _DEFAULT_PORTS.get(self.scheme.lower())
        if default and authority.endswith(default):
            authority = authority[: -len(default)]
        return authority


def select_label(inputs: dict[str, Member], requested: str | None) -> str:
    """Pick the signature to verify: the requested label, else ``sig1``, else the first."""
    if not inputs:
        raise SignatureFormatError("Signature-Input is empty")
    if requested is not None:
        if requested not in inputs:
            raise SignatureFormatError(f"no signature labelled {requested}")
        return requested
    return "sig1" if "sig1" in inputs else next(iter(inputs))


def _form_encode(text: str) -> str:
    """Percent-encode with the application/x-www-form-urlencoded set, spaces as %20."""
    return quote(text, safe="*-._").replace("~", "%7E")


def _derived(ctx: MessageContext, item: Item, name: str) -> list[str]:
    allowed = {"name"} if name == "@query-param" else set()
    extra = set(item.params) - allowed
    if extra:
        raise SignatureFormatError(f"unsupported parameter {sorted(extra)[0]} on {name}")
    path, _, query = ctx.path_with_query.partition("?")
    if name == "@method":
        return [ctx.method]
    if name == "@target-uri":
        return [f"{ctx.scheme.lower()}://{ctx.normalised_authority()}{ctx.path_with_query}"]
    if name == "@authority":
        return [ctx.normalised_authority()]
    if name == "@scheme":
        return [ctx.scheme.lower()]
    if name == "@request-target":
        return [ctx.path_with_query]
    if name == "@path":
        return [path or "/"]
    if name == "@query":
        return ["?" + query]
    if name == "@status":
        if ctx.status is None:
            raise SignatureFormatError("signature covers @status but this is not a response")
        return [str(ctx.status)]
    if name == "@query-param":
        wanted = item.params.get("name")
        if not isinstance(wanted, str):
            raise SignatureFormatError("@query-param needs a name parameter")
        values = [
            _form_encode(value)
            for key, value in parse_qsl(query, keep_blank_values=True)
            if _form_encode(key) == wanted
        ]
        if not values:
            raise SignatureFormatError(f"covered query parameter {wanted} is missing")
        return values
    raise SignatureFormatError(f"unsupported component {name}")


def _field(ctx: MessageContext, item: Item, name: str) -> list[str]:
    extra = set(item.params) - {"sf", "key", "bs"}
    if extra:
        raise SignatureFormatError(f"unsupported parameter {sorted(extra)[0]} on {name}")
    values = ctx.lines.get(name)
    if values is None:
        raise SignatureFormatError(f"covered component {name} is missing")
    if "bs" in item.params:
        if "sf" in item.params or "key" in item.params:
            raise SignatureFormatError(f"bs cannot be combined with sf or key on {name}")
        try:
            raw = [value.encode("latin-1") for value in values]
        except UnicodeEncodeError as exc:
            raise SignatureFormatError(f"{name} is not a byte string") from exc
        return [", ".join(":" + base64.b64encode(v).decode("ascii") + ":" for v in raw)]
    joined = ", ".join(values)
    try:
        if "key" in item.params:
            key = item.params["key"]
            member = parse_dictionary(joined).get(str(key))
            if member is None:
                raise SignatureFormatError(f"{name} has no member {key}")
            return [serialize_member(member)]
        if "sf" in item.params:
            try:
                return [serialize_dictionary(parse_dictionary(joined))]
            except StructuredFieldError:
                return [serialize_list(parse_list(joined))]
    except StructuredFieldError as exc:
        raise SignatureFormatError(f"{name} is not a valid structured field") from exc
    return [joined]


def signature_base(ctx: MessageContext, inner: InnerList) -> tuple[str, tuple[str, ...]]:
    """Build the signature base and the covered component list (names with parameters).

    Each component may appear once; field names must be lower-case (RFC 9421 §2.1).
    """
    lines: list[str] = []
    covered: list[str] = []
    seen: set[str] = set()
    for item in inner.items:
        name = item.value
        if not isinstance(name, str) or isinstance(name, Token) or name != name.lower():
            raise SignatureFormatError("component identifiers must be lower-case strings")
        identifier = serialize_item(item)
        if identifier in seen:
            raise SignatureFormatError(f"component {name} is covered twice")
        seen.add(identifier)
        if name == "@signature-params":
            raise SignatureFormatError("@signature-params cannot be a covered component")
        values = _derived(ctx, item, name) if name.startswith("@") else _field(ctx, item, name)
        lines.extend(f"{identifier}: {value}" for value in values)
        covered.append(name + identifier[len(serialize_item(Item(name))) :])
    lines.append(f'"@signature-params": {serialize_member(inner)}')
    return "\n".join(lines), tuple(covered)
