// Switchboard dashboard: live QR counters and a chat client, over the
// switchboard.v1 protocol (Protocol/README.md). No build step, no
// dependencies: this file is also the reference browser client.
"use strict";

// A token from ?token= leaves the address bar (history, screenshots, shared
// links) as soon as this script runs, before anything else can read the URL.
const tokenFromURL = new URLSearchParams(location.search).get("token");
if (tokenFromURL) history.replaceState(null, "", location.pathname + location.hash);

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

const state = {
  token: null, user: null, ws: null, attempt: 0, reconnectTimer: null, nextId: 1,
  codes: new Map(),          // qr id → last counter entry
  conversations: new Map(),  // id → summary from REST, kept current by frames
  active: null,              // open conversation id
  live: null,                // the open conversation once its subscription is confirmed
  lastSeq: new Map(),        // conversation → highest seq shown
  outbox: new Map(),         // client_msg_id → {conversation, text}: sent, not acked yet
  typingSentAt: 0, typingUsers: new Map(), presence: new Map(), readBy: new Map(),
};

// ---- connection -----------------------------------------------------------

function setStatus(name, text) {
  $("status").dataset.state = name;
  $("status").textContent = text || name;
}

function wsURL() {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/";
}

function send(frame) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) { state.ws.send(JSON.stringify(frame)); return true; }
  return false;
}

function request(frame) { frame.id = String(state.nextId++); send(frame); return frame.id; }

function connect() {
  clearTimeout(state.reconnectTimer);
  setStatus(state.attempt ? "reconnecting" : "connecting", state.attempt ? "reconnecting…" : "connecting…");
  // The token goes in the first frame, not the URL, so it stays out of logs.
  const ws = new WebSocket(wsURL(), "switchboard.v1");
  state.ws = ws;
  // With `since`, the hub replays the notifications missed while away.
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", id: "auth", token: state.token, since: notificationSince() }));
  ws.onmessage = (event) => {
    try {
      const frame = JSON.parse(event.data);
      onFrame(frame);
    } catch (e) { console.error(e); }
  };
  ws.onclose = (event) => {
    if (state.ws !== ws) return;
    state.ws = null;
    if ([4001, 4002, 4003].includes(event.code)) {
      setStatus("rejected", event.code === 4002 ? "token expired" : "token rejected");
      signOut(event.code === 4002 ? "The token expired; paste a new one." : "The hub rejected the token.");
      return;
    }
    // Exponential backoff with jitter, capped at 15 s.
    const delay = Math.min(15000, 500 * 2 ** Math.min(state.attempt, 5)) * (0.5 + Math.random() / 2);
    state.attempt += 1;
    setStatus("reconnecting", "offline, retrying in " + Math.ceil(delay / 1000) + " s");
    state.reconnectTimer = setTimeout(connect, delay);
  };
}

function onWelcome(frame) {
  state.attempt = 0;
  state.user = frame.user;
  $("who").textContent = frame.user;
  setStatus("live", "live");
  send({ type: "subscribe", id: "codes", channel: "scans:owner:" + frame.user });
  for (const qr of state.codes.keys()) send({ type: "subscribe", channel: "scans:" + qr });
  loadConversations();
  notificationsWelcome();
  if (state.active) { state.live = null; subscribeConversation(state.active); }
  // Whatever was sent but not acked goes again with the same client_msg_id:
  // the hub acks it once and never delivers it twice.
  for (const [clientID, pending] of state.outbox) {
    send({ type: "send", id: clientID, conversation: pending.conversation, client_msg_id: clientID,
           kind: "text", body: { text: pending.text } });
  }
}

function onFrame(frame) {
  switch (frame.type) {
    case "welcome": return onWelcome(frame);
    case "counter": return frame.codes.forEach(renderCode);
    case "notification": return onNotification(frame);
    case "subscribed": return onSubscribed(frame);
    case "message": return onMessage(frame);
    case "ack": return onAck(frame);
    case "notice": return onNotice(frame);
    case "typing": return onTyping(frame);
    case "receipt": return onReceipt(frame);
    case "presence": return onPresence(frame);
    case "message_edited": case "message_deleted": return onChanged(frame);
    case "error":
      if (frame.id && state.outbox.has(frame.id) && ["unavailable", "overloaded"].includes(frame.code)) {
        setTimeout(() => onWelcome({ user: state.user }), 1000);  // retryable: resend later
      }
      state.errors = (state.errors || []).slice(-19).concat([frame]);  // the last 20, for debugging
      console.warn("hub error", frame.code, frame.message);
  }
}

