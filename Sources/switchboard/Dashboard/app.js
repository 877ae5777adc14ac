// Switchboard dashboard: live QR counters, notifications and a chat client,
// on the JavaScript SDK (sdk/switchboard.js: Clients/js/switchboard.js, served
// by the hub). The SDK owns the protocol: connection, resume, outbox, dedupe.
import { Switchboard } from "./sdk/switchboard.js";
import { $, el } from "./dom.js";
import { attachNotifications, resetNotifications } from "./notifications.js";

// A token from ?token= leaves the address bar (history, screenshots, shared
// links) as soon as this script runs, before anything else can read the URL.
const tokenFromURL = new URLSearchParams(location.search).get("token");
if (tokenFromURL) history.replaceState(null, "", location.pathname + location.hash);

const state = {
  client: null, user: null,
  codes: new Map(),          // qr id → last counter entry
  conversations: new Map(),  // id → summary from REST, kept current by events
  active: null,              // open conversation id
  live: null,                // the open conversation once its subscription is confirmed
  typingSentAt: 0, typingUsers: new Map(), presence: new Map(), readBy: new Map(),
  errors: [],                // the last 20 errors, for debugging
};
globalThis.dashboard = state;  // for the console (and the browser tests)

// ---- connection -------------------------------------------------------------

function setStatus(name, text) {
  $("status").dataset.state = name;
  $("status").textContent = text || name;
}

function onState({ state: now, delay, error }) {
  if (now !== "live") { state.live = null; $("thread-head").dataset.live = "false"; }
  if (now === "live") setStatus("live", "live");
  else if (now === "connecting") setStatus("connecting", "connecting…");
  else if (now === "reconnecting") {
    setStatus("reconnecting", delay === undefined ? "reconnecting…" : "offline, retrying in " + Math.ceil(delay / 1000) + " s");
  } else if (now === "closed" && error) {
    const expired = error.code === "token_expired";
    setStatus("rejected", expired ? "token expired" : "token rejected");
    signOut(expired ? "The token expired; paste a new one." : "The hub rejected the token.");
  }
}

function onWelcome(frame) {
  const first = state.user === null;
  state.user = frame.user;
  $("who").textContent = frame.user;
  // Subscriptions are held by the SDK and resumed on every reconnect.
  if (first) state.client.subscribe("scans:owner:" + frame.user).catch(() => {});
  loadConversations();
}

function onError(error) {
  state.errors = state.errors.slice(-19).concat([error]);
  console.warn("hub error", error.code, error.message);
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
    const page = await state.client.api("GET", "/v1/conversations?limit=50");
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
  const client = state.client;
  if (state.active && state.active !== id) client.unsubscribe("conversation:" + state.active).catch(() => {});
  state.active = id;
  state.live = null;
  $("thread-head").dataset.live = "false";
  state.typingUsers.clear();
  $("messages").replaceChildren();
  $("typing").textContent = "";
  $("compose").hidden = false;
  renderConversations();
  renderThreadHead();
  // The newest page from REST, then the subscription from its last seq:
  // the hub replays whatever came in between.
  let since = 0;
  try {
    const page = await client.api("GET", `/v1/conversations/${id}/messages?limit=50`);
    if (state.active !== id) return;
    page.messages.forEach(appendMessage);
    since = page.last_seq ?? 0;
  } catch (e) { console.warn("history:", e.message); }
  for (const pending of client.pending()) showPending(pending);  // say, restored after a reload
  client.subscribe("conversation:" + id, { since }).catch((e) => console.warn("subscribe:", e.message));
  const c = state.conversations.get(id);
  if (c) client.presence(c.members.filter((m) => m !== state.user)).catch(() => {});
}

function onSubscribed(frame) {
  if (frame.channel !== "conversation:" + state.active) return;
  state.live = state.active;
  $("thread-head").dataset.live = "true";
  markRead(state.active);
}

function messageItem(key, value) {
  return document.querySelector(`#messages li[data-${key}="${CSS.escape(String(value))}"]`);
}

