// Two tenants' 8x8 conversations in parallel against ONE cxemu (`CXEMU_URL`), each moving only its own
// timeline (`?tenant=`): an agent never joins before its join delay, and each tenant's webhook bodies are
// the same whichever tenant goes first and however the other moves its time. Nothing but Node's built-in
// test runner and fetch. `CXEMU_DIGEST_FILE`, when set, receives a digest of every body, so that a caller
// can check two runs against each other.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";

const BASE = process.env.CXEMU_URL;
if (!BASE) throw new Error("set CXEMU_URL to a cxemu started with --clock virtual");
const START = Date.parse("2026-01-01T00:00:00Z");

async function call(method, path, { json, query, headers } = {}) {
  const url = new URL(path, BASE);
  for (const [key, value] of query ?? []) url.searchParams.append(key, value);
  const response = await fetch(url, {
    method,
    headers: { ...(json === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const text = await response.text();
  assert.ok(response.status < 300, `${method} ${path} -> ${response.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

const advance = (tenant, seconds) =>
  call("POST", "/_emulator/clock/advance", { query: [["tenant", tenant]], json: { seconds } });

const deliveries = async (tenant) =>
  (await call("GET", "/_emulator/deliveries", { query: [["tenant", tenant], ["limit", "0"]] })).deliveries;

const joined = async (tenant) =>
  (await deliveries(tenant)).filter((d) => d.event === "MEMBERS_CHANGED" && d.body.data.change === "joined");

// One tenant's conversation; `steps` is how it moves its own time until the agent is due.
async function conversation(tenant, steps) {
  await call("POST", "/_emulator/reset", { query: [["tenant", tenant]] });
  const creds = (await call("POST", "/_emulator/tenants", { json: { tenant, vendors: ["eightbyeight"] } }))
    .credentials.eightbyeight;
  const headers = { "x-api-key": creds.apiKey };
  const started = await call("POST", "/chat-gateway/v1/conversations", {
    headers,
    json: { channelId: "1", user: { name: "Ann" }, assignment: { type: "queue", id: "100" } },
  });
  for (const seconds of steps) await advance(tenant, seconds); // 3.199 s in all: QUEUED at 0.2, join 3 s later
  assert.deepEqual(await joined(tenant), [], `${tenant}: an agent joined before join_delay`);
  const step = await advance(tenant, 0.001);
  assert.equal(step.timelines[tenant], (START + 3200) / 1000);
  const [join] = await joined(tenant);
  assert.equal(join.body.timestamp, START + 3200);
  await call("POST", `/chat-gateway/v1/conversations/${started.conversationId}/messages`, {
    headers,
    json: { authorType: "user", text: "What is my balance?" },
  });
  await call("POST", "/_emulator/clock/run-until-idle", { query: [["tenant", tenant]] });
  return (await deliveries(tenant)).map((d) => JSON.stringify([d.event, d.body, d.attempts.map((a) => a.at)]));
}

const SMALL = [0.1, 0.1, 0.5, 1, 1.499];
const LARGE = [3.199];
const rounds = [];

test("two tenants in parallel, each on its own timeline", async () => {
  const [a, b] = await Promise.all([conversation("node-a", SMALL), conversation("node-b", LARGE)]);
  assert.ok(a.length >= 8, `node-a got ${a.length} webhooks`);
  rounds.push({ a, b });
});

test("again, the other way round: the same bodies", async () => {
  const [b, a] = await Promise.all([conversation("node-b", SMALL), conversation("node-a", LARGE)]);
  assert.deepEqual(a, rounds[0].a);
  assert.deepEqual(b, rounds[0].b);
  const digest = createHash("sha256").update(JSON.stringify(rounds[0])).digest("hex");
  if (process.env.CXEMU_DIGEST_FILE) writeFileSync(process.env.CXEMU_DIGEST_FILE, digest);
});
