"""An Atom feed per local profile: public posts, newest first, images inline."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from storage import accounts as accounts_q
from storage import posts as q
from tessera.errors import NotFound
from web.context import services
from web.views import PostView, build_post_views

FEED_SIZE = 20


def _iso(value: object) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[attr-defined,no-any-return]


def _entry(view: PostView) -> str:
    post = view.post
    images = "".join(
        f"<p><img src={quoteattr(m.display_url)} alt={quoteattr(m.alt)} "
        f'width="{m.display_width}" height="{m.display_height}"></p>'
        for m in view.media
    )
    title = post.content_warning or (post.caption_source.split("\n")[0][:80] or "Image post")
    html = (
        f"<p><strong>CW: {escape(post.content_warning)}</strong></p>"
        if post.content_warning
        else ""
    )
    html += images + post.content_html
    if post.prompt:
        html += f"<p>Prompt: {escape(post.prompt)}</p>"
    updated = post.edited_at or post.created_at
    return (
        "<entry>"
        f"<id>{escape(post.ap_id)}</id>"
        f"<title>{escape(title)}</title>"
        f'<link rel="alternate" type="text/html" href={quoteattr(view.url)}/>'
        f"<published>{_iso(post.created_at)}</published>"
        f"<updated>{_iso(updated)}</updated>"
        f'<content type="html">{escape(html)}</content>'
        "</entry>"
    )


async def profile_feed(request: Request) -> Response:
    svc = services(request)
    name = request.path_params["name"]
    async with svc.db.session() as session:
        actor = await accounts_q.local_actor_by_username(session, name)
        user = await accounts_q.local_user(session, actor.id) if actor else None
        if actor is None or user is None or user.disabled or not user.approved:
            raise NotFound("No such account.")
        rows = await q.by_actor(session, actor.id, viewer_id=None, max_id=None, limit=FEED_SIZE)
        rows = [(p, a) for p, a in rows if p.visibility == "public"]
        views = await build_post_views(session, rows, svc.urls, svc.config.instance.domain, None)
    urls = svc.urls
    updated = views[0].post.created_at if views else actor.created_at
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>{escape(urls.profile(actor.username))}.atom</id>"
        f"<title>{escape(actor.display_name or actor.username)} on {escape(svc.config.instance.name)}</title>"
        f'<link rel="alternate" type="text/html" href={quoteattr(urls.profile(actor.username))}/>'
        f'<link rel="self" type="application/atom+xml" href={quoteattr(urls.profile(actor.username) + ".atom")}/>'
        f"<updated>{_iso(updated)}</updated>"
        f"<author><name>{escape(actor.display_name or actor.username)}</name>"
        f"<uri>{escape(urls.profile(actor.username))}</uri></author>"
        + "".join(_entry(v) for v in views)
        + "</feed>"
    )
    return Response(body, media_type="application/atom+xml; charset=utf-8")


routes = [Route("/@{name}.atom", profile_feed, methods=["GET"])]
