"""The inbox's door: verify who sent an activity, store it once, answer.

The policy, in order (cheapest and most decisive first):

1. The body must be a JSON object with ``id``, ``type`` and ``actor``, and the activity's
   id must live on its actor's host: ids are the idempotency key of ``inbox_item``, and a
   server allowed to file activities under another server's ids could make us drop that
   server's real deliveries as duplicates. (400)
2. The request must carry a signature (draft-cavage or RFC 9421) that verifies with the key
   it names. What needs no key is checked first - coverage, the Date/``created``/``expires``
   time window, the body digest - so a stale, expired or tampered request is refused
   without looking the key up, let alone fetching it. The key is looked up in memory (keys
   that verified lately: ``federation.key_cache``), then through the actor cache; when a
   cached key fails for a reason the key decides, it is fetched again once, because keys
   rotate. (401 with the verifier's reason)
3. The key's owner - learnt from the fetched documents, never from the shape of the key id -
   must be the activity's actor. (401)
4. The raw activity is stored as an ``inbox_item`` keyed by its id; a duplicate stores
   nothing. Either way the answer is 202, sent once the row is committed (deliveries that
   arrive together share one commit: ``storage.inbox_writer``); processing happens later,
   in a worker.

Deleted accounts: Mastodon sends ``Delete{actor}`` for every account removal to every
server that knew it, signed with a key that can no longer be fetched (410). Such a Delete is
accepted only when the key we already had verifies it; otherwise - and for any Delete whose
key is gone - the answer is 202 and nothing is stored, so the sender stops retrying and we
never fetch for it.

Nothing unverified is stored. Functions take plain values (method, target, headers, body),
not a web framework's request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from federation import inbox_process, json_documents
from federation.fetch import GONE_STATUSES, FetchContext, get_actor_by_key_id
from federation.key_cache import KeyCache
from federation.remote_actors import host_of, id_of
from federation.sig_headers import HeaderInput, combined
from federation.signatures import (
    ParsedSignature,
    Rejected,
    Verified,
    check_without_key,
    key_owner_matches,
    parse_signature,
    verify_with_key,
)
from federation.transport import FetchError, RemoteHTTPError
from storage import remote_queries
from storage.inbox_writer import InboxWriter
from storage.models import Actor
from tessera.errors import TesseraError

__all__ = [
    "InboxOutcome",
    "IncomingActivity",
    "KeyUnavailable",
    "ReceiveContext",
    "authenticate",
    "parse_activity",
    "receive",
    "verify_get",
]

KEY_DEPENDENT_REASONS = frozenset(
    {"signature does not verify", "public key could not be parsed", "the actor has no key"}
)
"""Verification failures a newer key could cure. Dates, digests and coverage fail the same
with any key: they are checked before any key is looked up (``check_without_key``), so they
never cause a fetch or a refetch."""


class ReceiveContext(FetchContext, Protocol):
    """What the inbox needs from the application (``services.context.Services`` fits):
    fetching, plus the verified-key memory and the group-commit writer of the running app."""

    key_cache: KeyCache
    inbox_writer: InboxWriter


@dataclass(frozen=True)
class IncomingActivity:
    activity_id: str
    activity_type: str
    actor_id: str
    data: dict[str, Any] = field(repr=False)
    text: str = field(repr=False)

    @property
    def is_self_delete(self) -> bool:
        """``Delete`` whose object is its own actor: an account announcing its removal."""
        return self.activity_type == "Delete" and id_of(self.data.get("object")) == self.actor_id


@dataclass(frozen=True)
class InboxOutcome:
    """What the inbox answers. ``error`` is set for refusals (shown in the JSON body);
    ``note`` says why a 202 stored nothing (for logs)."""

    status: int
    error: str | None = None
    stored: bool = False
    note: str = ""


@dataclass(frozen=True)
class KeyUnavailable:
    reason: str
    gone: bool


def _refused(status: int, reason: str) -> InboxOutcome:
    return InboxOutcome(status=status, error=reason)


def _ignored(note: str) -> InboxOutcome:
    return InboxOutcome(status=202, note=note)


def parse_activity(body: bytes) -> IncomingActivity | str:
    """The activity in a request body, or the reason it is not one (for a 400)."""
    try:
        text = body.decode("utf-8")
        data = json_documents.loads(text)
    except (UnicodeDecodeError, ValueError):
        return "the body is not valid JSON"
    if not isinstance(data, dict):
        return "the activity must be a JSON object"
    activity_id = data.get("id")
    kinds = data.get("type")
    kind = (
        next((k for k in kinds if isinstance(k, str)), None) if isinstance(kinds, list) else kinds
    )
    actor_id = id_of(data.get("actor"))
    if not isinstance(activity_id, str) or not activity_id:
        return "the activity has no id"
    if not isinstance(kind, str) or not kind:
        return "the activity has no type"
    if actor_id is None:
        return "the activity has no actor"
    activity_host = host_of(activity_id, recurring=False)
    if activity_host is None or activity_host != host_of(actor_id):
        return "the activity's id is not on its actor's server"
    return IncomingActivity(activity_id, kind, actor_id, data, text)


def _check(parsed: ParsedSignature, actor: Actor) -> Verified | Rejected:
    """The key's part of verifying, for a signature ``check_without_key`` passed."""
    if not actor.public_key_pem:
        return Rejected("the actor has no key")
    return verify_with_key(parsed, actor.public_key_pem)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _key_owner(ctx: FetchContext, key_id: str, *, refresh: bool) -> Actor | KeyUnavailable:
    try:
        return await get_actor_by_key_id(ctx, key_id, refresh=refresh)
    except RemoteHTTPError as exc:
        return KeyUnavailable(
            f"the signing key could not be fetched: {exc.public}",
            gone=exc.remote_status in GONE_STATUSES,
        )
    except FetchError as exc:
        return KeyUnavailable(f"the signing key could not be fetched: {exc.public}", gone=False)
    except TesseraError as exc:  # e.g. a local key id that names nobody
        return KeyUnavailable(f"the signing key is unknown: {exc.public}", gone=False)


