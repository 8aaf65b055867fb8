// A small third-party ActivityPub server built on Fedify, for Tessera's interop test
// (tests/interop/test_fedify.py). One actor, `fedi`, with an RSA key made at start; an inbox
// that records what it receives and accepts every Follow; and control endpoints the test
// drives it with:
//
//   GET  /_received    every activity received, oldest first, as Fedify's JSON-LD
//   GET  /_followers   the ids of the actors following `fedi`
//   POST /_do          {"follow": actorUrl} | {"like": noteId} | {"announce": noteId}
//                      | {"post": "text", "image"?: base64 PNG, "alt"?: "text"}
//                      answers {"id": id of the activity (of the note for a post)}
//   GET  /media/...    the images of its posts
//
// Run: node peer.mjs PORT   (Node 22; loopback only, so allowPrivateAddress is on).
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import {
  createFederation,
  generateCryptoKeyPair,
  InProcessMessageQueue,
  MemoryKvStore,
} from "@fedify/fedify";
import {
  Accept,
  Activity,
  Announce,
  Create,
  Document,
  Endpoints,
  Follow,
  Like,
  Note,
  Person,
  PUBLIC_COLLECTION,
  Undo,
} from "@fedify/vocab";
import { Temporal } from "@js-temporal/polyfill";
import { configure, getConsoleSink } from "@logtape/logtape";

const PORT = Number(process.argv[2] ?? process.env.PEER_PORT ?? 8080);
const ORIGIN = `http://127.0.0.1:${PORT}`;
const ME = "fedi";

await configure({
  sinks: { console: getConsoleSink() },
  loggers: [
    { category: ["logtape", "meta"], sinks: [] },
    { category: "fedify", sinks: ["console"], lowestLevel: process.env.PEER_LOG ?? "info" },
  ],
});

const keyPair = await generateCryptoKeyPair("RSASSA-PKCS1-v1_5");
const received = []; // {type, id, actor, json}
const followers = new Map(); // follower actor id -> the actor (a Fedify Recipient)
const notes = new Map(); // note id -> Note
const media = new Map(); // path -> PNG bytes

const federation = createFederation({
  kv: new MemoryKvStore(),
  queue: new InProcessMessageQueue({ pollInterval: { milliseconds: 100 } }),
  origin: ORIGIN,
  allowPrivateAddress: true, // Tessera listens on 127.0.0.1 in the test
});

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== ME) return null;
    const keys = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: "Fedify peer",
      summary: "A Fedify test actor",
      inbox: ctx.getInboxUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      followers: ctx.getFollowersUri(identifier),
      url: ctx.getActorUri(identifier),
      publicKey: keys[0].cryptographicKey,
      assertionMethods: keys.map((key) => key.multikey),
    });
  })
  .mapHandle((_ctx, username) => (username === ME ? ME : null))
  .setKeyPairsDispatcher((_ctx, identifier) => (identifier === ME ? [keyPair] : []));

federation.setFollowersDispatcher("/users/{identifier}/followers", (_ctx, identifier) =>
  identifier === ME ? { items: [...followers.values()] } : null,
);

federation.setObjectDispatcher(Note, "/users/{identifier}/posts/{id}", (ctx, values) =>
  notes.get(ctx.getObjectUri(Note, values).href) ?? null,
);

async function record(activity) {
  received.push({
    type: activity.constructor.name,
    id: activity.id?.href ?? null,
    actor: activity.actorId?.href ?? null,
    json: await activity.toJsonLd(),
  });
}

function fresh(ctx, kind) {
  return new URL(`/users/${ME}/${kind}/${randomUUID()}`, ctx.origin);
}

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Follow, async (ctx, follow) => {
    await record(follow);
    if (ctx.parseUri(follow.objectId)?.identifier !== ME) return;
    const follower = await follow.getActor(ctx);
    if (follower?.id == null) return;
    followers.set(follower.id.href, follower);
    const accept = new Accept({
      id: fresh(ctx, "accepts"),
      actor: follow.objectId,
      object: follow,
    });
    await ctx.sendActivity({ identifier: ME }, follower, accept);
  })
  .on(Undo, async (ctx, undo) => {
    await record(undo);
    const inner = await undo.getObject(ctx);
    if (inner instanceof Follow && undo.actorId) followers.delete(undo.actorId.href);
  })
  .on(Activity, async (_ctx, activity) => {
    await record(activity); // Accept, Create, Like, Announce and everything else
  })
  .onError((_ctx, error) => console.error("inbox error:", error));

