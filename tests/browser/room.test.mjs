// The watch page as a shopping room, in Chromium with a real stream pushed
// in: the phone layout (390x844) and the desktop one (1280x800), each state
// screenshotted (live, countdown, sold out, offline, replay), the shop bag,
// "just bought" toasts, an axe-core audit of each, and the replay whose card
// follows the recorded pins when seeking; and a clip's page (original and
// vertical) that sells, counts for the clip, and embeds with one script tag.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { buyAsAnotherViewer, fillAddress, publish, reads, SHOTS, shared, showWithProduct } from "./harness.mjs";

const needsStripe = !process.env.DROPCAST_TEST_STRIPE_URL && "needs localstripe (DROPCAST_TEST_STRIPE_URL)";
const ctx = shared();
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

/** A page of its own browser context (its own storage: a new buyer); axe
 *  is injected past the page's CSP, which allows no inline script. */
async function newPage(viewport) {
  const context = await ctx.browser.newContext({ viewport, bypassCSP: true });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // A server error is a defect (a 4xx can be an answer the widget expects:
  // "add a card first").
  page.on("response", (r) => r.status() >= 500 && errors.push(`${r.status()} ${r.url()}`));
  return { page, errors, close: () => context.close() };
}

/** axe-core's audit of the page as it is: no serious or critical violation. */
async function audit(page, what) {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `${what}: ${JSON.stringify(bad)}`);
}

/** A real PNG made by ffmpeg, uploaded as the product's image. */
async function uploadImage(token, showId, productId, colour) {
  const dir = mkdtempSync(path.join(tmpdir(), "dropcast-img-"));
  const file = path.join(dir, "p.png");
  execFileSync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", `color=c=${colour}:s=480x480`,
    "-frames:v", "1", file]);
  const res = await fetch(`${ctx.server.base}/api/v1/shows/${showId}/products/${productId}/image`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "image/png" },
    body: readFileSync(file),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

/** Saves a test card (and the address) in the page's card form. */
async function saveCard(page, email = "ada@example.com") {
  await page.locator(".dc-cardform:not([hidden])").waitFor({ timeout: 5000 });
  await page.locator(".dc-email").fill(email);
  await page.locator(".dc-cardfield input").first().waitFor({ timeout: 5000 });
  for (const [placeholder, value] of [["number", "4242424242424242"], ["exp_month", "12"], ["exp_year", "30"], ["cvc", "123"], ["postal_code", "42424"]]) {
    await page.locator(`.dc-cardfield input[placeholder="${placeholder}"]`).fill(value);
  }
  await fillAddress(page);
  await page.locator(".dc-save").click();
}

