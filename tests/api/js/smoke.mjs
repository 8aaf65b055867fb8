// Drives Tessera's Mastodon client API with two real JS client libraries, masto and
// megalodon. Run by tests/api/test_js_clients.py in two phases:
//
//   node smoke.mjs register BASE CALLBACK
//     registers one app with each library; prints {masto: {...}, megalodon: {...}}
//   node smoke.mjs run BASE CALLBACK CREDENTIALS_JSON IMAGE_PATH
//     (CREDENTIALS_JSON adds the authorization code the test obtained for each app)
//     exchanges the codes for tokens and uses each library for a short session;
//     prints what it saw as JSON on the last line.
import { readFileSync, createReadStream } from "node:fs";
import { createOAuthAPIClient, createRestAPIClient } from "masto";
import megalodon from "megalodon";

const generator = megalodon.default ?? megalodon;

const [, , phase, base, callback, credentialsJson, imagePath] = process.argv;
const SCOPES = ["read", "write", "follow"];

async function register() {
  const anonymous = createRestAPIClient({ url: base });
  const app = await anonymous.v1.apps.create({
    clientName: "masto smoke test",
    redirectUris: callback,
    scopes: SCOPES.join(" "),
  });
  const mega = await generator("mastodon", base).registerApp("megalodon smoke test", {
    scopes: SCOPES,
    redirect_uris: callback,
  });
  return {
    masto: { client_id: app.clientId, client_secret: app.clientSecret },
    megalodon: { client_id: mega.client_id, client_secret: mega.client_secret, url: mega.url },
  };
}

async function withMasto(creds, image) {
  const oauth = createOAuthAPIClient({ url: base });
  const token = await oauth.token.create({
    grantType: "authorization_code",
    clientId: creds.client_id,
    clientSecret: creds.client_secret,
    redirectUri: callback,
    code: creds.code,
    scope: SCOPES.join(" "),
  });
  const masto = createRestAPIClient({ url: base, accessToken: token.accessToken });
  const me = await masto.v1.accounts.verifyCredentials();
  const instance = await masto.v2.instance.fetch();
  const media = await masto.v2.media.create({
    file: new Blob([image], { type: "image/png" }),
    description: "uploaded by masto",
  });
  const status = await masto.v1.statuses.create({
    status: "Hello from masto #js",
    mediaIds: [media.id],
  });
  const home = await masto.v1.timelines.home.list({ limit: 5 });
  const liked = await masto.v1.statuses.$select(status.id).favourite();
  const boosted = await masto.v1.statuses.$select(status.id).reblog();
  const edited = await masto.v1.statuses.$select(status.id).update({ status: "Edited by masto" });
  const notifications = await masto.v1.notifications.list();
  return {
    username: me.username,
    maxMedia: instance.configuration.statuses.maxMediaAttachments,
    mediaDescription: media.description,
    statusId: status.id,
    homeIds: home.map((s) => s.id),
    favourited: liked.favourited,
    reblogOf: boosted.reblog?.id ?? null,
    edited: edited.content,
    notifications: notifications.length,
  };
}

async function withMegalodon(creds, imagePath) {
  const anonymous = generator("mastodon", base);
  const token = await anonymous.fetchAccessToken(
    creds.client_id,
    creds.client_secret,
    creds.code,
    callback,
  );
  const client = generator("mastodon", base, token.access_token);
  const me = await client.verifyAccountCredentials();
  const instance = await client.getInstance();
  const media = await client.uploadMedia(createReadStream(imagePath), {
    description: "uploaded by megalodon",
  });
  const status = await client.postStatus("Hello from megalodon", { media_ids: [media.data.id] });
  const home = await client.getHomeTimeline({ limit: 5 });
  const liked = await client.favouriteStatus(status.data.id);
  const notifications = await client.getNotifications();
  const removed = await client.deleteStatus(status.data.id);
  return {
    username: me.data.username,
    instanceUri: instance.data.uri,
    mediaDescription: media.data.description,
    statusId: status.data.id,
    homeIds: home.data.map((s) => s.id),
    favourited: liked.data.favourited,
    notifications: notifications.data.length,
    deleted: removed.status,
  };
}

async function run() {
  const credentials = JSON.parse(credentialsJson);
  const image = readFileSync(imagePath);
  return {
    masto: await withMasto(credentials.masto, image),
    megalodon: await withMegalodon(credentials.megalodon, imagePath),
  };
}

try {
  const result = phase === "register" ? await register() : await run();
  console.log(JSON.stringify(result));
} catch (error) {
  console.error(error?.stack ?? String(error));
  if (error?.response) console.error(JSON.stringify(error.response.data ?? error.response));
  process.exit(1);
}