// ---- QR counters ------------------------------------------------------------

function sparkline(minutes) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 60 20");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-label", "scans per minute, last hour");
  const max = Math.max(1, ...minutes);
  const pts = minutes.map((n, i) => `${i * 60 / Math.max(1, minutes.length - 1)},${19 - (n / max) * 18}`);
  const area = document.createElementNS(ns, "polygon");
  area.setAttribute("points", `0,20 ${pts.join(" ")} 60,20`);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", pts.join(" "));
  svg.append(area, line);
  return svg;
}

function chips(list) {
  const box = el("div", "chips");
  for (const item of list) box.append(el("span", "chip", `${item.name} ${item.count}`));
  return box;
}

function renderCode(code) {
  state.codes.set(code.qr, code);
  $("codes-empty").hidden = true;
  let card = document.querySelector(`.qr-card[data-qr="${CSS.escape(code.qr)}"]`);
  if (!card) {
    card = el("article", "qr-card");
    card.dataset.qr = code.qr;
    $("codes").append(card);
  }
  const numbers = el("div", "numbers");
  numbers.append(el("span", "total", String(code.total)), el("span", "today", `${code.today} today`));
  card.replaceChildren(el("div", "label", code.label || "code " + code.qr), numbers, sparkline(code.minutes),
                       chips(code.devices), chips(code.countries));
  card.title = `QR ${code.qr}`;
  card.classList.add("flash");
  setTimeout(() => card.classList.remove("flash"), 400);
}

// ---- REST -------------------------------------------------------------------