const rtmp = async (token, show) => {
  const mine = await ctx.server.api("GET", `/api/v1/shows/${show.id}`, token);
  return mine.ingest.rtmp.replace(/:\d+\//, `:${ctx.server.rtmpPort}/`);
};

const playing = (page, after = 1) =>
  page.waitForFunction(
    (after) => {
      const v = document.querySelector(".dc-video");
      return v && v.readyState >= 2 && v.currentTime > after && !v.paused;
    },
    after,
    { timeout: 40000 },
  );

test("on a phone: full-screen video, the card over it, the shop bag, toasts, sold out, a countdown", { skip: needsStripe }, async () => {
  const { token, show, product } = await showWithProduct(ctx.server, { stock: 3, title: "Neon hoodie" });
  const cap = await ctx.server.api("POST", `/api/v1/shows/${show.id}/products`, token, {
    sku: "CAP-1", title: "Night cap", price_cents: 1900, currency: "usd", stock: 9,
  });
  const tee = await ctx.server.api("POST", `/api/v1/shows/${show.id}/products`, token, {
    sku: "TEE-1", title: "Drop tee", price_cents: 2500, currency: "usd", stock: 4,
  });
  await uploadImage(token, show.id, product.id, "orange");
  const capImage = await uploadImage(token, show.id, cap.id, "teal");
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  const { page, errors, close } = await newPage(PHONE);
  await page.goto(`${ctx.server.base}/watch/${show.id}`);
  await page.locator(".dc-offline-card").waitFor({ state: "visible", timeout: 10000 });
  await reads(page.locator(".dc-card .dc-stock"), "3 left");
  await page.screenshot({ path: path.join(SHOTS, "room-offline-phone.png") });
  await audit(page, "offline, phone");

  const encoder = publish(await rtmp(token, show), 90);
  try {
    await playing(page);
    // The video fills the screen; over it the badge, title and viewers.
    const box = await page.locator(".dc-video").boundingBox();
    assert.deepEqual([box.width, box.height], [PHONE.width, PHONE.height]);
    assert.equal(await page.locator(".dc-video").evaluate((v) => getComputedStyle(v).objectFit), "cover");
    await page.locator(".dc-live-badge").waitFor({ state: "visible" });
    await reads(page.locator(".dc-show-title"), "Launch night");
    assert.match((await page.locator(".dc-viewers").textContent()).trim(), /^\d+ watching$/);
    // Sound is off until tapped.
    assert.equal(await page.locator(".dc-video").evaluate((v) => v.muted), true);
    // The Buy button is within thumb reach: in the bottom third.
    const buy = await page.locator(".dc-buy").boundingBox();
    assert.ok(buy.y > PHONE.height * 0.6 && buy.y + buy.height <= PHONE.height, JSON.stringify(buy));
    await page.screenshot({ path: path.join(SHOTS, "room-live-phone.png") });
    await audit(page, "live, phone");

    // "Show whole picture": letterboxed.
    await page.locator(".dc-fit").click();
    assert.equal(await page.locator(".dc-video").evaluate((v) => getComputedStyle(v).objectFit), "contain");
    await page.screenshot({ path: path.join(SHOTS, "room-live-letterboxed-phone.png") });
    await page.locator(".dc-fit").click();
    await page.locator(".dc-sound").click();
    assert.equal(await page.locator(".dc-video").evaluate((v) => v.muted), false);
    await page.locator(".dc-sound").waitFor({ state: "hidden" });

    // The first purchase saves a card; the next is one tap.
    await page.locator(".dc-buy").click();
    await saveCard(page);
    await reads(page.locator(".dc-status"), "Paid — thank you! Your order is confirmed.");
    await reads(page.locator(".dc-card .dc-stock"), "2 left");

    // The shop bag: every product, the pinned one first, each with its Buy.
    await page.locator(".dc-bag-open").click();
    const sheet = page.locator("dialog.dc-bag");
    await sheet.waitFor({ state: "visible" });
    const names = await sheet.locator(".dc-bag-item").evaluateAll((items) => items.map((i) => i.dataset.product));
    assert.deepEqual(names, [product.id, cap.id, tee.id]);
    assert.equal(await sheet.locator(`[data-product="${cap.id}"] img`).getAttribute("src"), capImage.thumb_url);
    await page.screenshot({ path: path.join(SHOTS, "room-bag-phone.png") });
    await audit(page, "shop bag, phone");
    // Escape closes it, and focus goes back to the bag button.
    await page.keyboard.press("Escape");
    await sheet.waitFor({ state: "hidden" });
    assert.equal(await page.evaluate(() => document.activeElement?.className), "dc-bag-open");
    // One tap buys a product that is not pinned.
    await page.locator(".dc-bag-open").click();
    await sheet.locator(`[data-product="${cap.id}"] .dc-bag-buy`).click();
    await sheet.waitFor({ state: "hidden" });
    await reads(page.locator(".dc-status"), "Night cap: Paid — thank you! Your order is confirmed.");
    const { orders } = await ctx.server.api("GET", `/api/v1/shows/${show.id}/orders`, token);
    assert.deepEqual(orders.filter((o) => o.status === "paid").map((o) => o.product_id).sort(), [product.id, cap.id].sort());
    // The card still sells the pinned product.
    await reads(page.locator(".dc-buy"), "Buy now");

    // Others buying: a toast with their first name; the badge warms.
    await buyAsAnotherViewer(ctx.server, show, product);
    await reads(page.locator(".dc-toast").last(), "Ada just bought Neon hoodie");
    await reads(page.locator(".dc-card .dc-stock"), "Last one!");
    assert.match(await page.locator(".dc-card .dc-stock").getAttribute("class"), /dc-level-last/);
    await page.screenshot({ path: path.join(SHOTS, "room-toast-last-one-phone.png") });
    await buyAsAnotherViewer(ctx.server, show, product);
    await reads(page.locator(".dc-card .dc-stock"), "Sold out");
    assert.match(await page.locator(".dc-card .dc-stock").getAttribute("class"), /dc-level-out/);
    await reads(page.locator(".dc-buy"), "Sold out");
    assert.equal(await page.locator(".dc-buy").isDisabled(), true);
    await page.screenshot({ path: path.join(SHOTS, "room-sold-out-phone.png") });
    await audit(page, "sold out, phone");
    // In the bag, a sold-out product is greyed and cannot be bought.
    await page.locator(".dc-bag-open").click();
    const gone = sheet.locator(`[data-product="${product.id}"]`);
    assert.match(await gone.getAttribute("class"), /dc-bag-soldout/);
    assert.equal(await gone.locator(".dc-bag-buy").isDisabled(), true);
    await page.keyboard.press("Escape");

    // A countdown on the next drop.
    await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: tee.id });
    await ctx.server.api("POST", `/api/v1/shows/${show.id}/countdowns`, token, {
      kind: "drop_opens", seconds: 60, product_id: tee.id,
    });
    await reads(page.locator(".dc-card .dc-title"), "Drop tee");
    await page.locator(".dc-countdown").waitFor({ state: "visible", timeout: 10000 });
    assert.match(await page.locator(".dc-countdown").textContent(), /^Drop opens in (1:00|0:[0-5]\d)$/);
    await reads(page.locator(".dc-buy"), "Not open yet");
    await page.screenshot({ path: path.join(SHOTS, "room-countdown-phone.png") });
    await audit(page, "countdown, phone");

    // The desktop layout: the same panel beside the video.
    await page.setViewportSize(DESKTOP);
    const video = await page.locator(".dc-stage").boundingBox();
    const side = await page.locator(".dc-side").boundingBox();
    assert.ok(side.x >= video.x + video.width, `${JSON.stringify(video)} ${JSON.stringify(side)}`);
    await page.screenshot({ path: path.join(SHOTS, "room-countdown-desktop.png") });
    await audit(page, "countdown, desktop");
  } finally {
    encoder.kill("SIGINT");
  }
  assert.deepEqual(errors, []);
  await close();
});