function appendMessage(m) {
  if (messageItem("seq", m.seq)) return;
  // Our own message may be on screen already, waiting for its ack.
  let li = messageItem("client-id", m.client_msg_id);
  if (!li) { li = el("li"); $("messages").append(li); }
  li.className = m.sender === state.user ? "mine" : "";
  li.dataset.seq = m.seq;
  li.dataset.clientId = m.client_msg_id;
  li.replaceChildren(el("span", "text", m.deleted ? "message deleted" : textOf(m)), el("span", "meta", metaOf(m)));
  li.scrollIntoView({ block: "end" });
  renderReceipts();
}

function showPending(entry) {
  if (entry.conversation !== state.active || messageItem("client-id", entry.client_msg_id)) return;
  const li = el("li", "mine pending");
  li.dataset.clientId = entry.client_msg_id;
  li.append(el("span", "text", textOf(entry)), el("span", "meta", "sending…"));
  $("messages").append(li);
  li.scrollIntoView({ block: "end" });
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
    if (!m.own) markRead(m.conversation);
    clearTyping(m.sender);
  } else if (c && !m.own) {
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
  const li = messageItem("client-id", a.client_msg_id);
  if (!li) return;
  li.classList.remove("pending");
  li.dataset.seq = a.seq;
  li.querySelector(".meta").textContent = metaOf({ sender: state.user, created_at: a.created_at });
  renderReceipts();
}

function onSendFailed(entry) {
  const li = messageItem("client-id", entry.client_msg_id);
  if (li) { li.classList.replace("pending", "failed"); li.querySelector(".meta").textContent = "not sent: " + entry.error.message; }
}

function onChanged(frame) {
  const li = messageItem("seq", frame.seq);
  if (!li || frame.conversation !== state.active) return;
  li.querySelector(".text").textContent = frame.type === "message_deleted" ? "message deleted" : textOf(frame);
}

function markRead(id) {
  const seqs = [...document.querySelectorAll("#messages li[data-seq]")].map((li) => Number(li.dataset.seq));
  const seq = Math.max(0, ...seqs);
  const c = state.conversations.get(id);
  if (seq > 0 && id === state.active && document.visibilityState !== "hidden") {
    state.client.read(id, seq).catch(() => {});
    if (c) { c.unread = 0; c.last_read_seq = seq; renderConversations(); }
  }
}

function sendMessage(text) {
  const id = state.active;
  state.client.send(id, { text }).catch(() => {});  // shown by the `pending` event, settled by `ack` or `send_failed`
  if (state.typingSentAt) state.client.typing(id, false);
  state.typingSentAt = 0;
}

// Typing: at most one "active" every 2.5 s while keys are pressed; the hub
// relays at most one per 3 s and expires it after 6 s by itself.
function typed() {
  // The hub relays typing only from subscribers of the conversation.
  if (!state.active || state.live !== state.active || Date.now() - state.typingSentAt < 2500) return;
  state.typingSentAt = Date.now();
  state.client.typing(state.active, true);
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
  sessionStorage.setItem("switchboard.token", token.trim());
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  $("sign-in-error").textContent = "";
  const client = new Switchboard({ token: token.trim() });
  state.client = client;
  state.user = null;
  const events = {
    state: onState, welcome: onWelcome, error: onError, subscribed: onSubscribed,
    counter: (f) => f.codes.forEach(renderCode), message: onMessage, pending: showPending, ack: onAck,
    send_failed: onSendFailed, notice: onNotice, typing: onTyping, receipt: onReceipt, presence: onPresence,
    message_edited: onChanged, message_deleted: onChanged,
  };
  for (const [type, handler] of Object.entries(events)) client.on(type, (payload) => { if (state.client === client) handler(payload); });
  attachNotifications(client);
  client.connect();
}

function signOut(message) {
  sessionStorage.removeItem("switchboard.token");
  const client = state.client;
  state.client = null;
  if (client && client.state !== "closed") client.close();
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
    const code = await state.client.api("POST", "/v1/qr-codes", { label: $("new-code-label").value, target: $("new-code-target").value });
    state.client.subscribe("scans:" + code.id).catch(() => {});  // its snapshot shows the new card at once
    e.target.reset();
  } catch (err) { alert("Could not create the code: " + err.message); }
};
document.addEventListener("visibilitychange", () => { if (state.active) markRead(state.active); });
addEventListener("online", () => state.client?.reconnect());  // the network is back: no need to wait out the backoff

const saved = tokenFromURL || sessionStorage.getItem("switchboard.token");
if (saved) signIn(saved);
