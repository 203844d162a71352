// "Remind me" and "Notify me when back" in Chromium, with a real SMTP
// server: before a scheduled show the page says when it starts and takes a
// reminder by email (double opt-in, followed from the letter); a sold-out
// product takes a waitlist entry and its restock arrives by email; the
// service worker shows a pushed notice (delivered to it through the
// DevTools protocol: headless Chromium has no route to a real push
// service, so the browser's own subscribe() fails and the page says to use
// email); and inside another site's frame only email is offered.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { test } from "node:test";
import { reads, SHOTS, shared, showWithProduct, buyAsAnotherViewer } from "./harness.mjs";

const ctx = shared({ smtp: true });
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const PHONE = { width: 390, height: 844 };

async function newPage(viewport = PHONE) {
  const context = await ctx.browser.newContext({ viewport, bypassCSP: true });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("response", (r) => r.status() >= 500 && errors.push(`${r.status()} ${r.url()}`));
  return { context, page, errors };
}

async function audit(page, what) {
  await page.evaluate(AXE);
  const bad = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) }));
  });
  assert.deepEqual(bad, [], `${what}: ${JSON.stringify(bad)}`);
}

/** The first link in a letter's text that starts with `prefix`. */
function linkIn(letter, prefix) {
  const at = letter.text.indexOf(prefix);
  assert.ok(at >= 0, `no ${prefix} link in ${letter.text}`);
  return letter.text.slice(at).split(/\s/)[0];
}

test("before a scheduled show: when it starts, Remind me by email, confirmed from the letter", async () => {
  const { token, show } = await showWithProduct(ctx.server, { stock: 2 });
  const at = Date.now() + (2 * 60 + 14) * 60_000 - 20_000;
  await ctx.server.api("PATCH", `/api/v1/shows/${show.id}`, token, { scheduled_at_ms: at });
  // Its cover picture, a real PNG made by ffmpeg.
  const dir = mkdtempSync(path.join(tmpdir(), "dropcast-cover-"));
  const file = path.join(dir, "cover.png");
  execFileSync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=s=960x640", "-frames:v", "1", file]);
  const res = await fetch(`${ctx.server.base}/api/v1/shows/${show.id}/cover`, {
    method: "PUT", headers: { authorization: `Bearer ${token}`, "content-type": "image/png" }, body: readFileSync(file),
  });
  assert.equal(res.status, 200);
  const { cover_url } = await res.json();
  const { context, page, errors } = await newPage();
  await page.goto(`${ctx.server.base}/watch/${show.id}`);
  await reads(page.locator(".dc-starts"), "Live in 2 h 14 min");
  await page.locator(".dc-cover").waitFor({ state: "visible" });
  assert.equal(await page.locator(".dc-cover").getAttribute("src"), cover_url);
  assert.ok(await page.locator(".dc-cover").evaluate((i) => i.complete && i.naturalWidth === 640));
  await page.screenshot({ path: path.join(SHOTS, "scheduled-cover-phone.png") });
  // A new cover reaches the open page.
  const bars = path.join(dir, "bars.png");
  execFileSync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "smptebars=s=960x640", "-frames:v", "1", bars]);
  const second = await fetch(`${ctx.server.base}/api/v1/shows/${show.id}/cover`, {
    method: "PUT", headers: { authorization: `Bearer ${token}`, "content-type": "image/png" }, body: readFileSync(bars),
  });
  assert.equal(second.status, 200);
  const newCover = (await second.json()).cover_url;
  assert.notEqual(newCover, cover_url);
  await page.waitForFunction((src) => document.querySelector(".dc-cover")?.getAttribute("src") === src, newCover, { timeout: 10000 });
  const remind = page.locator(".dc-before");
  await remind.locator(".dc-remind-open").click();
  // On the show's own page the browser can be asked too.
  await remind.locator(".dc-remind-push").waitFor({ state: "visible" });
  await page.screenshot({ path: path.join(SHOTS, "remind-phone.png") });
  await audit(page, "remind me, phone");
  // Headless Chromium reaches no push service: subscribing fails, and the
  // page says so and points to email.
  await context.grantPermissions(["notifications"], { origin: ctx.server.base });
  await remind.locator(".dc-remind-push").click();
  await page.waitForFunction(() => /use email/.test(document.querySelector(".dc-before .dc-remind-note")?.textContent || ""), null, { timeout: 15000 });
  await remind.locator(".dc-remind-email").fill("ada@example.com");
  await remind.locator(".dc-remind-send").click();
  await reads(remind.locator(".dc-remind-note"), "Check your inbox: confirm the address and we will email you.");
  await page.screenshot({ path: path.join(SHOTS, "remind-sent-phone.png") });
  const letter = await ctx.mail.waitFor((m) => m.subject.startsWith("Confirm") && m.rcpt_tos.includes("ada@example.com"));
  assert.match(letter.list_unsubscribe, /^<http:\/\/.+\/u\/u_[0-9a-f]+>$/);
  // Following the letter's link confirms, and lands on the show.
  await page.goto(linkIn(letter, `${ctx.server.base}/subscriptions/`));
  assert.equal(new URL(page.url()).pathname, `/watch/${show.id}`);
  // The creator's next notice reaches the confirmed address.
  await ctx.server.api("POST", `/api/v1/shows/${show.id}/notices`, token, { text: "Doors open at 8: set your alarm" });
  const notice = await ctx.mail.waitFor((m) => m.subject === "Doors open at 8: set your alarm");
  assert.deepEqual(notice.rcpt_tos, ["ada@example.com"]);
  assert.equal(notice.list_unsubscribe_post, "List-Unsubscribe=One-Click");
  assert.deepEqual(errors, []);
  await context.close();
});