async def authenticate(
    ctx: ReceiveContext, parsed: ParsedSignature, body: bytes | None
) -> tuple[Actor, Verified] | Rejected | KeyUnavailable:
    """Verify ``parsed`` with its key's owner; a cached key that fails is refetched once.

    What needs no key (``check_without_key``: coverage, time window, digest) is checked
    before any lookup: a stale or expired signature, such as a captured request replayed,
    is refused without a database read or a fetch from the claimed signer's server. A key
    that verified lately is tried from memory first (no database work). When it fails
    for a reason the key decides, it is forgotten and the usual lookup decides: the stored
    row, then one refetch. The refetch is skipped when the key was fetched during this very
    call (a fresh document cannot be fresher) and when the failure does not depend on the key.
    """
    refused = check_without_key(parsed, body=body, now=ctx.clock())
    if refused is not None:
        return refused
    remembered = ctx.key_cache.get(parsed.key_id, ctx.clock())
    if remembered is not None:
        verdict = _check(parsed, remembered)
        if isinstance(verdict, Verified):
            return remembered, verdict
        if verdict.reason not in KEY_DEPENDENT_REASONS:
            return verdict
        ctx.key_cache.forget(parsed.key_id)
    result = await _authenticate_stored(ctx, parsed)
    if isinstance(result, tuple):
        ctx.key_cache.put(parsed.key_id, result[0], ctx.clock())
    return result


async def _authenticate_stored(
    ctx: FetchContext, parsed: ParsedSignature
) -> tuple[Actor, Verified] | Rejected | KeyUnavailable:
    started = ctx.clock()
    owner = await _key_owner(ctx, parsed.key_id, refresh=False)
    if isinstance(owner, KeyUnavailable):
        return owner
    verdict = _check(parsed, owner)
    if isinstance(verdict, Verified):
        return owner, verdict
    just_fetched = owner.fetched_at is not None and _aware(owner.fetched_at) >= _aware(started)
    if verdict.reason not in KEY_DEPENDENT_REASONS or just_fetched:
        return verdict
    owner = await _key_owner(ctx, parsed.key_id, refresh=True)
    if isinstance(owner, KeyUnavailable):
        return verdict
    verdict = _check(parsed, owner)
    return (owner, verdict) if isinstance(verdict, Verified) else verdict


