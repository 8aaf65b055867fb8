"""``tessera token create``: a real process makes the token, the app accepts it."""

from __future__ import annotations

from pathlib import Path

import httpx

from services.context import Services
from tessera.config import load_config
from tests.api.conftest import bearer
from tests.api.schemas import CREDENTIAL_ACCOUNT, check
from tests.cli.test_commands import tessera, write_config
from web.app import create_app


async def test_token_create_then_use_it(tmp_path: Path) -> None:
    write_config(tmp_path)
    made = tessera(
        tmp_path, "user", "create", "scripter", "--password-stdin", stdin="a long password\n"
    )
    assert made.returncode == 0, made.stderr
    created = tessera(tmp_path, "token", "create", "scripter", "--scopes", "read write:media")
    assert created.returncode == 0, created.stderr
    token = created.stdout.split()[-1]
    assert len(token) >= 40 and "read write:media" in created.stdout

    config = load_config(tmp_path / "config.toml")
    services = Services.from_config(config)
    app = create_app(config, services=services, run_workers=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=config.base_url
        ) as client:
            me = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(token))
            assert me.status_code == 200, me.text
            assert check(CREDENTIAL_ACCOUNT, me.json())["username"] == "scripter"
            post = await client.post(
                "/api/v1/statuses", headers=bearer(token), data={"status": "x"}
            )
            assert post.status_code == 403  # write:media does not cover write:statuses
    finally:
        await services.close()

    unknown = tessera(tmp_path, "token", "create", "nobody")
    assert unknown.returncode == 1 and "nobody" in unknown.stderr
    bad_scope = tessera(tmp_path, "token", "create", "scripter", "--scopes", "reed")
    assert bad_scope.returncode == 1 and "reed" in bad_scope.stderr