test("a sold-out product: Notify me when back, and the restock's letter", async () => {
  const { token, show, product } = await showWithProduct(ctx.server, { stock: 1, title: "Glow cap" });
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  await buyAsAnotherViewer(ctx.server, show, product);
  const { context, page, errors } = await newPage();
  await page.goto(`${ctx.server.base}/watch/${show.id}`);
  await reads(page.locator(".dc-card .dc-stock"), "Sold out");
  const notify = page.locator(".dc-widget > .dc-remind");
  await reads(notify.locator(".dc-remind-open"), "Notify me when back");
  await notify.locator(".dc-remind-open").click();
  await notify.locator(".dc-remind-email").fill("grace@example.com");
  await page.screenshot({ path: path.join(SHOTS, "notify-me-phone.png") });
  await audit(page, "notify me, phone");
  await notify.locator(".dc-remind-send").click();
  await reads(notify.locator(".dc-remind-note"), "Check your inbox: confirm the address and we will email you.");
  const letter = await ctx.mail.waitFor((m) => m.subject.startsWith("Confirm") && m.rcpt_tos.includes("grace@example.com"));
  assert.match(letter.text, /when Glow cap is back in stock/);
  await page.goto(linkIn(letter, `${ctx.server.base}/subscriptions/`));
  // Restocked: the waitlist hears of it.
  await ctx.server.api("PATCH", `/api/v1/shows/${show.id}/products/${product.id}`, token, { add_stock: 3 });
  const back = await ctx.mail.waitFor((m) => m.rcpt_tos.includes("grace@example.com") && m.subject.includes("is back"));
  assert.equal(back.subject, "Glow cap is back: 3 available, first come first served");
  // Its link opens the show (through the tracking redirect).
  await page.goto(linkIn(back, `${ctx.server.base}/n/`));
  assert.equal(new URL(page.url()).pathname, `/watch/${show.id}`);
  await reads(page.locator(".dc-card .dc-stock"), "3 left");
  const stats = await ctx.server.api("GET", `/api/v1/shows/${show.id}/stats`, token);
  const restock = stats.notices.find((n) => n.kind === "restock");
  assert.equal(restock.delivered, 1);
  assert.equal(restock.clicked, 1);
  assert.deepEqual(errors, []);
  await context.close();
});

test("the service worker shows a pushed notice with its link and a one-tap unsubscribe", async () => {
  const { context, page, errors } = await newPage();
  const { show } = await showWithProduct(ctx.server);
  await page.goto(`${ctx.server.base}/watch/${show.id}`);
  await context.grantPermissions(["notifications"], { origin: ctx.server.base });
  const cdp = await context.newCDPSession(page);
  const registered = new Promise((resolve) => {
    cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations }) => {
      const mine = registrations.find((r) => r.scopeURL === `${ctx.server.base}/` && !r.isDeleted);
      if (mine) resolve(mine.registrationId);
    });
  });
  await cdp.send("ServiceWorker.enable");
  await page.evaluate(async () => {
    await navigator.serviceWorker.register("/sw.js");
    await navigator.serviceWorker.ready;
  });
  const registrationId = await registered;
  const payload = {
    title: "Launch night", body: "Neon hoodie drops in 2:00: USD 49.00, 5 available",
    url: `${ctx.server.base}/n/n_test`, unsubscribe: `${ctx.server.base}/u/u_test`, tag: "ntc_1", kind: "drop_soon",
  };
  await cdp.send("ServiceWorker.deliverPushMessage", {
    origin: ctx.server.base, registrationId, data: JSON.stringify(payload),
  });
  const shown = await page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    for (let i = 0; i < 100; i++) {
      const list = await reg.getNotifications();
      if (list.length) {
        return list.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data, actions: n.actions.map((a) => a.action) }));
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return [];
  });
  assert.deepEqual(shown, [{
    title: payload.title, body: payload.body, tag: "ntc_1",
    data: { url: payload.url, unsubscribe: payload.unsubscribe }, actions: ["unsubscribe"],
  }]);
  const sw = await (await fetch(`${ctx.server.base}/sw.js`)).text();
  assert.match(sw, /notificationclick/);
  assert.deepEqual(errors, []);
  await context.close();
});

