// Switchboard JavaScript SDK: one ES module, no dependencies, no build step.
// Speaks switchboard.v1 revision 2 (Protocol/README.md) in browsers and in
// any runtime with a global WebSocket (or one passed in). Clients/js/README.md
// states the reconnect and resume rules implemented here.

/** The WebSocket subprotocol. */
export const PROTOCOL = "switchboard.v1";

/** Every failure the SDK reports: `code` is the hub's error code, or one of
 *  the SDK's own: `timeout`, `disconnected`, `closed`, `http`. */
export class SwitchboardError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = "SwitchboardError";
    this.code = code;
    Object.assign(this, extra);
  }
}

/** Storage with the Web Storage shape, in memory (the default outside browsers). */
export class MemoryStorage {
  #items = new Map();
  getItem(key) { return this.#items.has(key) ? this.#items.get(key) : null; }
  setItem(key, value) { this.#items.set(key, String(value)); }
  removeItem(key) { this.#items.delete(key); }
}

const DEFAULTS = {
  requestTimeout: 10_000,  // every request with an id: its answer, or a `timeout` error
  connectTimeout: 10_000,  // socket opened and `welcome` received
  pingInterval: 15_000,    // a `ping` this often proves the connection alive
  pingTimeout: 10_000,     // no `pong` within this: the connection is dead, reconnect
  backoffBase: 500,        // reconnect delay: random in [0, min(backoffMax, backoffBase · 2^attempt)]
  backoffMax: 15_000,
  pageLimit: 200,          // REST page size when a replay was not enough
};

// Send errors worth another try with the same client_msg_id; any other error
// drops the message from the outbox (`send_failed`).
const RETRYABLE = new Set(["unavailable", "overloaded", "rate_limited", "timeout", "internal"]);
// Closes that mean the token, not the network: only a token provider helps.
const AUTH_CLOSES = new Set([4001, 4002, 4003]);

/** A switchboard.v1 client: connection, resume, outbox, typed events. */
export class Switchboard {
  /**
   * @param {object} options
   *  url: the hub's WebSocket URL (default: this page's host);
   *  httpURL: its REST base (default: from url);
   *  token: a JWT string, or an async function returning a fresh one (then
   *         refreshed before expiry and on 4001/4002);
   *  storage: Web-Storage-like object for the outbox (default localStorage, else memory);
   *  notificationsSince: a stored notification cursor to resume from;
   *  WebSocket, fetch: implementations to use instead of the globals;
   *  and the timings of DEFAULTS above.
   */
  constructor(options = {}) {
    this.options = { ...DEFAULTS, ...options };
    this.url = options.url || defaultURL();
    this.httpURL = (options.httpURL || this.url.replace(/^ws/, "http")).replace(/\/+$/, "");
    this.storage = options.storage || (globalThis.localStorage ?? new MemoryStorage());
    this.state = "idle";        // idle | connecting | live | reconnecting | closed
    this.user = null;
    this.revision = null;
    this.expiresAt = null;      // the token's expiry, ms since the epoch
    this.#WebSocket = options.WebSocket || globalThis.WebSocket;
    this.#fetch = options.fetch || globalThis.fetch?.bind(globalThis);
    this.#notificationCursor = options.notificationsSince == null ? null : String(options.notificationsSince);
  }

  #WebSocket; #fetch;
  #listeners = new Map();    // event type → Set of functions
  #ws = null;
  #generation = 0;           // one per connection attempt: late callbacks of older ones are ignored
  #attempt = 0;
  #token = null;             // the latest token
  #timers = {};              // reconnect, connect, refresh, ping
  #nextID = 1;
  #pending = new Map();      // String(request id) → {frame, resolve, reject, timer, sent, channels?}
  #subs = new Map();         // channel → true, every channel this client holds (not user:)
  #subWaiters = new Map();   // channel → subscribe() calls made offline, waiting for the resume
  #seq = new Map();          // conversation → highest seq delivered: the resume cursor
  #held = new Map();         // channel → frames held while REST pages fill a gap
  #notificationCursor;       // highest notification id delivered (string)
  #seenNotifications = new Set();
  #outbox = new Map();       // client_msg_id → {client_msg_id, conversation, kind, body, queued_at}
  #inflight = new Set();     // client_msg_ids sent on this connection, not answered yet
  #waiters = new Map();      // client_msg_id → [{resolve, reject}]
  #outboxUser = null;        // whose outbox is loaded from storage
  #skew = 0;                 // server clock − local clock, from pongs
  #pinging = false;

  // ---- events -------------------------------------------------------------

  /** Calls `fn(payload)` for each event of `type`; returns a function that stops it.
   *  Types: state, welcome, message, ack, pending, send_failed, typing, receipt,
   *  presence, counter, notification, notice, publication, message_edited,
   *  message_deleted, subscribed, error, frame (every frame received). */
  on(type, fn) {
    if (!this.#listeners.has(type)) this.#listeners.set(type, new Set());
    this.#listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) { this.#listeners.get(type)?.delete(fn); }

  #emit(type, payload) {
    for (const fn of [...(this.#listeners.get(type) || [])]) {
      try { fn(payload); } catch (e) { queueMicrotask(() => { throw e; }); }
    }
  }

  #setState(state, detail = {}) {
    if (this.state === state && !detail.force) return;
    const previous = this.state;
    this.state = state;
    this.#emit("state", { state, previous, ...detail });
  }

  // ---- connection ---------------------------------------------------------

  /** Connects (and keeps reconnecting until `close()`). */
  connect() {
    if (this.state === "idle" || this.state === "closed") this.#open();
    return this;
  }

  /** Ends the connection for good; the outbox stays in storage. */
  close() {
    this.#setState("closed");
    this.#teardown(new SwitchboardError("closed", "the client was closed"));
    this.#rejectQueued(new SwitchboardError("closed", "the client was closed"));
  }

  /** Drops the current connection and reconnects at once (say, on the
   *  browser's `online` event); resumes like after any drop. */
  reconnect() {
    if (this.state === "closed" || this.state === "idle") return;
    this.#attempt = 0;
    this.#drop("reconnect requested", 0);
  }

  async #open() {
    const generation = ++this.#generation;
    clearTimeout(this.#timers.reconnect);
    this.#setState(this.#attempt === 0 && this.user === null ? "connecting" : "reconnecting", { attempt: this.#attempt });
    let token;
    try {
      token = await this.#currentToken(true);
    } catch (e) {
      if (generation !== this.#generation) return;
      this.#emit("error", new SwitchboardError("unauthorized", "the token provider failed: " + e.message, { cause: e }));
      return this.#scheduleReconnect();
    }
    if (generation !== this.#generation || this.state === "closed") return;
    this.#useOutboxOf(subjectOf(token));
    let ws;
    try {
      ws = new this.#WebSocket(this.url, PROTOCOL);
    } catch (e) {
      this.#emit("error", new SwitchboardError("disconnected", "cannot open " + this.url + ": " + e.message));
      return this.#scheduleReconnect();
    }
    this.#ws = ws;
    this.#timers.connect = setTimeout(() => this.#drop("no welcome within connectTimeout"), this.options.connectTimeout);
    // The token goes in the first frame, not the URL, so it stays out of
    // logs; `since` makes the hub replay missed notifications before any live one.
    const auth = { type: "auth", token };
    if (this.#notificationCursor !== null) auth.since = this.#notificationCursor;
    ws.onopen = () => { if (this.#ws === ws) ws.send(JSON.stringify(auth)); };
    ws.onmessage = (event) => {
      if (this.#ws !== ws) return;
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      if (frame && typeof frame === "object") this.#onFrame(frame);
    };
    ws.onerror = () => {};  // a close follows
    ws.onclose = (event) => { if (this.#ws === ws) this.#onClose(event.code, event.reason); };
  }

  #onClose(code, reason) {
    this.#teardown(new SwitchboardError("disconnected", "the connection closed (" + code + ")"));
    if (this.state === "closed") return;
    if (AUTH_CLOSES.has(code)) {
      const error = new SwitchboardError(code === 4002 ? "token_expired" : "unauthorized", reason || "closed " + code, { closeCode: code });
      this.#emit("error", error);
      // A fixed token will not get better: stop. A provider gets asked again.
      if (typeof this.options.token !== "function") return this.#setState("closed", { code, error });
    }
    this.#scheduleReconnect(code);
  }

  /** Treats the connection as dead now (no pong, no welcome, or asked). */
  #drop(reason, delay) {
    const ws = this.#ws;
    this.#ws = null;
    if (ws) { ws.onclose = ws.onmessage = ws.onopen = null; try { ws.close(); } catch {} }
    this.#teardown(new SwitchboardError("disconnected", reason));
    if (this.state !== "closed") this.#scheduleReconnect(1006, delay);
  }

  // Exponential backoff with full jitter: spreads a crowd of clients over
  // the whole window instead of having them all come back at once.
  #scheduleReconnect(code, delay) {
    const ceiling = Math.min(this.options.backoffMax, this.options.backoffBase * 2 ** Math.min(this.#attempt, 30));
    const wait = delay ?? Math.random() * ceiling;
    this.#attempt += 1;
    this.#setState("reconnecting", { attempt: this.#attempt, delay: wait, code, force: true });
    clearTimeout(this.#timers.reconnect);
    this.#timers.reconnect = setTimeout(() => this.#open(), wait);
  }

  /** Ends the current connection's timers and in-flight requests. */
  #teardown(error) {
    this.#generation += 1;
    for (const name of ["connect", "refresh", "ping"]) clearTimeout(this.#timers[name]);
    if (this.state === "closed") clearTimeout(this.#timers.reconnect);
    if (this.#ws) { const ws = this.#ws; this.#ws = null; ws.onclose = null; try { ws.close(1000); } catch {} }
    this.#held.clear();
    this.#inflight.clear();
    this.#pinging = false;
    // Requests already on the wire get no answer now; queued ones wait for the next connection.
    for (const [id, p] of this.#pending) if (p.sent) { this.#pending.delete(id); clearTimeout(p.timer); p.reject(error); }
  }

  #rejectQueued(error) {
    for (const [id, p] of this.#pending) { this.#pending.delete(id); clearTimeout(p.timer); p.reject(error); }
  }

  #live() { return this.state === "live" && this.#ws !== null; }

  async #currentToken(fresh) {
    const source = this.options.token;
    if (typeof source === "function") {
      if (fresh || !this.#token) this.#token = await source();
    } else {
      this.#token = source;
    }
    if (typeof this.#token !== "string" || !this.#token) throw new Error("no token");
    return this.#token;
  }

  // ---- frames -------------------------------------------------------------

  #onFrame(frame) {
    this.#emit("frame", frame);
    switch (frame.type) {
      case "welcome": return this.#onWelcome(frame);
      case "message": return this.#onMessage(frame);
      case "ack": return this.#answer(frame);
      case "subscribed": return this.#onSubscribed(frame);
      case "notification": return this.#onNotification(frame);
      case "error": return this.#onError(frame);
    }
    this.#answer(frame);
    if (!["pong", "refreshed", "unsubscribed"].includes(frame.type)) this.#emit(frame.type, frame);
  }

  #onWelcome(frame) {
    clearTimeout(this.#timers.connect);
    this.user = frame.user;
    this.revision = frame.revision ?? 1;
    this.#attempt = 0;
    this.#useOutboxOf(frame.user);
    this.#scheduleRefresh(frame.expires_at);
    // A fresh start resumes notifications from the newest one at auth time
    // (absent when the hub could not read it: then from the first one seen).
    if (this.#notificationCursor === null && frame.last_notification_id !== undefined) {
      this.#notificationCursor = frame.last_notification_id ?? "0";
    }
    this.#setState("live", { user: frame.user });
    this.#resubscribe();
    for (const entry of this.#outbox.values()) this.#transmit(entry);
    for (const [, p] of this.#pending) if (!p.sent) this.#write(p);
    this.#schedulePing();
    this.#emit("welcome", frame);
  }

  // Every held channel in one frame (contract point 5), each with its
  // cursor: conversations by seq; others have none.
  #resubscribe() {
    const entries = [...this.#subs.keys()].map((channel) => {
      const conversation = conversationOf(channel);
      return conversation !== null && this.#seq.has(conversation) ? { channel, since: this.#seq.get(conversation) } : { channel };
    });
    for (let i = 0; i < entries.length; i += 100) {
      const batch = entries.slice(i, i + 100);
      this.#request({ type: "subscribe", channels: batch }, { channels: new Map(batch.map((e) => [e.channel, null])) })
        .catch(() => {});  // per-channel answers settle the channels; a timeout checks liveness
    }
  }

  #onSubscribed(frame) {
    const conversation = conversationOf(frame.channel);
    if (conversation !== null) {
      const cursor = this.#seq.get(conversation);
      if (cursor === undefined || frame.last_seq < cursor) {
        // Live from here (a first subscribe without `since`), or a cursor
        // from the future (the hub's position wins).
        this.#seq.set(conversation, frame.last_seq ?? 0);
      } else if (frame.recovered === false) {
        this.#fillGap(frame.channel, (generation) => this.#pageMessages(conversation, generation));
      }
    } else if (frame.channel === "user:" + this.user && frame.recovered === false) {
      this.#fillGap(frame.channel, (generation) => this.#pageNotifications(generation));
    }
    this.#answer(frame);
    this.#settleSubscribe(frame.channel, frame);
    this.#emit("subscribed", frame);
  }

  #onError(frame) {
    const error = new SwitchboardError(frame.code, frame.message, { frame, retryAfter: frame.retry_after });
    if (!this.#answer(frame, error)) this.#emit("error", error);
  }

  /** Settles the request a frame answers; false if it answers none. */
  #answer(frame, error) {
    if (frame.id === undefined || frame.id === null) return false;
    const p = this.#pending.get(String(frame.id));
    if (!p) return false;
    if (p.channels && frame.channel) {
      // A batch subscribe: one answer per channel, all with the frame's id.
      if (!p.channels.has(frame.channel)) return false;
      p.channels.delete(frame.channel);
      if (error) this.#subscribeFailed(frame.channel, error);
      if (p.channels.size > 0) return true;
    }
    this.#pending.delete(String(frame.id));
    clearTimeout(p.timer);
    if (error) p.reject(error);  // a single request's, or a whole batch refused (bad_frame)
    else if (p.channels) p.resolve();
    else p.resolve(frame);
    return true;
  }

  #subscribeFailed(channel, error) {
    // Refused for good (forbidden, not_found, …): no longer held.
    if (!RETRYABLE.has(error.code) && error.code !== "disconnected") this.#subs.delete(channel);
    this.#settleSubscribe(channel, null, error);
    this.#emit("error", Object.assign(error, { channel }));
  }

  // subscribe() calls made while offline wait for the resume's answer.
  #settleSubscribe(channel, frame, error) {
    for (const w of this.#subWaiters.get(channel) || []) {
      clearTimeout(w.timer);
      if (error) w.reject(error); else w.resolve(frame);
    }
    this.#subWaiters.delete(channel);
  }

  // ---- requests -----------------------------------------------------------

  /** Sends a frame with a fresh `id` and resolves with its answer; rejects
   *  with the hub's `error`, with `timeout` after `options.timeout` ms, or
   *  with `disconnected` if the connection drops before the answer. Sent at
   *  once when live, else when the connection is back (the timeout runs from now). */
  request(frame, { timeout } = {}) {
    return this.#request(frame, { timeout });
  }

  #request(frame, { timeout, channels } = {}) {
    return new Promise((resolve, reject) => {
      const id = this.#nextID++;
      const p = { frame: { ...frame, id }, resolve, reject, sent: false, channels };
      p.timer = setTimeout(() => {
        this.#pending.delete(String(id));
        reject(new SwitchboardError("timeout", `no answer to ${frame.type} within ${timeout ?? this.options.requestTimeout} ms`));
        if (p.sent) this.#checkAlive();  // is anybody there?
      }, timeout ?? this.options.requestTimeout);
      this.#pending.set(String(id), p);
      if (this.#live()) this.#write(p);
    });
  }

  #write(p) {
    p.sent = true;
    this.#ws.send(JSON.stringify(p.frame));
  }

  /** Sends a frame that has no answer (typing); false when not connected. */
  #fire(frame) {
    if (!this.#live()) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  // ---- liveness and token refresh -----------------------------------------

  #schedulePing() {
    clearTimeout(this.#timers.ping);
    this.#timers.ping = setTimeout(() => { this.#checkAlive(); this.#schedulePing(); }, this.options.pingInterval);
  }

  /** A ping that must be answered within pingTimeout, or the connection is dropped. */
  #checkAlive() {
    if (this.#pinging || !this.#live()) return;
    this.#pinging = true;
    const generation = this.#generation;
    const sent = Date.now();
    this.#request({ type: "ping" }, { timeout: this.options.pingTimeout }).then((pong) => {
      if (typeof pong.time === "number") this.#skew = pong.time - (sent + Date.now()) / 2;
    }, (error) => {
      if (error.code === "timeout" && generation === this.#generation) this.#drop("no pong within pingTimeout");
    }).finally(() => { if (generation === this.#generation) this.#pinging = false; });
  }

  #scheduleRefresh(expiresAt) {
    clearTimeout(this.#timers.refresh);
    if (expiresAt === null || expiresAt === undefined) { this.expiresAt = null; return; }
    this.expiresAt = expiresAt;
    if (typeof this.options.token !== "function") return;
    // A third of the time left, at most a minute, before expiry (server clock).
    const left = this.expiresAt - (Date.now() + this.#skew);
    const delay = Math.max(0, left - Math.min(60_000, left / 3));
    // Timers overflow past 2^31 − 1 ms (~24.8 days) and would fire at once.
    this.#timers.refresh = setTimeout(() => this.#refresh(), Math.min(delay, 2_147_483_647));
  }

  async #refresh() {
    const generation = this.#generation;
    try {
      const token = await this.#currentToken(true);
      if (generation !== this.#generation) return;
      const answer = await this.#request({ type: "refresh", token });
      this.#scheduleRefresh(answer.expires_at);
      this.#emit("refreshed", { expiresAt: this.expiresAt });
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#emit("error", error instanceof SwitchboardError ? error : new SwitchboardError("unauthorized", error.message));
      // Try again soon; at expiry the hub closes 4002 and the reconnect asks the provider anew.
      this.#timers.refresh = setTimeout(() => this.#refresh(), 5_000);
    }
  }

  // ---- subscriptions ------------------------------------------------------

  /** Holds `channel` (resumed after every reconnect) and subscribes now if
   *  connected. For a conversation, `since` is the last seq the app has: the
   *  hub replays what follows (never what this client delivered already).
   *  Resolves with `subscribed`. */
  subscribe(channel, { since } = {}) {
    const conversation = conversationOf(channel);
    // A cursor the client has already (a subscription held) only moves
    // forward: what it delivered is not delivered again.
    if (conversation !== null && since !== undefined && !(this.#seq.get(conversation) >= since)) this.#seq.set(conversation, since);
    this.#subs.set(channel, true);
    if (!this.#live()) {
      // Offline: the resume after the next welcome subscribes it.
      return new Promise((resolve, reject) => {
        const w = { resolve, reject };
        w.timer = setTimeout(() => {
          this.#subWaiters.set(channel, (this.#subWaiters.get(channel) || []).filter((x) => x !== w));
          reject(new SwitchboardError("timeout", `not subscribed to ${channel} within ${this.options.requestTimeout} ms`));
        }, this.options.requestTimeout);
        if (!this.#subWaiters.has(channel)) this.#subWaiters.set(channel, []);
        this.#subWaiters.get(channel).push(w);
      });
    }
    const frame = { type: "subscribe", channel };
    if (conversation !== null && this.#seq.has(conversation)) frame.since = this.#seq.get(conversation);
    return this.#request(frame).catch((error) => { this.#subscribeFailed(channel, error); throw error; });
  }

  /** Stops holding `channel`. */
  unsubscribe(channel) {
    this.#subs.delete(channel);
    const conversation = conversationOf(channel);
    if (conversation !== null) this.#seq.delete(conversation);
    this.#held.delete(channel);
    if (!this.#live()) return Promise.resolve(null);
    return this.#request({ type: "unsubscribe", channel });
  }

  /** The resume positions: {conversations: {id: seq}, notifications: id}. */
  cursors() {
    return { conversations: Object.fromEntries(this.#seq), notifications: this.#notificationCursor };
  }

  // A replay could not cover the gap: page REST from the cursor while live
  // frames of the channel wait, then let them through (dedupe drops overlap).
  async #fillGap(channel, pageFrom) {
    const generation = this.#generation;
    this.#held.set(channel, []);
    try {
      await pageFrom(generation);
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#emit("error", error);
      return this.#drop("paging the gap failed");  // the next resume tries again from the cursor
    }
    if (generation !== this.#generation) return;
    const held = this.#held.get(channel) || [];
    this.#held.delete(channel);
    for (const frame of held) {
      if (frame.type === "message") this.#deliverMessage(frame); else this.#deliverNotification(frame);
    }
  }

  async #pageMessages(conversation, generation) {
    for (;;) {
      const after = this.#seq.get(conversation) ?? 0;
      const page = await this.api("GET", `/v1/conversations/${encodeURIComponent(conversation)}/messages?after=${after}&limit=${this.options.pageLimit}`);
      if (generation !== this.#generation) return;
      for (const m of page.messages) this.#deliverMessage({ type: "message", ...m });
      if (page.messages.length < this.options.pageLimit) return;
    }
  }

  async #pageNotifications(generation) {
    for (;;) {
      const after = this.#notificationCursor ?? "0";
      const page = await this.api("GET", `/v1/notifications?after=${after}&limit=${this.options.pageLimit}`);
      if (generation !== this.#generation) return;
      for (const n of page.notifications) this.#deliverNotification({ type: "notification", ...n });
      if (page.notifications.length < this.options.pageLimit) return;
    }
  }

  // ---- chat ---------------------------------------------------------------

  #onMessage(frame) {
    const channel = "conversation:" + frame.conversation;
    const held = this.#held.get(channel);
    if (held) return held.push(frame);
    // A hole before this seq (in a cluster, a node repairing what its link
    // lost delivers it late): page it from REST while live frames wait,
    // rather than move the cursor past messages then dropped as seen.
    const cursor = this.#seq.get(frame.conversation);
    if (cursor !== undefined && frame.seq > cursor + 1) {
      this.#fillGap(channel, (generation) => this.#pageMessages(frame.conversation, generation));
      return this.#held.get(channel).push(frame);
    }
    this.#deliverMessage(frame);
  }

  // Once per (conversation, seq), in seq order: what is at or below the
  // cursor was delivered already (a replay overlapping live, a REST page).
  #deliverMessage(m) {
    const cursor = this.#seq.get(m.conversation) ?? 0;
    if (m.seq <= cursor) return;
    this.#seq.set(m.conversation, m.seq);
    // One's own message, echoed: it proves the commit as much as the ack does.
    if (m.sender === this.user && this.#outbox.has(m.client_msg_id)) {
      this.#settle(m.client_msg_id, { conversation: m.conversation, message_id: m.message_id, seq: m.seq, created_at: m.created_at });
    }
    this.#emit("message", { ...m, own: m.sender === this.user });
  }

  /** Queues a message in the persistent outbox and sends it (now, or when
   *  connected), again with the same client_msg_id after every reconnect
   *  until acked: the hub stores it once. Resolves with the ack; rejects if
   *  the hub refuses it for good (`send_failed`). */
  send(conversation, body, { kind = "text", clientMsgId } = {}) {
    const entry = { client_msg_id: clientMsgId || newID(), conversation: String(conversation), kind, body, queued_at: Date.now() };
    const acked = this.#await(entry.client_msg_id);
    this.#outbox.set(entry.client_msg_id, entry);
    this.#persist();
    this.#emit("pending", { ...entry });
    if (this.#live()) this.#transmit(entry);
    return acked;
  }

  /** The outbox: messages sent but not acked yet, oldest first. */
  pending() { return [...this.#outbox.values()].map((e) => ({ ...e })); }

  /** A promise for the ack of an outbox message (say, one restored from storage). */
  #await(clientMsgId) {
    return new Promise((resolve, reject) => {
      if (!this.#waiters.has(clientMsgId)) this.#waiters.set(clientMsgId, []);
      this.#waiters.get(clientMsgId).push({ resolve, reject });
    });
  }

  #transmit(entry) {
    const id = entry.client_msg_id;
    if (this.#inflight.has(id)) return;
    this.#inflight.add(id);
    const frame = { type: "send", conversation: entry.conversation, client_msg_id: id, kind: entry.kind, body: entry.body };
    this.#request(frame).then((ack) => {
      this.#inflight.delete(id);
      this.#settle(id, ack);
    }, (error) => {
      this.#inflight.delete(id);
      if (!this.#outbox.has(id) || error.code === "disconnected" || error.code === "closed") return;  // resent on welcome
      if (RETRYABLE.has(error.code)) {
        const generation = this.#generation;
        const delay = error.retryAfter ? error.retryAfter * 1000 : 1000;
        setTimeout(() => { if (generation === this.#generation && this.#outbox.has(id) && this.#live()) this.#transmit(entry); }, delay);
        return;
      }
      this.#outbox.delete(id);
      this.#persist();
      for (const w of this.#waiters.get(id) || []) w.reject(error);
      this.#waiters.delete(id);
      this.#emit("send_failed", { ...entry, error });
    });
  }

  // The ack and one's own echoed message are one event: whichever comes
  // first settles the outbox entry, the other finds nothing to settle.
  #settle(clientMsgId, ack) {
    if (!this.#outbox.has(clientMsgId)) return;
    this.#outbox.delete(clientMsgId);
    this.#persist();
    const merged = {
      client_msg_id: clientMsgId, conversation: ack.conversation, message_id: ack.message_id, seq: ack.seq,
      created_at: ack.created_at, duplicate: ack.duplicate === true,
    };
    for (const w of this.#waiters.get(clientMsgId) || []) w.resolve(merged);
    this.#waiters.delete(clientMsgId);
    this.#emit("ack", merged);
  }

  #useOutboxOf(user) {
    if (!user || this.#outboxUser === user) return;
    this.#outboxUser = user;
    let stored = [];
    try { stored = JSON.parse(this.storage.getItem(this.#storageKey()) || "[]"); } catch { stored = []; }
    const unsent = [...this.#outbox.values()];
    this.#outbox.clear();
    for (const entry of [...stored, ...unsent].sort((a, b) => a.queued_at - b.queued_at)) {
      if (entry && typeof entry.client_msg_id === "string") this.#outbox.set(entry.client_msg_id, entry);
    }
    for (const id of this.#outbox.keys()) if (!this.#waiters.has(id)) this.#await(id).catch(() => {});
    this.#persist();
  }

  #storageKey() { return "switchboard.outbox:" + this.#outboxUser; }

  #persist() {
    if (!this.#outboxUser) return;  // written once the user is known
    try {
      if (this.#outbox.size === 0) this.storage.removeItem(this.#storageKey());
      else this.storage.setItem(this.#storageKey(), JSON.stringify([...this.#outbox.values()]));
    } catch (e) {
      this.#emit("error", new SwitchboardError("storage", "the outbox could not be stored: " + e.message));
    }
  }

  /** Tells the other subscribers this user is (not) typing; no answer. */
  typing(conversation, active = true) {
    return this.#fire({ type: "typing", conversation: String(conversation), active });
  }

  /** Moves the read position; resolves with the `receipt`. */
  read(conversation, seq) { return this.#request({ type: "read", conversation: String(conversation), seq }); }

  /** Who of `users` is online; resolves with the `presence` answer. */
  presence(users) { return this.#request({ type: "presence", users }); }

  // ---- notifications ------------------------------------------------------

  #onNotification(frame) {
    const held = this.#held.get("user:" + this.user);
    if (held) return held.push(frame);
    this.#deliverNotification(frame);
  }

  // Once per id; the cursor is the highest id delivered.
  #deliverNotification(n) {
    const id = String(n.notification_id);
    if (this.#seenNotifications.has(id)) return;
    this.#seenNotifications.add(id);
    if (this.#seenNotifications.size > 2000) this.#seenNotifications.delete(this.#seenNotifications.values().next().value);
    if (this.#notificationCursor === null || idAfter(id, this.#notificationCursor)) this.#notificationCursor = id;
    this.#emit("notification", { ...n, notification_id: id });
  }

  // ---- REST ---------------------------------------------------------------

  /** A REST call with this client's token; resolves with the JSON answer,
   *  rejects with a SwitchboardError (`status` set) or `timeout`. */
  async api(method, path, body) {
    const token = await this.#currentToken(false);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.options.requestTimeout);
    try {
      const response = await this.#fetch(this.httpURL + path, {
        method, signal: abort.signal,
        headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = await response.json().catch(() => ({}));
      if (!response.ok) {
        const e = json.error || {};
        throw new SwitchboardError(e.code || "http", e.message || response.statusText, { status: response.status });
      }
      return json;
    } catch (error) {
      if (error.name === "AbortError") throw new SwitchboardError("timeout", `${method} ${path}: no answer within ${this.options.requestTimeout} ms`);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

// ---- helpers --------------------------------------------------------------

function defaultURL() {
  const l = globalThis.location;
  if (!l) throw new Error("Switchboard: pass `url` outside a browser");
  return (l.protocol === "https:" ? "wss://" : "ws://") + l.host + "/";
}

function conversationOf(channel) {
  return channel.startsWith("conversation:") ? channel.slice("conversation:".length) : null;
}

/** Whether decimal id `a` is greater than `b` (ids may pass 2^53). */
function idAfter(a, b) {
  return a.length !== b.length ? a.length > b.length : a > b;
}

function newID() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
}

/** The `sub` of a JWT (unverified: only to find the user's stored outbox early). */
function subjectOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part + "=".repeat((4 - (part.length % 4)) % 4)), (c) => c.charCodeAt(0));
    const sub = JSON.parse(new TextDecoder().decode(bytes)).sub;
    return typeof sub === "string" ? sub : null;
  } catch {
    return null;
  }
}
