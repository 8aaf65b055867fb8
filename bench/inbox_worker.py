"""Process stored inbox items with ``federation.inbox_process.run_once`` until none are due.

Used by the inbox benchmark only when the running ``tessera serve`` does not process its
inbox itself (its lifespan workers do not include the inbox processor yet): this process is
then what a ``tessera worker`` would be, the same ``run_once`` on the same database with the
application's ``Services``.

    python -m bench.inbox_worker CONFIG [--limit N] [--idle-exit SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path


async def drain(config_path: Path, limit: int, idle_exit: float) -> int:
    from federation import inbox_process
    from services.context import Services
    from tessera.config import load_config

    services = Services.from_config(load_config(config_path))
    processed = 0
    idle_since: float | None = None
    try:
        while True:
            claimed = await inbox_process.run_once(services, limit=limit)
            processed += claimed
            if claimed:
                idle_since = None
                continue
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > idle_exit:
                return processed
            await asyncio.sleep(0.05)
    finally:
        await services.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--idle-exit", type=float, default=2.0)
    args = parser.parse_args()
    print(asyncio.run(drain(args.config, args.limit, args.idle_exit)))


if __name__ == "__main__":
    main()
