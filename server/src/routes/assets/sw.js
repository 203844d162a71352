// Dropcast's service worker (served at /sw.js, scope /): it shows the
// announcements a buyer asked for ("remind me", "notify me when back") when
// their Web Push message arrives, opens the message's tracking link when
// the notification is tapped, and unsubscribes in one tap from its
// "Stop these" action. The payload is the JSON the server encrypts:
// {"title","body","url","unsubscribe","tag","kind"}.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let d = {};
  try {
    d = event.data ? event.data.json() : {};
  } catch (_) {
    d = { body: event.data ? event.data.text() : "" };
  }
  const options = {
    body: d.body || "",
    data: { url: d.url || "/", unsubscribe: d.unsubscribe || null },
    actions: d.unsubscribe ? [{ action: "unsubscribe", title: "Stop these" }] : [],
  };
  if (d.tag) {
    options.tag = d.tag;
    options.renotify = true;
  }
  event.waitUntil(self.registration.showNotification(d.title || "Dropcast", options));
});

self.addEventListener("notificationclick", (event) => {
  const n = event.notification;
  const data = n.data || {};
  n.close();
  if (event.action === "unsubscribe" && data.unsubscribe) {
    event.waitUntil(fetch(data.unsubscribe, { method: "POST" }));
    return;
  }
  event.waitUntil(self.clients.openWindow(data.url || "/"));
});
