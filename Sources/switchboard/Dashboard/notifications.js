// Notifications panel: live `notification` frames on the user channel,
// catch-up with `since` on every reconnect (Protocol/README.md, "Catching
// up"), the unread count, and marking read through REST. Loaded after app.js,
// whose `state`, `$`, `el`, `api` and `send` it uses.
"use strict";

const notifications = {
  items: new Map(),  // notification_id (string) → notification
  lastID: 0,         // the highest id shown: the next connection's `since`
  unread: 0,
  loaded: false,     // the first page came from REST (a fresh sign-in has no `since`)
};

/// The `since` the auth frame carries, or undefined on a fresh sign-in.
function notificationSince() {
  return notifications.loaded ? notifications.lastID : undefined;
}

/// After `welcome`: a fresh sign-in loads the newest page once; a reconnect
/// needs nothing here, the hub replays after `since` by itself.
async function notificationsWelcome() {
  if (notifications.loaded) return;
  try {
    const page = await api("GET", "/v1/notifications?limit=20");
    notifications.loaded = true;
    for (const n of page.notifications) addNotification(n, false);
    notifications.unread = page.unread_count;
    renderNotifications();
  } catch (e) { console.warn("notifications:", e.message); }
}

function onNotification(n) {
  if (addNotification(n, n.read_at === null)) renderNotifications();
}

/// The user channel's `subscribed` after a replay: past the hub's replay cap,
/// page the rest from REST.
async function onUserChannelSubscribed(frame) {
  if (frame.recovered !== false) return;
  let after = notifications.lastID;
  for (;;) {
    const page = await api("GET", `/v1/notifications?after=${after}&limit=200`).catch(() => null);
    if (!page || page.notifications.length === 0) break;
    for (const n of page.notifications) addNotification(n, n.read_at === null);
    after = Number(page.last_id);
  }
  renderNotifications();
}

/// Adds one notification unless it is on screen already (a live push and a
/// page can overlap); true if it was new.
function addNotification(n, countsAsUnread) {
  if (notifications.items.has(n.notification_id)) return false;
  notifications.items.set(n.notification_id, n);
  notifications.lastID = Math.max(notifications.lastID, Number(n.notification_id));
  if (countsAsUnread) notifications.unread += 1;
  return true;
}

function renderNotifications() {
  const newest = [...notifications.items.values()]
    .sort((a, b) => Number(b.notification_id) - Number(a.notification_id)).slice(0, 50);
  $("notifications").replaceChildren(...newest.map((n) => {
    const li = el("li", n.read_at === null ? "unread" : "");
    li.dataset.notification = n.notification_id;
    li.dataset.kind = n.kind;
    li.append(el("span", "title", n.title), el("span", "meta", kindLabel(n.kind) + " · " + timeLabel(n.created_at)));
    if (n.body) li.append(el("span", "text", n.body));
    li.onclick = () => markNotificationsRead({ ids: [Number(n.notification_id)] });
    return li;
  }));
  $("notifications-empty").hidden = notifications.items.size > 0;
  $("notifications-unread").textContent = notifications.unread > 0 ? String(notifications.unread) : "";
  $("notifications-unread").hidden = notifications.unread === 0;
  $("notifications-read-all").disabled = notifications.unread === 0;
}

async function markNotificationsRead(which) {
  try {
    const answer = await api("POST", "/v1/notifications/read", which);
    const now = Date.now();
    for (const n of notifications.items.values()) {
      const listed = which.ids ? which.ids.includes(Number(n.notification_id)) : Number(n.notification_id) <= which.up_to;
      if (listed && n.read_at === null) n.read_at = now;
    }
    notifications.unread = answer.unread_count;  // the hub's count covers what is not on screen too
    renderNotifications();
  } catch (e) { console.warn("mark read:", e.message); }
}

function kindLabel(kind) {
  return kind.replace(/_/g, " ");
}

function timeLabel(ms) {
  return new Date(ms).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

function resetNotifications() {
  notifications.items.clear();
  notifications.lastID = 0;
  notifications.unread = 0;
  notifications.loaded = false;
  renderNotifications();
}

$("notifications-read-all").onclick = () => {
  if (notifications.lastID > 0) markNotificationsRead({ up_to: notifications.lastID });
};
