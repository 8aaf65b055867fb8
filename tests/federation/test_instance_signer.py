"""The instance actor's key, which signs every fetch, is read from its row once per
database and then kept (``federation.fetch.instance_signer``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import event

from federation.fetch import instance_signer
from federation.keys import load_private_key, public_pem_for
from services.context import Services
from storage.remote_queries import actor_by_ap_id
from tests.conftest import make_config


async def test_the_key_is_read_once_and_is_the_rows(services: Services) -> None:
    first = await instance_signer(services)  # made with its key pair on first use
    statements: list[str] = []
    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    again = await instance_signer(services)
    assert again == first
    assert statements == []  # no database read for it
    async with services.db.session() as session:
        row = await actor_by_ap_id(session, first.key_id.split("#")[0])
    assert row is not None and row.private_key_pem == first.private_key_pem
    assert row.key_id == first.key_id
    assert public_pem_for(load_private_key(first.private_key_pem)) == row.public_key_pem


async def test_each_instance_signs_with_its_own_key(
    services: Services, tmp_path: Path, migrated_template: Path
) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    shutil.copy(migrated_template, folder / "tessera.db")
    other = Services.from_config(make_config(folder, instance={"domain": "b.test"}))
    mine = await instance_signer(services)
    try:
        theirs = await instance_signer(other)
    finally:
        await other.close()
    assert mine.private_key_pem != theirs.private_key_pem
    assert "b.test" in theirs.key_id and "b.test" not in mine.key_id
