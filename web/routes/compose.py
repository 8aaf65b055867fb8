"""Publishing, editing and deleting posts; likes and boosts from the web UI."""

from __future__ import annotations

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services import posts as post_service
from services.posts import PostFields, Upload
from storage import posts as q
from storage.models import Post
from tessera.errors import InvalidInput, NotFound, TesseraError
from web.context import checked_form, form_str, form_text, redirect, render, require_user, services
from web.ids import parse_id
from web.views import build_post_views


def _fields(form: FormData) -> PostFields:
    return PostFields(
        caption=form_text(form, "caption"),
        content_warning=form_str(form, "content_warning"),
        sensitive=form.get("sensitive") == "on",
        visibility=form_str(form, "visibility", "public") or "public",
        prompt=form_text(form, "prompt"),
        model_name=form_str(form, "model_name"),
    )


def _focus(raw: str) -> tuple[float, float] | None:
    if not raw:
        return None
    try:
        x, y = (float(v) for v in raw.split(","))
    except ValueError:
        raise InvalidInput("A focal point is written as two numbers: x,y (from -1 to 1).") from None
    return x, y


async def compose_form(request: Request) -> Response:
    await require_user(request)
    svc = services(request)
    return await render(
        request,
        "compose.html",
        {"max_attachments": svc.config.media.max_attachments, "fields": PostFields()},
    )


async def compose(request: Request) -> Response:
    actor, _ = await require_user(request)
    svc = services(request)
    limit = svc.config.media.max_attachments
    form = await checked_form(request, max_files=limit + 10)
    fields = _fields(form)
    ctx = {"max_attachments": limit, "fields": fields}
    try:
        files = [f for f in form.getlist("images") if isinstance(f, UploadFile) and f.filename]
        alts = [a if isinstance(a, str) else "" for a in form.getlist("alt")]
        focuses = [a if isinstance(a, str) else "" for a in form.getlist("focus")]
        if len(files) > limit:
            raise InvalidInput(f"A post can have at most {limit} images; you sent {len(files)}.")
        uploads = []
        for index, upload in enumerate(files):
            data = await upload.read()
            uploads.append(
                Upload(
                    data=data,
                    filename=(upload.filename or "")[:100],
                    description=(alts[index].strip() if index < len(alts) else ""),
                    focus=_focus(focuses[index].strip() if index < len(focuses) else ""),
                )
            )
        post = await post_service.create_post(svc, actor, uploads, fields)
    except TesseraError as exc:
        return await render(
            request, "compose.html", {**ctx, "error": exc.public}, status=exc.status
        )
    return redirect(svc.urls.post_page(actor.username, post.id))


async def _own(request: Request) -> tuple[Post, object]:
    actor, _ = await require_user(request)
    svc = services(request)
    async with svc.db.session() as session:
        post = await session.get(Post, request.path_params["post_id"])
        if (
            post is None
            or post.actor_id != actor.id
            or request.path_params["name"].lower() != actor.username_lower
        ):
            raise NotFound("No such post of yours.")
        [view] = await build_post_views(
            session, [(post, actor)], svc.urls, svc.config.instance.domain, actor.id
        )
    return post, view


async def edit_form(request: Request) -> Response:
    _post, view = await _own(request)
    return await render(request, "edit.html", {"view": view})


async def edit(request: Request) -> Response:
    actor, _ = await require_user(request)
    post, view = await _own(request)
    svc = services(request)
    form = await checked_form(request)
    descriptions: dict[int, str] = {}
    for key, value in form.multi_items():
        media_id = parse_id(key[4:]) if key.startswith("alt_") else None
        if media_id is not None and isinstance(value, str):
            descriptions[media_id] = value.strip()
    try:
        await post_service.edit_post(svc, actor, post.id, _fields(form), descriptions)
    except TesseraError as exc:
        return await render(
            request, "edit.html", {"view": view, "error": exc.public}, status=exc.status
        )
    return redirect(svc.urls.post_page(actor.username, post.id))


async def delete(request: Request) -> Response:
    actor, user = await require_user(request)
    await checked_form(request)
    svc = services(request)
    await post_service.delete_post(svc, actor, request.path_params["post_id"], admin=user.is_admin)
    return redirect(svc.urls.profile(actor.username))


def _interaction(kind: str, on: bool):  # type: ignore[no-untyped-def]
    async def handler(request: Request) -> Response:
        actor, _ = await require_user(request)
        form = await checked_form(request)
        svc = services(request)
        post_id = request.path_params["post_id"]
        if kind == "like":
            await post_service.set_like(svc, actor, post_id, on)
        else:
            await post_service.set_boost(svc, actor, post_id, on)
        back = form_str(form, "back")
        if back.startswith("/") and not back.startswith("//"):
            return redirect(back)
        async with svc.db.session() as session:
            found = await q.post_with_author(session, post_id)
        if found is None:
            raise NotFound("No such post.")
        return redirect(svc.urls.post_page(found[1].username, post_id))

    return handler


routes = [
    Route("/compose", compose_form, methods=["GET"]),
    Route("/compose", compose, methods=["POST"]),
    Route("/@{name}/{post_id:id}/edit", edit_form, methods=["GET"]),
    Route("/@{name}/{post_id:id}/edit", edit, methods=["POST"]),
    Route("/@{name}/{post_id:id}/delete", delete, methods=["POST"]),
    Route("/posts/{post_id:id}/like", _interaction("like", True), methods=["POST"]),
    Route("/posts/{post_id:id}/unlike", _interaction("like", False), methods=["POST"]),
    Route("/posts/{post_id:id}/boost", _interaction("boost", True), methods=["POST"]),
    Route("/posts/{post_id:id}/unboost", _interaction("boost", False), methods=["POST"]),
]