test("on a desktop: live, sold out and offline beside the video", { skip: needsStripe }, async () => {
  const { token, show, product } = await showWithProduct(ctx.server, { stock: 1, title: "Neon hoodie" });
  await uploadImage(token, show.id, product.id, "purple");
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  const { page, errors, close } = await newPage(DESKTOP);
  await page.goto(`${ctx.server.base}/watch/${show.id}`);
  await reads(page.locator(".dc-card .dc-stock"), "Last one!");
  await page.screenshot({ path: path.join(SHOTS, "room-offline-desktop.png") });
  await audit(page, "offline, desktop");
  const encoder = publish(await rtmp(token, show), 40);
  try {
    await playing(page);
    await page.screenshot({ path: path.join(SHOTS, "room-live-desktop.png") });
    await audit(page, "live, desktop");
    await buyAsAnotherViewer(ctx.server, show, product);
    await reads(page.locator(".dc-card .dc-stock"), "Sold out");
    await page.screenshot({ path: path.join(SHOTS, "room-sold-out-desktop.png") });
    await audit(page, "sold out, desktop");
  } finally {
    encoder.kill("SIGINT");
  }
  assert.deepEqual(errors, []);
  await close();
});

test("with the keyboard alone: the shop bag, a Buy, the card form, a paid order", { skip: needsStripe }, async () => {
  const { token, show, product } = await showWithProduct(ctx.server, { stock: 4, title: "Neon hoodie" });
  const cap = await ctx.server.api("POST", `/api/v1/shows/${show.id}/products`, token, {
    sku: "CAP-1", title: "Night cap", price_cents: 1900, currency: "usd", stock: 9,
  });
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  const { page, errors, close } = await newPage(PHONE);
  await page.goto(`${ctx.server.base}/watch/${show.id}`);
  await reads(page.locator(".dc-card .dc-stock"), "4 left");
  const focused = (sel) => page.evaluate((sel) => document.activeElement?.matches(sel) ?? false, sel);
  /** Tab forward (never with a mouse) until `sel` has focus. */
  const tabTo = async (sel) => {
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press("Tab");
      if (await focused(sel)) return;
    }
    throw new Error(`Tab never reached ${sel}`);
  };
  // The bag opens from the keyboard, focus moves into it, and a product
  // that is not pinned is bought with Enter on its own Buy.
  await tabTo(".dc-bag-open");
  await page.keyboard.press("Enter");
  const sheet = page.locator("dialog.dc-bag");
  await sheet.waitFor({ state: "visible" });
  assert.equal(await page.evaluate(() => document.querySelector("dialog.dc-bag").contains(document.activeElement)), true);
  await tabTo(`[data-product="${cap.id}"] .dc-bag-buy`);
  await page.keyboard.press("Enter");
  // No card yet: every field of the card form is reached and filled by
  // Tab and typing, and Enter on Save pays.
  await page.locator(".dc-cardform:not([hidden])").waitFor({ timeout: 5000 });
  await page.locator(".dc-cardfield input").first().waitFor({ timeout: 5000 });
  const values = [
    [".dc-email", "keys@example.com"],
    ['.dc-cardfield input[placeholder="number"]', "4242424242424242"],
    ['.dc-cardfield input[placeholder="exp_month"]', "12"],
    ['.dc-cardfield input[placeholder="exp_year"]', "30"],
    ['.dc-cardfield input[placeholder="cvc"]', "123"],
    ['.dc-cardfield input[placeholder="postal_code"]', "42424"],
    [".dc-ship-name", "Kay Board"],
    [".dc-ship-line1", "1 Key Street"],
    [".dc-ship-city", "London"],
    [".dc-ship-postal", "N1 9GU"],
    [".dc-ship-country", "GB"],
  ];
  const typed = new Set();
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press("Tab");
    if (await focused(".dc-save")) break;
    for (const [sel, v] of values) {
      if (!typed.has(sel) && (await focused(sel))) {
        await page.keyboard.type(v);
        typed.add(sel);
      }
    }
  }
  // A field Tab skipped must be one the form does not show.
  for (const [sel] of values.filter(([sel]) => !typed.has(sel))) {
    assert.equal(await page.locator(sel).isVisible(), false, `Tab never reached ${sel}`);
  }
  assert.equal(await focused(".dc-save"), true, "Tab reaches Save");
  await page.keyboard.press("Enter");
  await reads(page.locator(".dc-status"), "Night cap: Paid — thank you! Your order is confirmed.");
  const { orders } = await ctx.server.api("GET", `/api/v1/shows/${show.id}/orders`, token);
  assert.deepEqual(orders.filter((o) => o.status === "paid").map((o) => o.product_id), [cap.id]);
  await page.screenshot({ path: path.join(SHOTS, "room-keyboard-phone.png") });
  await audit(page, "after a keyboard purchase, phone");
  assert.deepEqual(errors, []);
  await close();
});

