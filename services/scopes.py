"""OAuth scopes as Mastodon defines them, and the one rule for checking them.

A token's scopes are a set of names. An endpoint asks for one granular scope
(``write:statuses``); the token satisfies it when it holds that scope or its parent
(``write``). The legacy ``follow`` scope stands for the six follow/block/mute scopes, as it
does on Mastodon. ``profile`` only lets a client read who signed in.
"""

from __future__ import annotations

from collections.abc import Iterable

from tessera.errors import InvalidInput

_READ = (
    "accounts",
    "blocks",
    "bookmarks",
    "favourites",
    "filters",
    "follows",
    "lists",
    "mutes",
    "notifications",
    "search",
    "statuses",
)
_WRITE = (
    "accounts",
    "blocks",
    "bookmarks",
    "conversations",
    "favourites",
    "filters",
    "follows",
    "lists",
    "media",
    "mutes",
    "notifications",
    "reports",
    "statuses",
)
_ADMIN = (
    "accounts",
    "reports",
    "domain_allows",
    "domain_blocks",
    "ip_blocks",
    "email_domain_blocks",
    "canonical_email_blocks",
)
TOP_LEVEL = ("read", "write", "follow", "push", "profile", "admin:read", "admin:write")
FOLLOW_SCOPES = frozenset(
    {"read:blocks", "write:blocks", "read:follows", "write:follows", "read:mutes", "write:mutes"}
)
ALL_SCOPES: tuple[str, ...] = (
    *TOP_LEVEL,
    *(f"read:{s}" for s in _READ),
    *(f"write:{s}" for s in _WRITE),
    *(f"admin:read:{s}" for s in _ADMIN),
    *(f"admin:write:{s}" for s in _ADMIN),
)
_KNOWN = frozenset(ALL_SCOPES)
DEFAULT = ("read",)

DESCRIPTIONS = {
    "read": "read all your account's data",
    "write": "change all your account's data: publish, edit and delete posts, follow, like",
    "follow": "follow, block and mute accounts (and see who you follow)",
    "push": "receive push notifications",
    "profile": "see only your basic profile information",
    "admin:read": "read moderation data across the server",
    "admin:write": "take moderation actions across the server",
}


def parse_scopes(
    text: str | Iterable[str] | None, *, default: Iterable[str] = DEFAULT
) -> tuple[str, ...]:
    """Scope names from a space- (or plus-) separated string, deduplicated in order.

    Unknown names are refused with a message naming them, so a typo is not silently
    dropped from what a person is asked to authorize.
    """
    if text is None:
        words: list[str] = []
    elif isinstance(text, str):
        words = text.replace("+", " ").split()
    else:
        words = [w for item in text for w in str(item).replace("+", " ").split()]
    if not words:
        words = list(default)
    unknown = [w for w in words if w not in _KNOWN]
    if unknown:
        raise InvalidInput(f"Unknown scope: {', '.join(sorted(set(unknown)))}.")
    return tuple(dict.fromkeys(words))


def _parent(scope: str) -> str | None:
    head, sep, _tail = scope.rpartition(":")
    return head if sep else None


def satisfies(granted: Iterable[str], required: str) -> bool:
    """Whether a token holding ``granted`` may do what needs ``required``."""
    have = set(granted)
    if required in have:
        return True
    if required in FOLLOW_SCOPES and "follow" in have:
        return True
    parent = _parent(required)
    return parent is not None and parent in have


def within(requested: Iterable[str], allowed: Iterable[str]) -> bool:
    """Whether every requested scope is covered by what an app registered."""
    allowed = tuple(allowed)
    return all(satisfies(allowed, scope) for scope in requested)


def describe(scopes: Iterable[str]) -> list[tuple[str, str]]:
    """(scope, what it lets the app do) for the authorization page."""
    out = []
    for scope in scopes:
        if scope in DESCRIPTIONS:
            out.append((scope, DESCRIPTIONS[scope]))
            continue
        verb, _, what = scope.partition(":")
        if verb == "admin":
            out.append((scope, f"moderation: {what.replace(':', ' ').replace('_', ' ')}"))
        else:
            action = "read" if verb == "read" else "change"
            out.append((scope, f"{action} your {what.replace('_', ' ')}"))
    return out
