// Notifications panel: the SDK delivers live `notification` events, and
// after a reconnect the missed ones, once each and in order (it resumes with
// the last id seen and pages REST past the hub's replay cap). This panel
// loads the newest page once, keeps the unread count and marks read via REST.
import { $, el } from "./dom.js";

const panel = {
  client: null,
  items: new Map(),  // notification_id (string) → notification
  unread: 0,
  loaded: false,     // the first page came from REST
};

/** Shows `client`'s notifications from now on. */
export function attachNotifications(client) {
  resetNotifications();
  panel.client = client;
  client.on("welcome", loadFirstPage);
  client.on("notification", (n) => { if (client === panel.client && add(n, n.read_at === null)) render(); });
}

// After the first `welcome`: the newest page, once (later ones the SDK resumes).
async function loadFirstPage() {
  const client = panel.client;
  if (panel.loaded || !client) return;
  try {
    const page = await client.api("GET", "/v1/notifications?limit=20");
    if (client !== panel.client) return;
    panel.loaded = true;
    for (const n of page.notifications) add(n, false);
    panel.unread = page.unread_count;
    render();
  } catch (e) { console.warn("notifications:", e.message); }
}

/** Adds one unless shown already (the first page and a live push can
 *  overlap); true if it was new. */
function add(n, countsAsUnread) {
  if (panel.items.has(n.notification_id)) return false;
  panel.items.set(n.notification_id, n);
  if (countsAsUnread) panel.unread += 1;
  return true;
}

// Ids are decimal strings that may pass 2^53: compared by length, then text.
const newerFirst = (a, b) => b.notification_id.length - a.notification_id.length ||
  (b.notification_id > a.notification_id ? 1 : b.notification_id < a.notification_id ? -1 : 0);

function render() {
  const newest = [...panel.items.values()].sort(newerFirst).slice(0, 50);
  $("notifications").replaceChildren(...newest.map((n) => {
    const li = el("li", n.read_at === null ? "unread" : "");
    li.dataset.notification = n.notification_id;
    li.dataset.kind = n.kind;
    li.append(el("span", "title", n.title), el("span", "meta", kindLabel(n.kind) + " · " + timeLabel(n.created_at)));
    if (n.body) li.append(el("span", "text", n.body));
    li.onclick = () => markRead({ ids: [n.notification_id] });
    return li;
  }));
  $("notifications-empty").hidden = panel.items.size > 0;
  $("notifications-unread").textContent = panel.unread > 0 ? String(panel.unread) : "";
  $("notifications-unread").hidden = panel.unread === 0;
  $("notifications-read-all").disabled = panel.unread === 0;
}

async function markRead(which) {
  try {
    const answer = await panel.client.api("POST", "/v1/notifications/read", which);
    const now = Date.now();
    const upTo = which.up_to;
    for (const n of panel.items.values()) {
      const listed = which.ids ? which.ids.includes(n.notification_id) : newerFirst(n, { notification_id: upTo }) >= 0;
      if (listed && n.read_at === null) n.read_at = now;
    }
    panel.unread = answer.unread_count;  // the hub's count covers what is not on screen too
    render();
  } catch (e) { console.warn("mark read:", e.message); }
}

const kindLabel = (kind) => kind.replace(/_/g, " ");
const timeLabel = (ms) => new Date(ms).toLocaleString([], { dateStyle: "short", timeStyle: "short" });

/** Empties the panel (sign-out). */
export function resetNotifications() {
  panel.client = null;
  panel.items.clear();
  panel.unread = 0;
  panel.loaded = false;
  render();
}

$("notifications-read-all").onclick = () => {
  const newest = [...panel.items.values()].sort(newerFirst)[0];
  if (newest) markRead({ up_to: newest.notification_id });
};