test("after the show: the replay plays from the start and its card follows the recorded pins", { skip: needsStripe }, async () => {
  const { token, show, product } = await showWithProduct(ctx.server, { stock: 5, title: "Neon hoodie" });
  const cap = await ctx.server.api("POST", `/api/v1/shows/${show.id}/products`, token, {
    sku: "CAP-1", title: "Night cap", price_cents: 1900, currency: "usd", stock: 9,
  });
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  const encoder = publish(await rtmp(token, show), 16);
  // The second pin about eight seconds in.
  const live = async () => (await ctx.server.api("GET", `/api/v1/shows/${show.id}`)).live;
  for (let i = 0; i < 100 && !(await live()); i++) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 8000));
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: cap.id });
  await new Promise((r) => encoder.on("exit", r));
  for (let i = 0; i < 100 && (await live()); i++) await new Promise((r) => setTimeout(r, 200));

  for (const [viewport, name] of [[PHONE, "phone"], [DESKTOP, "desktop"]]) {
    const { page, errors, close } = await newPage(viewport);
    await page.goto(`${ctx.server.base}/watch/${show.id}`);
    await page.locator(".dc-replay-badge").waitFor({ state: "visible", timeout: 30000 });
    await playing(page, 0.5);
    // Seekable from the start.
    const [start, end] = await page.locator(".dc-video").evaluate((v) => [v.seekable.start(0), v.seekable.end(0)]);
    assert.ok(start < 1 && end > 10, `seekable ${start}..${end}`);
    await reads(page.locator(".dc-card .dc-title"), "Neon hoodie");
    // The chapters: each product where it was shown.
    const chapters = page.locator(".dc-chapter");
    await chapters.nth(1).waitFor({ timeout: 10000 });
    const listed = await chapters.evaluateAll((cs) => cs.map((c) => [c.dataset.product, Number(c.dataset.at)]));
    assert.deepEqual(listed.map((c) => c[0]), [product.id, cap.id]);
    assert.ok(listed[0][1] < 1 && listed[1][1] > 4 && listed[1][1] < 14, JSON.stringify(listed));
    // Jump to the second: the card follows; back to the first: it follows back.
    await chapters.nth(1).click();
    await reads(page.locator(".dc-card .dc-title"), "Night cap");
    await reads(page.locator(".dc-card .dc-stock"), "9 left");
    await page.screenshot({ path: path.join(SHOTS, `room-replay-${name}.png`) });
    await audit(page, `replay, ${name}`);
    await page.locator(".dc-video").evaluate((v) => { v.currentTime = 1; });
    await reads(page.locator(".dc-card .dc-title"), "Neon hoodie");
    // Buying works in the replay, at today's stock.
    if (name === "phone") {
      await page.locator(".dc-buy").click();
      await saveCard(page, "replay@example.com");
      await reads(page.locator(".dc-status"), "Paid — thank you! Your order is confirmed.");
      await reads(page.locator(".dc-card .dc-stock"), "4 left");
    }
    assert.deepEqual(errors, []);
    await close();
  }
});

