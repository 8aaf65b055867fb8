"""Account use cases: creating users, signing in, approving sign-ups, invites, profiles."""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from federation.content import render_bio
from federation.keys import generate_rsa_keypair
from services import federate
from services.context import Services
from services.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    dummy_hash,
    hash_password,
    verify_password,
)
from storage import accounts as q
from storage import oauth_queries
from storage.ids import new_id
from storage.models import Actor, Invite, LocalUser
from tessera.errors import Conflict, Forbidden, InvalidInput, NotFound

USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{1,30}$")
# Names that would collide with our own routes or confuse people reading a handle.
RESERVED = frozenset(
    {
        "admin",
        "administrator",
        "root",
        "api",
        "inbox",
        "outbox",
        "users",
        "tags",
        "media",
        "static",
        "settings",
        "login",
        "logout",
        "signup",
        "about",
        "instance",
        "actor",
        "well-known",
        "nodeinfo",
        "oauth",
        "support",
        "help",
        "mod",
        "moderator",
        "system",
    }
)


def validate_username(username: str, *, allow_reserved: bool = False) -> str:
    if not USERNAME_RE.fullmatch(username):
        raise InvalidInput("Username must be 1 to 30 characters: letters, digits and underscores.")
    if not allow_reserved and username.lower() in RESERVED:
        raise InvalidInput(f"The username {username!r} is reserved.")
    return username


def validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"Password must be at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"Password must be at most {MAX_PASSWORD_LENGTH} characters.")
    return password


@dataclass(frozen=True)
class _Secrets:
    password_hash: str
    private_pem: str
    public_pem: str


async def _make_secrets(services: Services, username: str, password: str) -> _Secrets:
    """A new account's password hash and RSA key pair, made in worker threads before its
    transaction: each costs tens to hundreds of ms of CPU that would otherwise stall every
    other request. A name already taken is refused first, so it costs neither."""
    async with services.db.session() as session:
        if await q.local_actor_by_username(session, username) is not None:
            raise Conflict(f"The username {username!r} is taken.")
    password_hash = await asyncio.to_thread(hash_password, password)
    private_pem, public_pem = await asyncio.to_thread(generate_rsa_keypair)
    return _Secrets(password_hash, private_pem, public_pem)


async def _insert_user(
    session: AsyncSession,
    services: Services,
    *,
    username: str,
    made: _Secrets,
    is_admin: bool,
    approved: bool,
    email: str | None,
    reason: str,
    invite_id: int | None,
) -> tuple[Actor, LocalUser]:
    if await q.local_actor_by_username(session, username) is not None:
        raise Conflict(f"The username {username!r} is taken.")
    urls = services.urls
    private_pem, public_pem = made.private_pem, made.public_pem
    actor = Actor(
        id=new_id(),
        username=username,
        username_lower=username.lower(),
        domain=None,
        display_name=username,
        ap_id=urls.actor(username),
        url=urls.profile(username),
        inbox_url=urls.inbox(username),
        shared_inbox_url=urls.shared_inbox(),
        outbox_url=urls.outbox(username),
        followers_url=urls.followers(username),
        following_url=urls.following(username),
        key_id=urls.key_id(username),
        public_key_pem=public_pem,
        private_key_pem=private_pem,
    )
    user = LocalUser(
        actor_id=actor.id,
        email=email,
        password_hash=made.password_hash,
        is_admin=is_admin,
        approved=approved,
        signup_reason=reason,
        invite_id=invite_id,
    )
    session.add(actor)
    await session.flush()
    session.add(user)
    await session.flush()
    return actor, user


