"""Instance information: ``/api/v1/instance`` (with and without a trailing slash),
``/api/v2/instance``, peers, custom emojis (none) and the signed-in user's preferences."""

from __future__ import annotations

from datetime import timedelta

from starlette.routing import Route

from federation.nodeinfo import software_info
from storage import accounts as accounts_q
from storage import ap_queries as apq
from storage import api_batch as b
from web.api import render
from web.api.auth import Ctx, endpoint
from web.api.entities_instance import InstanceStats, instance_v1, instance_v2, preferences


async def _facts(ctx: Ctx) -> tuple[InstanceStats, dict | None]:
    svc = ctx.svc
    software = software_info()
    async with svc.db.session() as session:
        stats = InstanceStats(
            users=await apq.count_active_users(session),
            active_month=await apq.count_users_active_since(
                session, svc.clock() - timedelta(days=30)
            ),
            statuses=await apq.count_local_posts(session),
            domains=len(await b.peers(session)),
            software_version=software.version,
            source_url=software.repository or f"{svc.config.base_url}/",
        )
        admins = [
            a
            for a, u in await accounts_q.list_local_users(session)
            if u.is_admin and not u.disabled
        ]
        contact = await render.account(session, svc, admins[0]) if admins else None
    return stats, contact


@endpoint(auth="none")
async def v1(ctx: Ctx) -> dict:
    stats, contact = await _facts(ctx)
    return instance_v1(ctx.svc.config, stats, contact)


@endpoint(auth="none")
async def v2(ctx: Ctx) -> dict:
    stats, contact = await _facts(ctx)
    return instance_v2(ctx.svc.config, stats, contact)


@endpoint(auth="none")
async def peers(ctx: Ctx) -> list:
    async with ctx.svc.db.session() as session:
        return await b.peers(session)


@endpoint(auth="none")
async def custom_emojis(ctx: Ctx) -> list:
    return []


@endpoint(auth="none")
async def empty_list(ctx: Ctx) -> list:
    """Instance lists Tessera does not keep yet (rules, announcements' public side)."""
    return []


@endpoint(auth="user", scope="read:accounts")
async def prefs(ctx: Ctx) -> dict:
    return preferences()


routes = [
    Route("/api/v1/instance", v1, methods=["GET"]),
    Route("/api/v1/instance/", v1, methods=["GET"]),
    Route("/api/v2/instance", v2, methods=["GET"]),
    Route("/api/v1/instance/peers", peers, methods=["GET"]),
    Route("/api/v1/instance/rules", empty_list, methods=["GET"]),
    Route("/api/v1/custom_emojis", custom_emojis, methods=["GET"]),
    Route("/api/v1/preferences", prefs, methods=["GET"]),
]
