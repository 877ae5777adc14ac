// The SDK over a fake WebSocket and fetch (node --test Clients/js/test): a
// message that arrives after a hole in its conversation's seqs (a cluster
// node repairing what its link lost delivers the missing one late) must not
// move the cursor past the hole — the hole is paged from REST first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Switchboard } from "../switchboard.js";

class FakeSocket {
  static last = null;
  constructor(url, protocol) { this.url = url; this.protocol = protocol; this.sent = []; FakeSocket.last = this; queueMicrotask(() => this.onopen?.()); }
  send(text) { this.sent.push(JSON.parse(text)); }
  close() {}
  push(frame) { this.onmessage?.({ data: JSON.stringify(frame) }); }
}

const tick = () => new Promise((r) => setTimeout(r, 0));
const message = (seq) => ({ type: "message", conversation: "42", message_id: String(100 + seq), seq, sender: "bob",
  client_msg_id: "c" + seq, kind: "text", body: { text: "m" + seq }, created_at: 1795281672239 + seq });

async function liveClient(history) {
  const pages = [];
  const fetch = async (url) => {
    pages.push(url);
    const after = Number(new URL(url).searchParams.get("after"));
    const messages = history.filter((m) => m.seq > after);
    return { ok: true, status: 200, json: async () => ({ messages }), text: async () => JSON.stringify({ messages }) };
  };
  const client = new Switchboard({ url: "ws://127.0.0.1:1/", token: "t", WebSocket: FakeSocket, fetch, pingInterval: 1e9 });
  const seen = [];
  client.on("message", (m) => seen.push(m.seq));
  client.connect();
  await tick();
  const ws = FakeSocket.last;
  ws.push({ type: "welcome", connection: "1", user: "alice", role: "user", channel: "user:alice", expires_at: Date.now() + 3_600_000, protocol: "switchboard.v1", revision: 2, last_notification_id: null });
  const subscribed = client.subscribe("conversation:42", { since: 10 });
  await tick();
  const frame = ws.sent.find((f) => f.type === "subscribe");
  ws.push({ type: "subscribed", id: frame.id, channel: "conversation:42", last_seq: 10, recovered: true });
  await subscribed;
  return { client, ws, seen, pages };
}

test("a message after a hole waits while the hole is paged from REST, and nothing is lost or shown twice", async (t) => {
  const history = [11, 12, 13].map(message);
  const { client, ws, seen, pages } = await liveClient(history);
  t.after(() => client.close());
  ws.push(message(11));
  ws.push(message(13));  // 12 is late: its node is repairing it
  for (let i = 0; i < 10 && seen.length < 3; i++) await tick();
  ws.push(message(12));  // the repair's copy: seen already
  await tick();
  assert.deepEqual(seen, [11, 12, 13]);
  assert.equal(pages.length, 1, "one REST page for the hole");
  assert.match(pages[0], /conversations\/42\/messages\?after=11/);
});

test("messages in order page nothing", async (t) => {
  const { client, ws, seen, pages } = await liveClient([]);
  t.after(() => client.close());
  for (const seq of [11, 12, 13]) ws.push(message(seq));
  await tick();
  assert.deepEqual(seen, [11, 12, 13]);
  assert.equal(pages.length, 0);
});
