"""The start-up release of claims left by a dead worker (``federation.delivery.
worker_presence``, run by ``run_workers``): it happens only when no other worker process
of the instance is alive, so a ``tessera worker`` running beside a (re)starting server
never has its rows taken from under it, and a killed one's rows come back at once.

The other worker is the real ``tessera worker`` command in a child process; the claims
are rows as the workers leave them: ``locked_until`` far in the future.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from federation.delivery import worker_presence
from services.context import Services
from storage.federation_models import Delivery, InboxItem, OutboxActivity
from storage.ids import new_id
from storage.models import Actor
from tessera.config import Config
from tests.crash.instance import REPO, eventually


def write_config(config: Config, folder: Path) -> Path:
    """The test's configuration as a file, for a separate ``tessera`` process."""
    target = folder / "worker.toml"
    target.write_text(
        f"[instance]\ndomain = '{config.instance.domain}'\n"
        f"[database]\nurl = '{config.database.url}'\n"
        f"[media]\nroot = '{config.media.root}'\n"
        f"[server]\nsecret_key_file = '{config.server.secret_key_file}'\n"
        "[federation]\nallow_private_addresses = true\n",
        encoding="utf-8",
    )
    return target


def presence(config: Config) -> str:
    """Who holds the presence lock beside the database: "free", "shared" (running
    workers) or "exclusive" (a worker starting, releasing claims)."""
    database = config.database.url.split(":///", 1)[1]
    with open(f"{database}-workers", "a+b") as handle:
        for mode, state in ((fcntl.LOCK_EX, "free"), (fcntl.LOCK_SH, "shared")):
            try:
                fcntl.flock(handle, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            fcntl.flock(handle, fcntl.LOCK_UN)
            return state
        return "exclusive"


async def claimed_rows(services: Services, alice: Actor) -> tuple[int, int]:
    """A delivery and an inbox item, both claimed for the next hour."""
    now = services.clock()
    activity = OutboxActivity(
        id=new_id(),
        ap_id=f"{alice.ap_id}#likes/1",
        actor_id=alice.id,
        activity_type="Like",
        payload=json.dumps({"type": "Like"}),
    )
    delivery = Delivery(
        id=new_id(),
        activity_id=activity.id,
        inbox_url="http://127.0.0.1:9/inbox",
        host="127.0.0.1:9",
        next_attempt_at=now,
        locked_until=now + timedelta(hours=1),
    )
    item = InboxItem(
        id=new_id(),
        activity_id="http://127.0.0.1:9/users/bob#likes/1",
        actor_ap_id="http://127.0.0.1:9/users/bob",
        activity_type="Like",
        payload="{}",
        next_attempt_at=now,
        locked_until=now + timedelta(hours=1),
    )
    async with services.db.transaction() as session:
        session.add(activity)
        await session.flush()
        session.add(delivery)
        session.add(item)
    return delivery.id, item.id


async def locks(services: Services) -> list[bool]:
    async with services.db.session() as session:
        deliveries = (await session.exec(select(Delivery))).all()
        items = (await session.exec(select(InboxItem))).all()
    assert all(row.state == "pending" and row.attempts == 0 for row in [*deliveries, *items])
    return [row.locked_until is not None for row in [*deliveries, *items]]


async def test_claims_are_released_only_when_no_other_worker_is_alive(
    config: Config, services: Services, alice: Actor, tmp_path: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tessera.cli",
        "--config",
        str(write_config(config, tmp_path)),
        "worker",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:

        async def worker_up() -> bool:
            assert process.returncode is None, "tessera worker exited"
            return presence(config) == "shared"  # started, its own release done

        await eventually(worker_up, what="tessera worker running")
        await claimed_rows(services, alice)  # as if the running worker had claimed them

        async with worker_presence(services) as alone:
            assert alone is False  # another worker is alive: its claims are its own
            assert await locks(services) == [True, True]
    finally:
        process.kill()
        await process.wait()

    assert presence(config) == "free"  # the kernel dropped the dead worker's lock
    async with worker_presence(services) as alone:
        assert alone is True
        assert await locks(services) == [False, False]  # due again, untouched otherwise
        assert presence(config) == "shared"  # this process now counts as a worker
    assert presence(config) == "free"