async function api(method, path, body) {
  const response = await fetch(path, {
    method, headers: { "Authorization": "Bearer " + state.token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((json.error && json.error.message) || response.statusText);
  return json;
}

// ---- chat -------------------------------------------------------------------

function titleOf(c) {
  const others = c.members.filter((m) => m !== state.user);
  return (c.project_id ? c.project_id + " · " : "") + (others.join(", ") || "just you");
}

function previewOf(message) {
  if (!message) return "no messages yet";
  if (message.deleted) return "message deleted";
  return (message.sender === state.user ? "you: " : message.sender + ": ") + textOf(message);
}

function textOf(message) {
  const body = message.body || {};
  return typeof body.text === "string" ? body.text : `[${message.kind}]`;
}

async function loadConversations() {
  try {
    const page = await api("GET", "/v1/conversations?limit=50");
    for (const c of page.conversations) state.conversations.set(c.id, c);
    renderConversations();
  } catch (e) { console.warn("conversations:", e.message); }
}

function renderConversations() {
  const list = [...state.conversations.values()].sort((a, b) =>
    ((b.last_message && b.last_message.created_at) || 0) - ((a.last_message && a.last_message.created_at) || 0));
  $("conversations").replaceChildren(...list.map((c) => {
    const li = el("li", c.id === state.active ? "active" : "");
    li.dataset.conversation = c.id;
    li.append(el("span", "title", titleOf(c)), el("span", "preview", previewOf(c.last_message)));
    if (c.unread > 0 && c.id !== state.active) li.append(el("span", "badge", String(c.unread)));
    li.onclick = () => openConversation(c.id);
    return li;
  }));
}

async function openConversation(id) {
  if (state.active && state.active !== id) send({ type: "unsubscribe", channel: "conversation:" + state.active });
  state.active = id;
  state.live = null;
  $("thread-head").dataset.live = "false";
  state.lastSeq.delete(id);
  state.typingUsers.clear();
  $("messages").replaceChildren();
  $("typing").textContent = "";
  $("compose").hidden = false;
  renderConversations();
  renderThreadHead();
  try {
    const page = await api("GET", `/v1/conversations/${id}/messages?limit=50`);
    if (state.active !== id) return;
    page.messages.forEach((m) => appendMessage(m));
  } catch (e) { console.warn("history:", e.message); }
  subscribeConversation(id);
  const c = state.conversations.get(id);
  if (c) request({ type: "presence", users: c.members.filter((m) => m !== state.user) });
}

function subscribeConversation(id) {
  const since = state.lastSeq.get(id) || 0;
  send({ type: "subscribe", channel: "conversation:" + id, since });
}

async function onSubscribed(frame) {
  if (frame.channel === "user:" + state.user) return onUserChannelSubscribed(frame);
  if (!frame.channel.startsWith("conversation:")) return;
  const id = frame.channel.slice("conversation:".length);
  if (id !== state.active) return;
  state.live = id;
  $("thread-head").dataset.live = "true";
  if (frame.recovered === false) {
    // More was missed than the hub replays: page the history instead.
    let after = state.lastSeq.get(id) || 0;
    while (state.active === id) {
      const page = await api("GET", `/v1/conversations/${id}/messages?after=${after}&limit=200`).catch(() => null);
      if (!page || page.messages.length === 0) break;
      page.messages.forEach((m) => appendMessage(m));
      after = page.last_seq;
    }
  }
  markRead(id);
}

function appendMessage(m) {
  const seen = state.lastSeq.get(m.conversation) || 0;
  if (m.seq <= seen && document.querySelector(`#messages li[data-seq="${m.seq}"]`)) return;  // replay overlap
  // Our own message may be on screen already, waiting for its ack.
  let li = document.querySelector(`#messages li[data-client-id="${CSS.escape(m.client_msg_id)}"]`);
  if (!li) { li = el("li"); $("messages").append(li); }
  li.className = m.sender === state.user ? "mine" : "";
  li.dataset.seq = m.seq;
  li.dataset.clientId = m.client_msg_id;
  li.replaceChildren(el("span", "text", m.deleted ? "message deleted" : textOf(m)),
                     el("span", "meta", metaOf(m)));
  state.lastSeq.set(m.conversation, Math.max(seen, m.seq));
  li.scrollIntoView({ block: "end" });
  renderReceipts();
}

function metaOf(m) {
  const time = new Date(m.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return (m.sender === state.user ? "" : m.sender + " · ") + time + (m.edited_at ? " · edited" : "");
}

function onMessage(m) {
  const c = state.conversations.get(m.conversation);
  if (c) { c.last_message = m; c.last_seq = Math.max(c.last_seq, m.seq); }
  if (m.conversation === state.active) {
    appendMessage(m);
    if (m.sender !== state.user) markRead(m.conversation);
    clearTyping(m.sender);
  } else if (c && m.sender !== state.user) {
    c.unread += 1;
  }
  renderConversations();
}

// A message in a conversation this page is not subscribed to: refresh the
// list (preview and unread count come from the server), at most once a second.
let noticeTimer = null;
function onNotice() {
  if (noticeTimer) return;
  noticeTimer = setTimeout(() => { noticeTimer = null; loadConversations(); }, 1000);
}

function onAck(a) {
  const pending = state.outbox.get(a.id);
  state.outbox.delete(a.id);
  const li = document.querySelector(`#messages li[data-client-id="${CSS.escape(a.id)}"]`);
  if (li) {
    li.classList.remove("pending");
    li.dataset.seq = a.seq;
    li.querySelector(".meta").textContent = metaOf({ sender: state.user, created_at: a.created_at });
    renderReceipts();
  }
  if (pending && a.conversation === state.active) state.lastSeq.set(a.conversation, Math.max(state.lastSeq.get(a.conversation) || 0, a.seq));
}

function onChanged(frame) {
  const li = document.querySelector(`#messages li[data-seq="${frame.seq}"]`);
  if (!li || frame.conversation !== state.active) return;
  li.querySelector(".text").textContent = frame.type === "message_deleted" ? "message deleted" : textOf(frame);
}

function markRead(id) {
  const seq = state.lastSeq.get(id) || 0;
  const c = state.conversations.get(id);
  if (seq > 0 && document.visibilityState !== "hidden") {
    send({ type: "read", conversation: id, seq });
    if (c) { c.unread = 0; c.last_read_seq = seq; renderConversations(); }
  }
}

function newClientID() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
}

function sendMessage(text) {
  const id = state.active;
  const clientID = newClientID();
  state.outbox.set(clientID, { conversation: id, text });
  const li = el("li", "mine pending");
  li.dataset.clientId = clientID;
  li.append(el("span", "text", text), el("span", "meta", "sending…"));
  $("messages").append(li);
  li.scrollIntoView({ block: "end" });
  send({ type: "send", id: clientID, conversation: id, client_msg_id: clientID, kind: "text", body: { text } });
  if (state.typingSentAt) send({ type: "typing", conversation: id, active: false });
  state.typingSentAt = 0;
}

// Typing: at most one "active" every 2.5 s while keys are pressed; the hub
// relays at most one per 3 s and expires it after 6 s by itself.
function typed() {
  // The hub relays typing only from subscribers of the conversation.
  if (!state.active || state.live !== state.active || Date.now() - state.typingSentAt < 2500) return;
  state.typingSentAt = Date.now();
  send({ type: "typing", conversation: state.active, active: true });
}

function onTyping(t) {
  if (t.conversation !== state.active || t.user === state.user) return;
  clearTimeout(state.typingUsers.get(t.user));
  if (t.active) state.typingUsers.set(t.user, setTimeout(() => clearTyping(t.user), 7000));
  else state.typingUsers.delete(t.user);
  renderTyping();
}

function clearTyping(user) {
  clearTimeout(state.typingUsers.get(user));
  state.typingUsers.delete(user);
  renderTyping();
}

function renderTyping() {
  const users = [...state.typingUsers.keys()];
  $("typing").textContent = users.length ? users.join(", ") + (users.length > 1 ? " are" : " is") + " typing…" : "";
}

function onReceipt(r) {
  if (r.user === state.user) return;
  const key = r.conversation + "/" + r.user;
  state.readBy.set(key, Math.max(state.readBy.get(key) || 0, r.seq));
  renderReceipts();
}

function renderReceipts() {
  if (!state.active) return;
  let upTo = 0;
  for (const [key, seq] of state.readBy) if (key.startsWith(state.active + "/")) upTo = Math.max(upTo, seq);
  for (const li of document.querySelectorAll("#messages li.mine[data-seq]")) {
    li.classList.toggle("read", Number(li.dataset.seq) <= upTo);
    const meta = li.querySelector(".meta");
    if (meta && Number(li.dataset.seq) <= upTo && !meta.textContent.endsWith("· read")) meta.textContent += " · read";
  }
}

function onPresence(p) {
  const list = p.users ? p.users : [p];
  for (const u of list) state.presence.set(u.user, u);
  renderThreadHead();
}

function renderThreadHead() {
  const c = state.conversations.get(state.active);
  const head = $("thread-head");
  head.classList.toggle("muted", !c);
  if (!c) { head.textContent = "Pick a conversation"; return; }
  head.replaceChildren(el("strong", "", titleOf(c)));
  for (const member of c.members.filter((m) => m !== state.user)) {
    const p = state.presence.get(member);
    const dot = el("span", "dot" + (p && p.online ? " online" : ""));
    dot.title = p && p.online ? "online" : p && p.last_seen ? "last seen " + new Date(p.last_seen).toLocaleString() : "offline";
    const who = el("span", "member", member);
    who.dataset.user = member;
    who.dataset.online = p && p.online ? "true" : "false";
    head.append(dot, who);
  }
}

// ---- sign in ----------------------------------------------------------------

function signIn(token) {
  state.token = token.trim();
  sessionStorage.setItem("switchboard.token", state.token);
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  $("sign-in-error").textContent = "";
  connect();
}

function signOut(message) {
  clearTimeout(state.reconnectTimer);
  sessionStorage.removeItem("switchboard.token");
  const ws = state.ws;
  state.ws = null;
  if (ws) ws.close(1000);
  state.token = null;
  resetNotifications();
  $("app").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message || "";
  if (!message) setStatus("signed-out", "signed out");
}

$("sign-in-form").onsubmit = (e) => { e.preventDefault(); signIn($("token-input").value); };
$("sign-out").onclick = () => signOut();
$("compose").onsubmit = (e) => {
  e.preventDefault();
  const text = $("compose-text").value.trim();
  if (text && state.active) { sendMessage(text); $("compose-text").value = ""; }
};
$("compose-text").oninput = typed;
$("new-code-form").onsubmit = async (e) => {
  e.preventDefault();
  try {
    const code = await api("POST", "/v1/qr-codes", { label: $("new-code-label").value, target: $("new-code-target").value });
    send({ type: "subscribe", channel: "scans:" + code.id });  // its snapshot shows the new card at once
    e.target.reset();
  } catch (err) { alert("Could not create the code: " + err.message); }
};
document.addEventListener("visibilitychange", () => { if (state.active) markRead(state.active); });

// After every script has run (notifications.js too): a socket event must not
// find a function missing.
document.addEventListener("DOMContentLoaded", () => {
  const saved = tokenFromURL || sessionStorage.getItem("switchboard.token");
  if (saved) signIn(saved);
});