async def create_user(
    services: Services,
    username: str,
    password: str,
    *,
    is_admin: bool = False,
    approved: bool = True,
    email: str | None = None,
    reason: str = "",
    allow_reserved: bool = False,
) -> tuple[Actor, LocalUser]:
    """Create a local account (with its signing key) in one transaction."""
    validate_username(username, allow_reserved=allow_reserved)
    validate_password(password)
    made = await _make_secrets(services, username, password)
    async with services.db.transaction() as session:
        return await _insert_user(
            session,
            services,
            username=username,
            made=made,
            is_admin=is_admin,
            approved=approved,
            email=email,
            reason=reason,
            invite_id=None,
        )


@dataclass(frozen=True)
class SignupResult:
    actor: Actor
    user: LocalUser

    @property
    def pending(self) -> bool:
        return not self.user.approved


async def sign_up(
    services: Services,
    username: str,
    password: str,
    *,
    email: str | None = None,
    reason: str = "",
    invite_code: str | None = None,
) -> SignupResult:
    """Self-service sign-up, following ``[instance] registrations``."""
    mode = services.config.instance.registrations
    validate_username(username)
    validate_password(password)
    reason = reason.strip()[:1000]
    if mode in ("closed", "invite") and not invite_code:  # refused before any hashing
        raise Forbidden(
            "Sign-ups are closed on this instance."
            if mode == "closed"
            else "Sign-ups on this instance need an invite link."
        )
    made = await _make_secrets(services, username, password)
    async with services.db.transaction() as session:
        invite: Invite | None = None
        if invite_code:
            invite = await _usable_invite(session, invite_code, services.clock())
        if mode == "closed" and invite is None:
            raise Forbidden("Sign-ups are closed on this instance.")
        if mode == "invite" and invite is None:
            raise Forbidden("Sign-ups on this instance need an invite link.")
        if mode == "approval" and invite is None and not reason:
            raise InvalidInput("Please tell the moderators why you want to join.")
        approved = mode == "open" or invite is not None
        actor, user = await _insert_user(
            session,
            services,
            username=username,
            made=made,
            is_admin=False,
            approved=approved,
            email=email,
            reason=reason,
            invite_id=invite.id if invite else None,
        )
        if invite is not None:
            invite.uses += 1
            session.add(invite)
        return SignupResult(actor, user)


async def _usable_invite(session: AsyncSession, code: str, now: datetime) -> Invite:
    invite = (await session.exec(select(Invite).where(Invite.code == code))).first()
    if invite is None or invite.revoked:
        raise Forbidden("This invite link is not valid.")
    if invite.expires_at is not None and invite.expires_at <= now:
        raise Forbidden("This invite link has expired.")
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        raise Forbidden("This invite link has been used up.")
    return invite


async def check_invite(services: Services, code: str) -> Invite:
    async with services.db.session() as session:
        return await _usable_invite(session, code, services.clock())


async def create_invite(
    services: Services, creator_id: int, *, max_uses: int | None, expires_in: timedelta | None
) -> Invite:
    if max_uses is not None and not 1 <= max_uses <= 10_000:
        raise InvalidInput("Uses must be between 1 and 10000, or unlimited.")
    invite = Invite(
        id=new_id(),
        code=secrets.token_urlsafe(12),
        created_by_id=creator_id,
        max_uses=max_uses,
        expires_at=services.clock() + expires_in if expires_in else None,
    )
    async with services.db.transaction() as session:
        session.add(invite)
    return invite


async def revoke_invite(services: Services, invite_id: int) -> None:
    async with services.db.transaction() as session:
        invite = await session.get(Invite, invite_id)
        if invite is None:
            raise NotFound("No such invite.")
        invite.revoked = True
        session.add(invite)


async def list_invites(services: Services) -> list[Invite]:
    async with services.db.session() as session:
        result = await session.exec(select(Invite).order_by(Invite.id.desc()))  # type: ignore[union-attr]
        return list(result.all())


class LoginRefused(Forbidden):
    """Credentials wrong, or the account cannot sign in yet; the message says which."""