def _authority(host: str, scheme: str) -> str:
    """A Host value compared without case and without the scheme's default port."""
    host = host.strip().lower()
    return host.removesuffix({"https": ":443", "http": ":80"}.get(scheme, ""))


def _parse_signature(
    ctx: FetchContext, method: str, target: str, headers: HeaderInput
) -> ParsedSignature | Rejected:
    """Parse the request's signature, bound to this server.

    RFC 9421 signatures are bound by construction (``@authority``/``@target-uri`` are
    rebuilt from our own domain). A draft-cavage signature covers the Host header as the
    request carried it, so that header must name us: a request signed for another server
    must not be replayable here within the Date window.
    """
    instance = ctx.config.instance
    parsed = parse_signature(
        method, target, headers, scheme=instance.scheme, authority=instance.domain
    )
    if isinstance(parsed, ParsedSignature) and parsed.scheme == "cavage":
        host = combined(parsed.header_lines, "host")
        ours = _authority(instance.domain, instance.scheme)
        if host is not None and _authority(host, instance.scheme) != ours:
            return Rejected("the signed Host header is not this server")
    return parsed


async def _store(ctx: ReceiveContext, activity: IncomingActivity, key_id: str) -> InboxOutcome:
    item = remote_queries.NewInboxItem(
        activity_id=activity.activity_id,
        actor_ap_id=activity.actor_id,
        activity_type=activity.activity_type,
        payload=activity.text,
        key_id=key_id,
        received_at=ctx.clock(),
    )
    stored = await ctx.inbox_writer.insert(item)
    if stored:  # committed: a worker resting in this process takes it now
        inbox_process.notify(ctx.db)
    return InboxOutcome(status=202, stored=stored, note="" if stored else "duplicate")


async def _receive_self_delete(
    ctx: ReceiveContext, parsed: ParsedSignature, activity: IncomingActivity, body: bytes
) -> InboxOutcome:
    """An account's own Delete: verified with the key we have, never fetched (and, like
    every signature, checked for what needs no key before that key is looked up)."""
    refused = check_without_key(parsed, body=body, now=ctx.clock())
    if refused is not None:
        return _ignored(f"delete refused before its key was looked up: {refused.reason}")
    async with ctx.db.session() as session:
        cached = await remote_queries.actor_by_key_id(session, parsed.key_id)
    if cached is None:
        return _ignored("delete of an actor we do not know")
    verdict = _check(parsed, cached)
    if not isinstance(verdict, Verified) or not key_owner_matches(
        parsed.key_id, activity.actor_id, cached.ap_id
    ):
        return _ignored("delete of an actor whose known key does not verify it")
    return await _store(ctx, activity, parsed.key_id)


async def receive(
    ctx: ReceiveContext, *, method: str, target: str, headers: HeaderInput, body: bytes
) -> InboxOutcome:
    """Decide what to do with one inbox POST (``target`` is the path and query as received)."""
    activity = parse_activity(body)
    if isinstance(activity, str):
        return _refused(400, activity)
    parsed = _parse_signature(ctx, method, target, headers)
    if isinstance(parsed, Rejected):
        return _refused(401, parsed.reason)
    if activity.is_self_delete:
        return await _receive_self_delete(ctx, parsed, activity, body)
    result = await authenticate(ctx, parsed, body)
    if isinstance(result, KeyUnavailable):
        if result.gone and activity.activity_type == "Delete":
            return _ignored("delete signed with a key that is gone")
        return _refused(401, result.reason)
    if isinstance(result, Rejected):
        return _refused(401, result.reason)
    owner, verified = result
    if not key_owner_matches(verified.key_id, activity.actor_id, owner.ap_id):
        return _refused(401, "the signing key does not belong to the activity's actor")
    return await _store(ctx, activity, verified.key_id)


async def verify_get(
    ctx: ReceiveContext, *, method: str, target: str, headers: HeaderInput
) -> Actor | None:
    """The actor whose valid signature a GET carries, or None (authorized-fetch mode).

    Unsigned, badly signed and unverifiable requests all give None; the caller decides
    whether that means 401 or a reduced answer.
    """
    parsed = _parse_signature(ctx, method, target, headers)
    if isinstance(parsed, Rejected):
        return None
    result = await authenticate(ctx, parsed, None)
    if isinstance(result, tuple):
        return result[0]
    return None