// --- the test's controls -------------------------------------------------------------------

async function lookup(ctx, url, what) {
  const found = await ctx.lookupObject(url);
  if (found == null) throw new Error(`cannot look up ${what} ${url}`);
  return found;
}

async function authorOf(ctx, noteId) {
  const note = await lookup(ctx, noteId, "note");
  return await lookup(ctx, note.attributionId.href, "author");
}

async function perform(ctx, command) {
  const me = ctx.getActorUri(ME);
  const send = (to, activity) =>
    ctx.sendActivity({ identifier: ME }, to, activity, { immediate: true });
  if (command.follow) {
    const target = await lookup(ctx, command.follow, "actor");
    const activity = new Follow({ id: fresh(ctx, "follows"), actor: me, object: target.id });
    await send(target, activity);
    return activity.id;
  }
  if (command.like) {
    const author = await authorOf(ctx, command.like);
    const object = new URL(command.like);
    const activity = new Like({ id: fresh(ctx, "likes"), actor: me, object });
    await send(author, activity);
    return activity.id;
  }
  if (command.announce) {
    const author = await authorOf(ctx, command.announce);
    const activity = new Announce({
      id: fresh(ctx, "announces"),
      actor: me,
      object: new URL(command.announce),
      to: PUBLIC_COLLECTION,
      ccs: [author.id, ctx.getFollowersUri(ME)],
    });
    await send(author, activity);
    return activity.id;
  }
  if (typeof command.post === "string") {
    const id = ctx.getObjectUri(Note, { identifier: ME, id: randomUUID() });
    const attachments = [];
    if (command.image) {
      const path = `/media/${randomUUID()}.png`;
      media.set(path, Buffer.from(command.image, "base64"));
      const url = new URL(path, ORIGIN);
      attachments.push(new Document({ url, mediaType: "image/png", name: command.alt ?? null }));
    }
    const note = new Note({
      id,
      attribution: me,
      content: `<p>${command.post.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)}</p>`,
      to: PUBLIC_COLLECTION,
      cc: ctx.getFollowersUri(ME),
      url: id,
      attachments,
      published: Temporal.Now.instant(),
    });
    notes.set(id.href, note);
    const activity = new Create({
      id: new URL(`${id.href}#create`),
      actor: me,
      object: note,
      to: PUBLIC_COLLECTION,
      cc: ctx.getFollowersUri(ME),
    });
    await ctx.sendActivity({ identifier: ME }, "followers", activity, { immediate: true });
    return note.id;
  }
  throw new Error(`unknown command ${JSON.stringify(command)}`);
}

// --- HTTP: node:http <-> the Fetch API Fedify speaks ---------------------------------------

const json = (data, status = 200) =>
  new Response(JSON.stringify(data), { status, headers: { "content-type": "application/json" } });

async function handle(request) {
  const url = new URL(request.url);
  if (url.pathname === "/_received") return json(received);
  if (url.pathname === "/_followers") return json([...followers.keys()]);
  if (media.has(url.pathname)) {
    return new Response(media.get(url.pathname), { headers: { "content-type": "image/png" } });
  }
  if (url.pathname === "/_do" && request.method === "POST") {
    const ctx = federation.createContext(request, undefined);
    try {
      const id = await perform(ctx, await request.json());
      return json({ id: id.href });
    } catch (error) {
      console.error("command failed:", error);
      return json({ error: String(error?.stack ?? error) }, 500);
    }
  }
  return await federation.fetch(request, { contextData: undefined });
}

const server = createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const hasBody = chunks.length > 0 && !["GET", "HEAD"].includes(req.method);
  const body = hasBody ? Buffer.concat(chunks) : undefined;
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    for (const v of [value].flat()) headers.append(name, v);
  }
  let response;
  try {
    const request = new Request(new URL(req.url, ORIGIN), { method: req.method, headers, body });
    response = await handle(request);
  } catch (error) {
    console.error(`${req.method} ${req.url} failed:`, error);
    response = json({ error: String(error) }, 500);
  }
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(Buffer.from(await response.arrayBuffer()));
});

server.listen(PORT, "127.0.0.1", () => console.log(`fedify peer listening on ${ORIGIN}`));
