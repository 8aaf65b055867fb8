"""Remote servers for the federation benchmarks, on loopback, in their own processes.

* ``actors``: a server whose accounts send to Tessera's inbox. It serves their actor
  documents (Mastodon's shape: ``publicKey`` inside the actor, a shared inbox), which
  Tessera fetches the first time it sees a key; the benchmark signs as those accounts with
  the private keys of the same key file.
* Keys: RSA-2048 pairs made once per run. Many accounts share a key pair (making 10,000
  keys would take minutes), but every account has its own actor URL and key id, so for
  Tessera each is a different sender with a key to fetch and verify.

``python -m bench.peer --port P --keys FILE`` serves ``/users/{name}`` where ``name`` is
``s<number>``; account ``s<n>`` uses key ``n % len(keys)``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

ACTIVITY_JSON = "application/activity+json"


def actor_url(base: str, name: str) -> str:
    return f"{base}/users/{name}"


def key_id(base: str, name: str) -> str:
    return f"{actor_url(base, name)}#main-key"


def key_index(name: str, count: int) -> int:
    return int(name[1:]) % count


def actor_document(base: str, name: str, public_pem: str) -> dict[str, Any]:
    ap_id = actor_url(base, name)
    return {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": ap_id,
        "type": "Person",
        "preferredUsername": name,
        "name": f"Sender {name}",
        "url": f"{base}/@{name}",
        "inbox": f"{ap_id}/inbox",
        "outbox": f"{ap_id}/outbox",
        "followers": f"{ap_id}/followers",
        "following": f"{ap_id}/following",
        "endpoints": {"sharedInbox": f"{base}/inbox"},
        "publicKey": {"id": key_id(base, name), "owner": ap_id, "publicKeyPem": public_pem},
    }


def build_app(base: str, public_pems: list[str]) -> Starlette:
    async def actor(request: Request) -> Response:
        name = request.path_params["name"]
        if not name.startswith("s") or not name[1:].isdigit():
            return JSONResponse({"error": "no such actor"}, status_code=404)
        doc = actor_document(base, name, public_pems[key_index(name, len(public_pems))])
        return Response(json.dumps(doc), media_type=ACTIVITY_JSON)

    async def inbox(request: Request) -> Response:
        await request.body()
        return JSONResponse({}, status_code=202)

    async def ping(_request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/users/{name}", actor, methods=["GET"]),
            Route("/inbox", inbox, methods=["POST"]),
            Route("/users/{name}/inbox", inbox, methods=["POST"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--keys", type=Path, required=True)
    args = parser.parse_args()
    pairs = json.loads(args.keys.read_text())
    base = f"http://127.0.0.1:{args.port}"
    app = build_app(base, [public for public, _private in pairs])
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
