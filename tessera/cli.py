"""The ``tessera`` command.

Every failure an operator can cause ends in one line on stderr and a non-zero exit code,
never a traceback: a wrong config key, a taken username, a missing user.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tessera.config import Config, load_config, with_processes
from tessera.errors import TesseraError

EXIT_USAGE = 2
EXIT_ERROR = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tessera", description="Tessera: a federated gallery for AI-generated images."
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="configuration file (default: $TESSERA_CONFIG, else ./config.toml, else built-in defaults)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    serve = sub.add_parser("serve", help="apply pending migrations, then serve HTTP")
    serve.add_argument("--host", help="override [server] host")
    serve.add_argument("--port", type=int, help="override [server] port")
    serve.add_argument(
        "--processes", type=int, help="override [server] processes (web processes to run)"
    )
    serve.add_argument(
        "--no-first-admin",
        action="store_true",
        help="do not create an 'admin' account when the instance has no users",
    )
    sub.add_parser("migrate", help="apply pending database migrations")
    sub.add_parser(
        "worker", help="run the background workers (deliveries, inbox) until SIGINT or SIGTERM"
    )
    sub.add_parser("check-config", help="validate the configuration and print it")

    user = sub.add_parser("user", help="manage local users")
    user_sub = user.add_subparsers(dest="user_command", metavar="ACTION")
    user_sub.required = True
    create = user_sub.add_parser("create", help="create a local user")
    create.add_argument("name")
    create.add_argument("--admin", action="store_true", help="make the user an administrator")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (otherwise one is generated and printed)",
    )
    user_sub.add_parser("list", help="list local users")
    disable = user_sub.add_parser(
        "disable", help="disable a local user (they can no longer sign in)"
    )
    disable.add_argument("name")
    enable = user_sub.add_parser("enable", help="enable a disabled local user")
    enable.add_argument("name")

    token = sub.add_parser("token", help="manage client API tokens")
    token_sub = token.add_subparsers(dest="token_command", metavar="ACTION")
    token_sub.required = True
    token_create = token_sub.add_parser(
        "create", help="print a new bearer token for a local user (the last word printed)"
    )
    token_create.add_argument("name", help="the local user the token acts as")
    token_create.add_argument("--scopes", default="read write follow", help="space-separated")
    token_create.add_argument("--app", default="tessera CLI", help="the name shown under Apps")
    return parser


def _run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(coro_fn())  # type: ignore[arg-type]


async def _with_services(config: Config, fn: Callable[[Any], Awaitable[Any]]) -> Any:
    from services.context import Services
    from storage.migrate import ensure_current

    services = Services.from_config(config)
    try:
        await ensure_current(services.db)
        return await fn(services)
    finally:
        await services.db.dispose()


def _ensure_data_dirs(config: Config) -> None:
    from storage.migrate import MIGRATIONS  # noqa: F401  (import check: package data present)

    config.media.root.mkdir(parents=True, exist_ok=True)
    url = config.database.url
    if url.startswith("sqlite") and ":///" in url:
        db_path = Path(url.split(":///", 1)[1])
        if str(db_path) != ":memory:":
            db_path.parent.mkdir(parents=True, exist_ok=True)


async def _first_admin(services: Any) -> str | None:
    """On an instance with no users, create 'admin' and return its password (shown once)."""
    from services.accounts import create_user
    from services.passwords import generate_password
    from storage.accounts import count_local_users

    async with services.db.session() as session:
        if await count_local_users(session) > 0:
            return None
    password = generate_password()
    await create_user(services, "admin", password, is_admin=True, allow_reserved=True)
    return password


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    # No cyclic collection until start-up is done: importing the stack makes hundreds of
    # thousands of long-lived objects, and the full collections they set off cost ~0.1 s
    # of a ~0.8 s start (measured with and without; docs/performance.md). They are all
    # frozen out of the collector's sight afterwards anyway.
    gc.disable()
    from tessera.serving import serve

    if args.processes is not None:
        config = with_processes(config, args.processes)
    _ensure_data_dirs(config)

    async def prepare(services: Any) -> str | None:
        return None if args.no_first_admin else await _first_admin(services)

    password = _run(lambda: _with_services(config, prepare))
    host = args.host or config.server.host
    port = args.port or config.server.port
    if password:
        print(
            "\n  First start: created the administrator account.\n"
            f"    username: admin\n    password: {password}\n"
            "  This password is shown only once. Change it under Settings after signing in.\n",
            flush=True,
        )
    print(f"Tessera is serving {config.base_url} on http://{host}:{port}", flush=True)
    return serve(config, host=host, port=port)


def cmd_worker(config: Config, _args: argparse.Namespace) -> int:
    """The workers ``serve`` also runs, in a process of their own (e.g. beside several
    web processes); claims are atomic, so both may run at once."""
    import signal

    from federation.delivery import run_workers
    from tessera.serving import freeze_startup_objects

    _ensure_data_dirs(config)

    async def work(services: Any) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        print(f"Tessera worker running for {config.base_url}", flush=True)
        try:
            await run_workers(services, stop)
        finally:
            await services.close()

    freeze_startup_objects()
    _run(lambda: _with_services(config, work))
    return 0


def cmd_migrate(config: Config, _args: argparse.Namespace) -> int:
    from storage.db import Database
    from storage.migrate import pending, upgrade

    _ensure_data_dirs(config)

    async def go() -> list[str]:
        db = Database(config.database.url)
        try:
            todo = await pending(db)
            await upgrade(db)
            return todo
        finally:
            await db.dispose()

    todo = _run(go)
    print(f"applied {len(todo)} migration(s)" + (f": {', '.join(todo)}" if todo else ""))
    return 0


def cmd_check_config(config: Config, _args: argparse.Namespace) -> int:
    from storage.db import redacted_url

    print(f"configuration OK ({config.source or 'built-in defaults'})")
    print(
        f"  instance: {config.base_url} ({config.instance.name}), registrations {config.instance.registrations}"
    )
    print(f"  server:   {config.server.host}:{config.server.port}")
    print(f"  database: {redacted_url(config.database.url)}")  # never the password
    print(
        f"  media:    {config.media.root} (max {config.media.max_upload_bytes} bytes, {config.media.max_pixels} pixels)"
    )
    print(
        f"  federation: allow_private_addresses={str(config.federation.allow_private_addresses).lower()}"
    )
    return 0


def cmd_user(config: Config, args: argparse.Namespace) -> int:
    from services import accounts
    from services.passwords import generate_password
    from storage.accounts import list_local_users

    _ensure_data_dirs(config)
    if args.user_command == "create":
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            generated = False
        else:
            password = generate_password()
            generated = True

        async def create(services: Any) -> None:
            await accounts.create_user(services, args.name, password, is_admin=args.admin)

        _run(lambda: _with_services(config, create))
        role = "administrator" if args.admin else "user"
        print(f"created {role} {args.name}")
        if generated:
            print(f"password: {password}")
        return 0
    if args.user_command == "list":

        async def listing(services: Any) -> list[Any]:
            async with services.db.session() as session:
                return await list_local_users(session)

        rows = _run(lambda: _with_services(config, listing))
        for actor, user in rows:
            state = "disabled" if user.disabled else ("pending" if not user.approved else "active")
            role = "admin" if user.is_admin else "user"
            print(f"{actor.username}\t{role}\t{state}\t{user.created_at:%Y-%m-%d}")
        if not rows:
            print("no users")
        return 0
    disabled = args.user_command == "disable"

    async def toggle(services: Any) -> None:
        await accounts.set_disabled(services, args.name, disabled)

    _run(lambda: _with_services(config, toggle))
    print(f"{'disabled' if disabled else 'enabled'} {args.name}")
    return 0


def cmd_token(config: Config, args: argparse.Namespace) -> int:
    from services.api_tokens import create_script_token

    _ensure_data_dirs(config)

    async def create(services: Any) -> str:
        return await create_script_token(services, args.name, scopes=args.scopes, app_name=args.app)

    value = _run(lambda: _with_services(config, create))
    print(f"created a token for {args.name} (scopes: {args.scopes}): {value}")
    return 0


COMMANDS: dict[str, Callable[[Config, argparse.Namespace], int]] = {
    "serve": cmd_serve,
    "migrate": cmd_migrate,
    "worker": cmd_worker,
    "check-config": cmd_check_config,
    "user": cmd_user,
    "token": cmd_token,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
        return COMMANDS[args.command](config, args)
    except TesseraError as exc:
        print(f"tessera: {exc.public}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