/** A finished clip of `show` (the last `seconds` of its buffer) selling `product`. */
async function clipOf(token, show, product, format) {
  const queued = await ctx.server.api("POST", `/api/v1/shows/${show.id}/clips`, token, {
    last_seconds: 4, format, product_id: product.id,
  });
  for (let i = 0; i < 600; i++) {
    const clip = await ctx.server.api("GET", `/api/v1/clips/${queued.id}`, token);
    if (clip.status === "done") return clip;
    assert.notEqual(clip.status, "failed", JSON.stringify(clip));
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("the clip never finished");
}

test("a clip's page plays it, sells its product, counts for the clip, and embeds with data-clip", { skip: needsStripe }, async () => {
  const { token, show, product } = await showWithProduct(ctx.server, { stock: 5, title: "Glow cap" });
  await uploadImage(token, show.id, product.id, "orange");
  const encoder = publish(await rtmp(token, show), 8, { realtime: false });
  await new Promise((r) => encoder.on("exit", r));
  for (let i = 0; i < 100 && (await ctx.server.api("GET", `/api/v1/shows/${show.id}`)).live; i++) {
    await new Promise((r) => setTimeout(r, 200));
  }
  const original = await clipOf(token, show, product, "original");
  const vertical = await clipOf(token, show, product, "vertical");

  for (const [clip, viewport, name] of [[vertical, PHONE, "vertical-phone"], [original, DESKTOP, "original-desktop"]]) {
    const { page, errors, close } = await newPage(viewport);
    await page.goto(`${ctx.server.base}/clip/${clip.id}`);
    await page.waitForFunction(() => {
      const v = document.querySelector(".dc-clip-video");
      return v && v.readyState >= 2 && !v.paused;
    }, null, { timeout: 20000 });
    await reads(page.locator(".dc-card .dc-title"), "Glow cap");
    const size = await page.locator(".dc-clip-video").evaluate((v) => [v.videoWidth, v.videoHeight]);
    assert.deepEqual(size, clip.format === "vertical" ? [1080, 1920] : [1280, 720], name);
    // Its poster (the link preview's picture) has the clip's shape.
    const poster = await page.evaluate(async (u) => {
      const i = new Image();
      i.src = u;
      await i.decode();
      return [i.naturalWidth, i.naturalHeight];
    }, `${ctx.server.base}/api/v1/clips/${clip.id}/poster.jpg`);
    const ratio = poster[1] / poster[0];
    assert.ok(Math.abs(ratio - (clip.format === "vertical" ? 16 / 9 : 9 / 16)) < 0.02, `${name}: poster ${poster}`);
    await page.screenshot({ path: path.join(SHOTS, `clip-${name}.png`) });
    await audit(page, `clip, ${name}`);
    assert.deepEqual(errors, []);
    await close();
  }

  // Bought from the clip's page: the sale is the clip's.
  const { page, errors, close } = await newPage(PHONE);
  await page.goto(`${ctx.server.base}/clip/${original.id}`);
  await reads(page.locator(".dc-card .dc-stock"), "5 left");
  await page.locator(".dc-buy").click();
  await saveCard(page, "clip@example.com");
  await reads(page.locator(".dc-status"), "Paid — thank you! Your order is confirmed.");
  await reads(page.locator(".dc-card .dc-stock"), "4 left");
  const stats = await ctx.server.api("GET", `/api/v1/shows/${show.id}/stats`, token);
  const mine = stats.clips.find((c) => c.clip_id === original.id);
  assert.equal(mine.orders, 1, JSON.stringify(stats.clips));
  assert.equal(mine.units, 1);
  assert.equal(mine.revenue_cents, product.price_cents);
  assert.ok(mine.views >= 2 && mine.clicks >= 1, JSON.stringify(mine));
  assert.equal(stats.clips.find((c) => c.clip_id === vertical.id).orders, 0);
  assert.deepEqual(errors, []);
  await close();

  // One script tag on another site embeds the clip with its product.
  const { createServer } = await import("node:http");
  const host = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><meta name="viewport" content="width=device-width, initial-scale=1"><h1>A shop</h1>
<script src="${ctx.server.base}/embed.js" data-clip="${original.id}"></script><p>After.</p>`);
  });
  await new Promise((r) => host.listen(0, "127.0.0.1", r));
  const embedded = await newPage(PHONE);
  await embedded.page.goto(`http://localhost:${host.address().port}/`);
  let frame;
  for (let i = 0; i < 200 && !frame; i++) {
    frame = embedded.page.frames().find((f) => new URL(f.url(), "http://x").pathname === `/clip/${original.id}`);
    if (!frame) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(frame, "the clip's frame");
  await reads(frame.locator(".dc-card .dc-title"), "Glow cap");
  await frame.locator(".dc-clip-video").waitFor();
  await embedded.page.screenshot({ path: path.join(SHOTS, "clip-embedded-phone.png"), fullPage: true });
  assert.deepEqual(embedded.errors, []);
  await embedded.close();
  await new Promise((r) => host.close(r));
});
