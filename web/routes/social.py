"""Following, blocking, notifications, follow requests, search and replies from the web UI.

Every action goes through ``services`` (the same functions the client API will call), so
what a person does here federates exactly like anything else.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services import posts as post_service
from services import social
from services.posts import PostFields
from storage import social_queries as sq
from storage.models import Actor, Post
from tessera.errors import InvalidInput, NotFound, TesseraError
from web.context import checked_form, form_text, redirect, render, require_user, services
from web.routes.gallery import _actor_from_path
from web.views import actor_view, build_post_views


def _profile_path(actor: Actor) -> str:
    return f"/@{actor.username}" + (f"@{actor.domain}" if actor.domain else "")


def _relationship_action(action: str):  # type: ignore[no-untyped-def]
    async def handler(request: Request) -> Response:
        me, _ = await require_user(request)
        await checked_form(request)
        target = await _actor_from_path(request)
        if target.id == me.id:
            raise InvalidInput("You cannot do that to yourself.")
        svc = services(request)
        await getattr(social, action)(svc, me, target)
        return redirect(_profile_path(target))

    return handler


async def notifications(request: Request) -> Response:
    me, _ = await require_user(request)
    svc = services(request)
    async with svc.db.transaction() as session:
        rows = await sq.notifications_for(session, me.id, limit=60)
        await sq.mark_notifications_read(session, me.id)
        items = [
            {
                "note": note,
                "who": actor_view(who, svc.urls, svc.config.instance.domain),
                "post": post,
            }
            for note, who, post in rows
        ]
    return await render(request, "notifications.html", {"items": items})


async def follow_requests(request: Request) -> Response:
    me, _ = await require_user(request)
    svc = services(request)
    async with svc.db.session() as session:
        rows = await sq.pending_follow_requests(session, me.id)
    items = [(f, actor_view(a, svc.urls, svc.config.instance.domain)) for f, a in rows]
    return await render(request, "follow_requests.html", {"items": items})


def _decide(approve: bool):  # type: ignore[no-untyped-def]
    async def handler(request: Request) -> Response:
        me, _ = await require_user(request)
        await checked_form(request)
        svc = services(request)
        follow_id = request.path_params["follow_id"]
        if approve:
            await social.approve_follow(svc, me, follow_id)
        else:
            await social.reject_follow(svc, me, follow_id)
        return redirect("/follow_requests")

    return handler


async def search(request: Request) -> Response:
    me, _ = await require_user(request)
    svc = services(request)
    query = request.query_params.get("q", "").strip()
    results: list = []
    error = None
    if query:
        looks_remote = (
            query.startswith(("http://", "https://")) or query.lstrip("@").count("@") == 1
        )
        if looks_remote:
            from federation.fetch import resolve_handle

            try:
                actor = await resolve_handle(svc, query)
            except TesseraError as exc:
                error = exc.public
            else:
                return redirect(_profile_path(actor))
        else:
            async with svc.db.session() as session:
                found = await sq.search_local_actors(session, query.lstrip("@"), limit=20)
            results = [actor_view(a, svc.urls, svc.config.instance.domain) for a in found]
            if not results:
                error = "No account found."
    return await render(
        request, "search.html", {"q": query, "results": results, "error": error, "me_id": me.id}
    )


async def reply(request: Request) -> Response:
    me, _ = await require_user(request)
    form = await checked_form(request)
    svc = services(request)
    async with svc.db.session() as session:
        parent = await session.get(Post, request.path_params["post_id"])
        found = await _visible(session, parent, me)
    if not found:
        raise NotFound("No such post.")
    assert parent is not None
    text = form_text(form, "caption")
    try:
        await post_service.create_post(
            svc,
            me,
            [],
            PostFields(caption=text, visibility=_reply_visibility(parent)),
            in_reply_to=parent,
        )
    except TesseraError as exc:
        raise InvalidInput(exc.public) from None
    async with svc.db.session() as session:
        author = await session.get(Actor, parent.actor_id)
        [view] = await build_post_views(
            session, [(parent, author)], svc.urls, svc.config.instance.domain, me.id
        )
    return redirect(view.url)


def _reply_visibility(parent: Post) -> str:
    """A reply is never more public than what it answers."""
    return parent.visibility if parent.visibility in ("public", "unlisted") else "followers"


async def _visible(session, post: Post | None, me: Actor) -> bool:  # type: ignore[no-untyped-def]
    from storage import posts as q

    return post is not None and await q.can_view(session, post, me.id)


routes = [
    Route("/@{name}/follow", _relationship_action("follow"), methods=["POST"]),
    Route("/@{name}/unfollow", _relationship_action("unfollow"), methods=["POST"]),
    Route("/@{name}/block", _relationship_action("block"), methods=["POST"]),
    Route("/@{name}/unblock", _relationship_action("unblock"), methods=["POST"]),
    Route("/notifications", notifications, methods=["GET"]),
    Route("/follow_requests", follow_requests, methods=["GET"]),
    Route("/follow_requests/{follow_id:id}/approve", _decide(True), methods=["POST"]),
    Route("/follow_requests/{follow_id:id}/reject", _decide(False), methods=["POST"]),
    Route("/search", search, methods=["GET"]),
    Route("/posts/{post_id:id}/reply", reply, methods=["POST"]),
]