test("embedded on another site: Remind me by email only (browsers refuse prompts in frames)", async () => {
  const { token, show } = await showWithProduct(ctx.server);
  await ctx.server.api("PATCH", `/api/v1/shows/${show.id}`, token, { scheduled_at_ms: Date.now() + 30 * 60_000 - 20_000 });
  const host = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><meta name="viewport" content="width=device-width, initial-scale=1"><h1>A shop</h1>
<script src="${ctx.server.base}/embed.js" data-show="${show.id}"></script>`);
  });
  await new Promise((r) => host.listen(0, "127.0.0.1", r));
  const { context, page, errors } = await newPage();
  await page.goto(`http://localhost:${host.address().port}/`);
  let frame;
  for (let i = 0; i < 200 && !frame; i++) {
    frame = page.frames().find((f) => new URL(f.url(), "http://x").pathname === `/frame/${show.id}`);
    if (!frame) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(frame, "the widget's frame");
  await reads(frame.locator(".dc-starts"), "Live in 30 min");
  await frame.locator(".dc-before .dc-remind-open").click();
  await frame.locator(".dc-before .dc-remind-email").waitFor({ state: "visible" });
  assert.equal(await frame.locator(".dc-before .dc-remind-push").count(), 0);
  await page.screenshot({ path: path.join(SHOTS, "remind-embedded-phone.png"), fullPage: true });
  // The creator moves the show: the open frame says the new time, no reload
  // (20 s short of 90 min: the page rounds up, whatever its clock estimate).
  await ctx.server.api("PATCH", `/api/v1/shows/${show.id}`, token, { scheduled_at_ms: Date.now() + 90 * 60_000 - 20_000 });
  await reads(frame.locator(".dc-starts"), "Live in 1 h 30 min");
  assert.deepEqual(errors, []);
  await context.close();
  await new Promise((r) => host.close(r));
});

test("the studio sends a notice by hand, sets the restock factor, and shows each notice's figures", async () => {
  const { token, show } = await showWithProduct(ctx.server);
  // One confirmed email subscriber.
  await ctx.server.api("POST", `/api/v1/shows/${show.id}/subscriptions`, null, { channel: "email", email: "studio-fan@example.com" });
  const confirmLetter = await ctx.mail.waitFor((m) => m.subject.startsWith("Confirm") && m.rcpt_tos.includes("studio-fan@example.com"));
  assert.equal((await fetch(linkIn(confirmLetter, `${ctx.server.base}/subscriptions/`), { redirect: "manual" })).status, 303);

  const { context, page, errors } = await newPage({ width: 1280, height: 900 });
  await page.goto(`${ctx.server.base}/studio/${show.id}?token=${token}`);
  const panel = page.locator(".st-notices");
  await panel.waitFor({ state: "visible", timeout: 10000 });
  assert.equal(await panel.locator(".st-wake-factor").inputValue(), "3");
  await panel.locator(".st-wake-factor").fill("4");
  await panel.locator(".st-factor-save").click();
  await reads(panel.locator(".st-notice-note"), "A restock now wakes 4 waiting buyers per unit.");
  await panel.locator(".st-notice-text").fill("Doors open in 5 minutes!");
  await panel.locator(".st-notice-send").click();
  await reads(panel.locator(".st-notice-note"), "Sent to everyone waiting.");
  const letter = await ctx.mail.waitFor((m) => m.subject === "Doors open in 5 minutes!");
  assert.deepEqual(letter.rcpt_tos, ["studio-fan@example.com"]);
  // The subscriber follows it; the studio's row counts it (refreshed every 5 s).
  assert.equal((await fetch(linkIn(letter, `${ctx.server.base}/n/`), { redirect: "manual" })).status, 302);
  const row = panel.locator(".st-notice-row[data-kind=manual]");
  for (let i = 0; i < 200; i++) {
    if ((await row.locator(".st-n-clicked").textContent().catch(() => "")) === "1") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(await row.locator(".st-n-sent").textContent(), "1");
  assert.equal(await row.locator(".st-n-delivered").textContent(), "1");
  assert.equal(await row.locator(".st-n-clicked").textContent(), "1");
  assert.match(await row.locator(".st-n-ttfc").textContent(), /^\d+\.\d s$/);
  assert.equal(await row.locator(".st-n-orders").textContent(), "0");
  await panel.screenshot({ path: path.join(SHOTS, "studio-notices-desktop.png") });
  await audit(page, "studio with notices");
  assert.deepEqual(errors, []);
  await context.close();
});