async def authenticate(services: Services, username: str, password: str) -> Actor:
    """The actor for these credentials. The same work is done for unknown names."""
    async with services.db.session() as session:
        found = await q.local_user_with_actor(session, username.strip().lstrip("@"))
    if found is None:
        await asyncio.to_thread(verify_password, dummy_hash(), password)
        raise LoginRefused("Wrong username or password.")
    actor, user = found
    if not await asyncio.to_thread(verify_password, user.password_hash, password):
        raise LoginRefused("Wrong username or password.")
    if user.disabled:
        raise LoginRefused("This account is disabled.")
    if not user.approved:
        raise LoginRefused("This account is waiting for a moderator's approval.")
    return actor


async def set_disabled(services: Services, username: str, disabled: bool = True) -> None:
    async with services.db.transaction() as session:
        found = await q.local_user_with_actor(session, username)
        if found is None:
            raise NotFound(f"No local user named {username!r}.")
        _, user = found
        user.disabled = disabled
        session.add(user)


async def set_admin(services: Services, username: str, is_admin: bool) -> None:
    async with services.db.transaction() as session:
        found = await q.local_user_with_actor(session, username)
        if found is None:
            raise NotFound(f"No local user named {username!r}.")
        found[1].is_admin = is_admin
        session.add(found[1])


async def decide_signup(services: Services, actor_id: int, approve: bool) -> None:
    """Approve a pending sign-up, or reject it (the account is removed)."""
    async with services.db.transaction() as session:
        user = await session.get(LocalUser, actor_id)
        if user is None or user.approved:
            raise NotFound("No such pending sign-up.")
        if approve:
            user.approved = True
            session.add(user)
        else:
            actor = await session.get(Actor, actor_id)
            await session.delete(user)
            if actor is not None:
                await session.delete(actor)


async def update_profile(
    services: Services,
    actor_id: int,
    *,
    display_name: str,
    bio: str,
    avatar_key: str | None = None,
    header_key: str | None = None,
    locked: bool | None = None,
) -> Actor:
    display_name = display_name.strip()
    if len(display_name) > 100:
        raise InvalidInput("Display name must be at most 100 characters.")
    if len(bio) > 2000:
        raise InvalidInput("Bio must be at most 2000 characters.")
    async with services.db.transaction() as session:
        actor = await session.get(Actor, actor_id)
        if actor is None:
            raise NotFound("No such account.")
        actor.display_name = display_name or actor.username
        actor.bio_source = bio
        actor.bio_html = render_bio(bio, tag_url=services.urls.tags_base())
        if avatar_key is not None:
            actor.avatar_key = avatar_key
        if header_key is not None:
            actor.header_key = header_key
        if locked is not None:
            actor.manually_approves_followers = locked
        actor.updated_at = services.clock()
        session.add(actor)
        await federate.profile_updated(services, session, actor)  # Update{Person}, same commit
        return actor


async def change_password(
    services: Services,
    actor_id: int,
    current: str,
    new: str,
    *,
    keep_session: str | None = None,
) -> None:
    """Replace the password and, in the same transaction, sign the account out everywhere
    else (it may be known to someone): every other web session and every API token go;
    ``keep_session`` (the hash of the session making the change) stays signed in."""
    validate_password(new)
    async with services.db.session() as session:
        user = await session.get(LocalUser, actor_id)
    if user is None or not await asyncio.to_thread(verify_password, user.password_hash, current):
        raise InvalidInput("The current password is wrong.")
    checked_hash = user.password_hash
    new_hash = await asyncio.to_thread(hash_password, new)
    async with services.db.transaction() as session:
        user = await session.get(LocalUser, actor_id)
        if user is None or user.password_hash != checked_hash:
            raise Conflict("The password was changed meanwhile; please try again.")
        user.password_hash = new_hash
        session.add(user)
        await q.delete_sessions_except(session, actor_id, keep_session)
        await oauth_queries.revoke_all_tokens(session, actor_id=actor_id, now=services.clock())
