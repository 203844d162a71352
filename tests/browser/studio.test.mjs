// The studio in a real browser: the creator's console drives what viewers
// see (widget and overlay), the order feed refunds, the stream key stays
// hidden until asked, an editor gets only the clip desk, and the clip desk
// exports from a real stream with progress and offers the file.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { buyAsAnotherViewer, hostPage, LONDON, publish, reads, SHOTS, shared, showWithProduct, widgetFrame } from "./harness.mjs";

const needsStripe = !process.env.DROPCAST_TEST_STRIPE_URL && "needs localstripe (DROPCAST_TEST_STRIPE_URL)";
const ctx = shared();

/** A show with two products; the first pinned. */
async function twoProducts() {
  const made = await showWithProduct(ctx.server, { stock: 5 });
  const cap = await ctx.server.api("POST", `/api/v1/shows/${made.show.id}/products`, made.token, {
    sku: "CAP-1", title: "Dad cap", price_cents: 2500, currency: "usd", stock: 12,
  });
  await ctx.server.api("PUT", `/api/v1/shows/${made.show.id}/pin`, made.token, { product_id: made.product.id });
  return { ...made, cap };
}

async function openStudio(show, token, viewport = { width: 1280, height: 900 }) {
  const page = await ctx.browser.newPage({ viewport });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const res = await page.goto(`${ctx.server.base}/studio/${show.id}?token=${token}`);
  assert.equal(res.status(), 200);
  return { page, errors };
}

/** Starts watching `page` (the widget's shadow root, or the document) for
 *  `selector` to read `want` (or, with `want` null, to be shown); returns a
 *  function that resolves to the wall-clock ms when it first did. */
async function armed(page, selector, want) {
  await page.evaluate(([selector, want]) => {
    const root = document.querySelector(".dropcast-widget")?.shadowRoot ?? document;
    window.seenAt = new Promise((resolve) => {
      const check = () => {
        const el = root.querySelector(selector);
        const ok = el && (want === null ? !el.hidden : el.textContent.trim() === want);
        if (ok) {
          observer.disconnect();
          resolve(Date.now());
        }
      };
      const observer = new MutationObserver(check);
      observer.observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
      check();
    });
  }, [selector, want]);
  return () => page.evaluate(() => window.seenAt);
}

/** Clicks `button` in `studio` and waits until `selector` reads `want` on
 *  both `pages`; returns the ms from the click event (in the studio) to the
 *  later of the two changes, measured by the browser's own clock. */
async function clickUntil(studio, button, pages, selector, want) {
  const seen = await Promise.all(pages.map((p) => armed(p, selector, want)));
  await studio.evaluate(() => {
    window.clickAt = null;
    document.addEventListener("click", () => (window.clickAt ??= Date.now()), { capture: true, once: true });
  });
  await button.click();
  const at = await Promise.all(seen.map((wait) => Promise.race([
    wait(),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${selector} never read ${want}`)), 5000)),
  ])));
  return Math.max(...at) - (await studio.evaluate(() => window.clickAt));
}

test("a change made in the studio reaches an open widget and the overlay", async (t) => {
  const { token, show, cap } = await twoProducts();
  const host = await hostPage(ctx.server, show.id);
  const widgetPage = await ctx.browser.newPage({ viewport: { width: 390, height: 844 } });
  await widgetPage.goto(host.url);
  const widget = await widgetFrame(widgetPage);
  const overlay = await ctx.browser.newPage({ viewport: { width: 1920, height: 1080 } });
  await overlay.goto(`${ctx.server.base}/overlay/${show.id}`);
  const { page: studio, errors } = await openStudio(show, token);
  await reads(widget.locator(".dc-title"), "Neon hoodie");
  await reads(overlay.locator(".dc-title"), "Neon hoodie");
  const capRow = studio.locator(`.st-product[data-product="${cap.id}"]`);
  await reads(capRow.locator(".st-available"), "12");
  const viewers = [widget, overlay];
  const took = {};

  // Pin.
  took.pin = await clickUntil(studio, capRow.locator(".st-pin"), viewers, ".dc-title", "Dad cap");
  await reads(capRow.locator(".st-pin"), "Pinned ✓");
  assert.equal(await capRow.locator(".st-pin").getAttribute("aria-pressed"), "true");

  // Restock.
  await capRow.locator(".st-restock-n").fill("3");
  took.restock = await clickUntil(studio, capRow.locator(".st-restock"), viewers, ".dc-stock", "15 left");
  await reads(capRow.locator(".st-available"), "15");

  // Price.
  await capRow.locator(".st-price-in").fill("19.99");
  took.price = await clickUntil(studio, capRow.locator(".st-setprice"), viewers, ".dc-price", "$19.99");

  // A drop countdown on the pinned product: Buy waits for it.
  await studio.locator(".st-cd-kind").selectOption("drop_opens");
  await studio.locator(".st-cd-product").selectOption(cap.id);
  await studio.locator(".st-cd-seconds").fill("90");
  took.countdown = await clickUntil(studio, studio.locator(".st-cd-start"), viewers, ".dc-countdown", null);
  for (const page of [widget, overlay]) {
    assert.match(await page.locator(".dc-countdown").textContent(), /^Drop opens in 1:(2\d|30)$/);
  }
  await reads(widget.locator(".dc-buy"), "Not open yet");
  assert.equal(await widget.locator(".dc-buy").isDisabled(), true);
  assert.match(await studio.locator(".st-countdown").first().textContent(), /Drop opens in 1:\d\d · Dad cap/);

  // A product made in the studio shows in the widget once pinned.
  await studio.locator(".st-new summary").click();
  await studio.locator(".st-new-title").fill("Tote bag");
  await studio.locator(".st-new-sku").fill("TOTE-1");
  await studio.locator(".st-new-price").fill("12.5");
  await studio.locator(".st-new-stock").fill("7");
  await studio.locator(".st-new-add").click();
  const tote = studio.locator(".st-product", { hasText: "Tote bag" });
  await reads(tote.locator(".st-available"), "7");
  await reads(tote.locator(".st-pprice"), "$12.50");
  await tote.locator(".st-pin").click();
  await reads(widget.locator(".dc-title"), "Tote bag");
  await reads(widget.locator(".dc-stock"), "7 left");

  // Bad input is refused in words and changes nothing.
  await tote.locator(".st-restock-n").fill("-100");
  await tote.locator(".st-restock").click();
  await tote.locator(".st-error:not([hidden])").waitFor({ timeout: 5000 });
  await reads(widget.locator(".dc-stock"), "7 left");

  // From the click to both pages showing it, by the browser's clock:
  // reported, not asserted (speed is for benchmarks); the waits above are
  // deadlines.
  t.diagnostic(`studio click → widget and overlay, ms: ${JSON.stringify(took)}`);
  await studio.screenshot({ path: path.join(SHOTS, "studio-show-desktop.png"), fullPage: true });
  await studio.setViewportSize({ width: 390, height: 844 });
  await studio.screenshot({ path: path.join(SHOTS, "studio-show-phone.png"), fullPage: true });
  assert.deepEqual(errors, []);
  for (const p of [widgetPage, overlay, studio]) await p.close();
  await host.close();
});

test("the order feed and stats follow sales, and a refund puts stock back", { skip: needsStripe }, async () => {
  const { token, show, product } = await twoProducts();
  const { page: studio, errors } = await openStudio(show, token);
  await reads(studio.locator(".st-f-units"), "0");
  assert.equal((await buyAsAnotherViewer(ctx.server, show, product, 2)).status, "paid");
  const row = studio.locator(".st-order").first();
  await reads(row.locator(".st-badge"), "Paid");
  await reads(row.locator(".st-oitem"), "2 × Neon hoodie");
  await reads(row.locator(".st-oamount"), "$98.00");
  await reads(studio.locator(".st-f-units"), "2");
  await reads(studio.locator(".st-f-revenue"), "$98.00");
  const hoodie = studio.locator(`.st-product[data-product="${product.id}"]`);
  await reads(hoodie.locator(".st-available"), "3");
  await reads(hoodie.locator(".st-sold"), "2");
  // The chart has this minute's bar.
  assert.equal(await studio.locator(".st-chart rect.st-bar").count(), 1);
  assert.match(await studio.locator(".st-chart svg").getAttribute("aria-label"), /2 in all/);

  // Refund asks once more, then goes through Stripe and restocks.
  await row.locator(".st-refund").click();
  await reads(row.locator(".st-refund"), "Confirm refund");
  await row.locator(".st-refund").click();
  await reads(studio.locator(".st-order").first().locator(".st-badge"), "Refunded");
  await reads(hoodie.locator(".st-available"), "5");
  await reads(hoodie.locator(".st-sold"), "0");
  const order = (await ctx.server.api("GET", `/api/v1/shows/${show.id}/orders`, token)).orders[0];
  assert.equal(order.status, "refunded");
  assert.deepEqual(errors, []);
  await studio.close();
});

test("the stream key is hidden until asked; editors get the clip desk only; bad tokens are refused", async () => {
  const { token, show } = await twoProducts();
  const mine = await ctx.server.api("GET", `/api/v1/shows/${show.id}`, token);
  const { page: studio, errors } = await openStudio(show, token);
  const key = studio.locator(".st-key");
  await key.waitFor({ timeout: 5000 });
  // The token is out of the address bar (and so out of screenshots).
  assert.equal(new URL(studio.url()).search, "");
  assert.doesNotMatch(await key.inputValue(), /live_/);
  assert.equal(await key.inputValue(), "•".repeat(16));
  await studio.locator(".st-copy", { has: key }).locator(".st-reveal").click();
  assert.equal(await key.inputValue(), mine.stream_key);
  assert.equal(await studio.locator(".st-rtmp-server").inputValue(), mine.ingest.rtmp.replace(`/${mine.stream_key}`, ""));
  // A reload keeps the studio open for this tab.
  await studio.reload();
  await reads(studio.locator(".st-role"), "Creator");
  assert.deepEqual(errors, []);
  await studio.close();

  const editor = await ctx.server.api("POST", `/api/v1/shows/${show.id}/editors`, token);
  const { page: desk } = await openStudio(show, editor.token);
  await reads(desk.locator(".st-role"), "Editor");
  assert.equal(await desk.locator(".st-desk").isVisible(), true);
  assert.equal(await desk.locator(".st-tabs").isVisible(), false);
  assert.equal(await desk.locator(".st-key").count(), 0);
  assert.equal(await desk.locator(".st-products").count(), 0);
  await desk.close();

  for (const [bad, words] of [["dcc_not-a-real-token", /not valid/], [editor.token.replace(/.$/, "x"), /not valid/]]) {
    const { page } = await openStudio(show, bad);
    await page.locator(".st-refused").waitFor({ timeout: 5000 });
    assert.match(await page.locator(".st-refused").textContent(), words);
    await page.close();
  }
  // Another creator's token: not theirs.
  const other = await showWithProduct(ctx.server);
  const { page: stranger } = await openStudio(show, other.token);
  await stranger.locator(".st-refused").waitFor({ timeout: 5000 });
  assert.match(await stranger.locator(".st-refused").textContent(), /not for this show/);
  await stranger.close();
});

test("the studio says when OBS's keyframes are too far apart, with the fix, and why a stream was cut", async () => {
  const { token, show } = await twoProducts();
  const mine = await ctx.server.api("GET", `/api/v1/shows/${show.id}`, token);
  const rtmp = mine.ingest.rtmp.replace(/:\d+\//, `:${ctx.server.rtmpPort}/`);
  const phone = { width: 390, height: 844 };
  const { page: studio, errors } = await openStudio(show, token, phone);
  // The Go-live steps give the setting before anything is streamed.
  const step = studio.locator(".st-kf-step");
  await step.waitFor({ timeout: 5000 });
  assert.match(await step.textContent(), /Enable Advanced Encoder Settings.*keyint=60.*Keyframe Interval.*2 s/s);
  assert.equal(await studio.locator(".st-kf-warn").count(), 0);
  // OBS's default GOP (250 frames): measured once two keyframes are in.
  const encoder = publish(rtmp, 30, { gop: 250 });
  try {
    const warn = studio.locator(".st-kf-warn");
    await warn.waitFor({ timeout: 40000 });
    const said = await warn.textContent();
    assert.match(said, /every 8\.3 s/);
    assert.match(said, /Simple output mode: Settings → Output → check "Enable Advanced Encoder Settings" → x264 Options: keyint=60/);
    assert.match(said, /Advanced output mode: Settings → Output → Streaming → Keyframe Interval: 2 s/);
    assert.match(await studio.locator(".st-kf-value").textContent(), /8\.3 s/);
    await warn.scrollIntoViewIfNeeded();
    await studio.screenshot({ path: path.join(SHOTS, "studio-keyframe-warning-phone.png") });
  } finally {
    encoder.kill("SIGKILL");
  }
  await reads(studio.locator(".st-onair"), "Offline");
  // A file sent at full speed is cut; the studio says so and what to do.
  const flood = publish(rtmp, 60, { realtime: false });
  await new Promise((resolve) => flood.on("exit", resolve));
  const cut = studio.locator('.st-cut[data-code="flood"]');
  await cut.waitFor({ timeout: 20000 });
  assert.match(await cut.textContent(), /faster than it plays/);
  await cut.scrollIntoViewIfNeeded();
  await studio.screenshot({ path: path.join(SHOTS, "studio-stream-cut-phone.png") });
  assert.deepEqual(errors, []);
  await studio.close();
});

test("the clip desk exports from a real stream, shows progress and offers the file", async () => {
  const { token, show, cap } = await twoProducts();
  const mine = await ctx.server.api("GET", `/api/v1/shows/${show.id}`, token);
  const encoder = publish(mine.ingest.rtmp.replace(/:\d+\//, `:${ctx.server.rtmpPort}/`), 40);
  try {
    const { page: studio, errors } = await openStudio(show, token);
    await studio.locator(".st-tab", { hasText: "Clip desk" }).click();
    await reads(studio.locator(".st-onair"), "● LIVE");
    // A few segments in, pin another product: it lands on the timeline.
    await studio.waitForFunction(() => document.querySelectorAll(".st-thumb").length >= 3, null, { timeout: 30000 });
    await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: cap.id });
    await studio.locator(".st-mark.st-m-pin").first().waitFor({ timeout: 10000 });
    assert.match(await studio.locator(".st-buffer").textContent(), /^Replay buffer: 0:\d\d .*, live$/);
    await studio.waitForFunction(() => document.querySelectorAll(".st-thumb").length >= 6, null, { timeout: 30000 });

    // Watch every status and progress value the export rows go through.
    await studio.evaluate(() => {
      window.seen = [];
      new MutationObserver(() => {
        for (const li of document.querySelectorAll(".st-clip")) {
          const bar = li.querySelector(".st-progress");
          window.seen.push([li.dataset.clip, li.dataset.status, bar ? bar.value : null]);
        }
      }).observe(document.querySelector(".st-clips"), { subtree: true, attributes: true, childList: true });
    });

    // The last 60 s (all of this short buffer), cut without re-encoding.
    await studio.locator(".st-last60").click();
    const first = studio.locator(".st-clip").first();
    await first.locator(".st-download").waitFor({ timeout: 30000 });
    assert.equal(await first.getAttribute("data-status"), "done");
    const href = await first.locator(".st-download").getAttribute("href");
    const file = await fetch(new URL(href, ctx.server.base));
    assert.equal(file.status, 200);
    assert.equal(file.headers.get("content-type"), "video/mp4");
    assert.ok((await file.arrayBuffer()).byteLength > 100_000);
    await studio.waitForFunction(() => {
      const v = document.querySelector(".st-clip .st-preview");
      return v && v.readyState >= 1 && v.duration > 5;
    }, null, { timeout: 10000 });

    // A vertical short of a selection picked on the timeline, linked to the cap.
    await studio.locator(".st-timeline").click({ position: { x: 20, y: 40 } });
    const length = await studio.locator(".st-sellen").textContent();
    assert.match(length, /^Selection: 0:(0[5-9]|[1-3]\d)$/);
    // Its in-point 3.5 s into the buffer: 1.5 s into the second 2 s GOP.
    await studio.evaluate(() => {
      const input = document.querySelector(".st-in");
      input.value = String(Number(input.min) + 3500);
      input.dispatchEvent(new Event("input", { bubbles: true }));
    });
    await studio.locator(".st-fmt-vertical").check();
    await studio.locator(".st-clip-product").selectOption(cap.id);
    await studio.locator(".st-export").click();
    await studio.waitForFunction(() => document.querySelectorAll(".st-clip").length === 2, null, { timeout: 10000 });
    const vertical = studio.locator(".st-clip").first();
    const id = await vertical.getAttribute("data-clip");
    await vertical.locator(".st-download").waitFor({ timeout: 120000 });
    const states = (await studio.evaluate(() => window.seen)).filter(([clip]) => clip === id);
    const running = states.filter(([, status, value]) => status === "running" && value > 0 && value < 100);
    assert.ok(running.length > 0, `a progress bar between 0 and 100 was shown: ${JSON.stringify(states.slice(-20))}`);
    assert.match(await vertical.locator(".st-cliphead").textContent(), /^Vertical 9:16 · 0:\d\d/);
    const clip = await ctx.server.api("GET", `/api/v1/clips/${id}`, token);
    assert.equal(clip.format, "vertical");
    assert.equal(clip.product_id, cap.id);
    // The selection's start snapped back to a keyframe, and the row says by
    // how much (a click on the timeline is almost never on one).
    const early = clip.asked_start_ms - clip.start_ms;
    assert.ok(early >= 1000 && early <= 2000, `snapped back into the GOP: ${early} ms`);
    assert.equal(
      await vertical.locator(".st-snap").textContent(),
      `Starts ${Math.floor((early + 50) / 1000)}.${Math.floor((early + 50) / 100) % 10} s before your in-point, at the keyframe there: clips start on one.`,
    );
    // The cut of the whole buffer started on its first keyframe: no note.
    assert.equal(await studio.locator(".st-clip").nth(1).locator(".st-snap").count(), 0);
    await studio.screenshot({ path: path.join(SHOTS, "studio-desk-desktop.png"), fullPage: true });
    await studio.setViewportSize({ width: 390, height: 844 });
    await studio.screenshot({ path: path.join(SHOTS, "studio-desk-phone.png"), fullPage: true });
    assert.deepEqual(errors, []);
    await studio.close();
  } finally {
    encoder.kill("SIGINT");
  }
});

/** A buyer with a saved card who ships to `shipping`: a function that
 *  orders `quantity` of a product of `show` and answers the order. */
async function buyerShippingTo(show, email, shipping) {
  const viewer = await ctx.server.api("POST", "/api/v1/viewers");
  await ctx.server.api("PUT", "/api/v1/viewers/me/payment-method", viewer.token, {
    email,
    payment_method: "pm_card_visa",
    shipping,
  });
  return (product, quantity = 1) =>
    ctx.server.api("POST", `/api/v1/shows/${show.id}/orders`, viewer.token, {
      product_id: product.id,
      quantity,
      idempotency_key: `k-${Math.random()}`,
    });
}

const PARIS = { name: "Marie Curie", line1: "1 Rue Pierre et Marie Curie", city: "Paris", postal_code: "75005", country: "FR" };
const ARLINGTON = { name: "Grace Hopper", line1: "1 Navy Street", city: "Arlington", region: "VA", postal_code: "22202", country: "US" };

test("after the show: parcels by buyer, the packing list, shipped one by one and from a CSV, cancel and partial refunds", { skip: needsStripe }, async () => {
  const { token, show, product: hoodie, cap } = await twoProducts();
  const { page: studio, errors } = await openStudio(show, token);
  // A flat shipping price per parcel, set in the studio.
  await studio.locator(".st-show-flat").fill("4.00");
  await studio.locator(".st-show-save").click();
  await studio.locator(".st-saved:not([hidden])", { hasText: "Saved." }).first().waitFor({ timeout: 5000 });
  assert.equal((await ctx.server.api("GET", `/api/v1/shows/${show.id}`)).shipping_flat_cents, 400);

  // Ada buys twice (one parcel, shipping once), Marie and Grace once each.
  const ada = await buyerShippingTo(show, "ada@example.com", LONDON);
  const marie = await buyerShippingTo(show, "marie@example.com", PARIS);
  const grace = await buyerShippingTo(show, "grace@example.com", ARLINGTON);
  const adaHoodies = await ada(hoodie, 2);
  const adaCap = await ada(cap, 1);
  const marieHoodie = await marie(hoodie, 1);
  const graceCap = await grace(cap, 1);
  for (const o of [adaHoodies, adaCap, marieHoodie, graceCap]) assert.equal(o.status, "paid");
  assert.equal(adaHoodies.amount_cents + adaCap.amount_cents, 2 * 4900 + 2500 + 400);

  await studio.locator(".st-tab", { hasText: "Shipments" }).click();
  const parcels = studio.locator(".st-parcel");
  await studio.waitForFunction(() => document.querySelectorAll(".st-parcel").length === 3, null, { timeout: 5000 });
  await reads(studio.locator(".st-filter", { hasText: "To ship" }).locator(".st-count"), "3");
  const adaParcel = parcels.filter({ hasText: "ada@example.com" });
  await reads(adaParcel.locator(".st-parcel-name"), "Ada Lovelace");
  await reads(adaParcel.locator(".st-parcel-count"), "3 items");
  assert.deepEqual(await adaParcel.locator(".st-addr span").allTextContents(), ["12 St James's Square", "London SW1Y 4JH", "GB"]);
  assert.deepEqual(await adaParcel.locator(".st-item-what").allTextContents(), ["2 × Neon hoodie HOOD-1", "1 × Dad cap CAP-1"]);
  assert.deepEqual(await adaParcel.locator(".st-item .st-oamount").allTextContents(), ["$98.00", "$25.00"]);
  assert.match(await adaParcel.locator(".st-parcel-sum").textContent(), /Shipping \$4\.00 · charged in all \$127\.00/);
  await studio.setViewportSize({ width: 390, height: 844 });
  await studio.screenshot({ path: path.join(SHOTS, "studio-shipments-phone.png"), fullPage: true });
  await studio.setViewportSize({ width: 1280, height: 900 });

  // The packing list: one row per parcel, with its address.
  const [download] = await Promise.all([studio.waitForEvent("download"), studio.locator(".st-csv").click()]);
  assert.equal(download.suggestedFilename(), `dropcast-${show.id}-packing-list.csv`);
  const csv = readFileSync(await download.path(), "utf8").trim().split(/\r?\n/);
  assert.equal(csv.length, 4);
  assert.match(csv[0], /^shipment_id,status,name,line1,line2,city,region,postal_code,country,email,items/);
  const adaRow = csv.find((l) => l.includes("ada@example.com"));
  assert.match(adaRow, /,unshipped,Ada Lovelace,12 St James's Square,,London,,SW1Y 4JH,GB,ada@example.com,2 x HOOD-1 Neon hoodie; 1 x CAP-1 Dad cap,3,/);
  const idOf = (email) => csv.find((l) => l.includes(email)).split(",")[0];

  // Grace's order is cancelled before it ships: refunded, the cap back in stock.
  const graceParcel = parcels.filter({ hasText: "grace@example.com" });
  await graceParcel.locator(".st-cancel").click();
  await reads(graceParcel.locator(".st-cancel"), "Confirm: refund and restock");
  await graceParcel.locator(".st-cancel").click();
  await studio.waitForFunction(() => document.querySelectorAll(".st-parcel").length === 2, null, { timeout: 5000 });
  assert.equal((await ctx.server.api("GET", `/api/v1/orders/${graceCap.id}`, token)).status, "refunded");
  await studio.locator(".st-tab", { hasText: "Show" }).click();
  await reads(studio.locator(`.st-product[data-product="${cap.id}"] .st-available`), "11");
  await studio.locator(".st-tab", { hasText: "Shipments" }).click();

  // A partial refund of $10 on Ada's hoodies.
  const hoodieLine = adaParcel.locator(`.st-item[data-order="${adaHoodies.id}"]`);
  await hoodieLine.locator(".st-partial").click();
  await hoodieLine.locator(".st-partial-in").fill("10");
  await hoodieLine.locator(".st-partial-form .st-refund").click();
  await reads(adaParcel.locator(`.st-item[data-order="${adaHoodies.id}"] .st-refunded`), "$10.00 refunded");
  const refunded = await ctx.server.api("GET", `/api/v1/orders/${adaHoodies.id}`, token);
  assert.equal(refunded.status, "paid");
  assert.equal(refunded.refunded_cents, 1000);

  // Marie's parcel, marked shipped by hand.
  const marieParcel = parcels.filter({ hasText: "marie@example.com" });
  await marieParcel.locator(".st-carrier").fill("La Poste");
  await marieParcel.locator(".st-tracking-in").fill("6A12345678901");
  await marieParcel.locator(".st-ship").click();
  await reads(studio.locator(".st-filter", { hasText: "To ship" }).locator(".st-count"), "1");
  await studio.locator(".st-filter", { hasText: "Shipped" }).click();
  await reads(marieParcel.locator(".st-tracking-no"), "6A12345678901");
  await reads(marieParcel.locator(".st-badge"), "Shipped");

  // A CSV naming a parcel that is not this show's changes nothing.
  const upload = (text) => studio.locator(".st-import-file").setInputFiles({ name: "tracking.csv", mimeType: "text/csv", buffer: Buffer.from(text) });
  await upload(`shipment_id,carrier,tracking\n${idOf("ada@example.com")},Royal Mail,RM123456785GB\nnot-a-parcel,DPD,15501234567890\n`);
  await reads(studio.locator(".st-import-result"), 'nothing was changed: line 3: no shipment of this show has id "not-a-parcel"');
  await studio.locator(".st-filter", { hasText: "To ship" }).click();
  await reads(studio.locator(".st-filter", { hasText: "To ship" }).locator(".st-count"), "1");
  // The packing list itself, with the tracking filled in, ships the rest.
  const header = csv[0].split(",");
  const filled = csv.map((line, i) => {
    if (i === 0 || !line.includes("ada@example.com")) return line;
    const cells = line.split(",");
    cells[header.indexOf("carrier")] = "Royal Mail";
    cells[header.indexOf("tracking")] = "RM123456785GB";
    return cells.join(",");
  });
  await upload(filled.filter((l) => !l.includes("grace@example.com") && !l.includes("marie@example.com")).join("\n"));
  await reads(studio.locator(".st-import-result"), "1 parcel marked shipped; each buyer is told.");
  await reads(studio.locator(".st-filter", { hasText: "To ship" }).locator(".st-count"), "0");
  await reads(studio.locator(".st-ship-empty"), "Everything has shipped.");
  const { shipments } = await ctx.server.api("GET", `/api/v1/shows/${show.id}/shipments`, token);
  assert.deepEqual(shipments.map((s) => [s.email, s.status, s.carrier, s.tracking]).sort(), [
    ["ada@example.com", "shipped", "Royal Mail", "RM123456785GB"],
    ["marie@example.com", "shipped", "La Poste", "6A12345678901"],
  ]);
  // A shipped parcel cannot be cancelled, only refunded.
  await studio.locator(".st-filter", { hasText: "All" }).click();
  await reads(studio.locator(".st-filter", { hasText: "All" }).locator(".st-count"), "2");
  assert.equal(await adaParcel.locator(".st-cancel").count(), 0);
  assert.equal(await adaParcel.locator(".st-partial").count(), 2);
  await studio.screenshot({ path: path.join(SHOTS, "studio-shipments-desktop.png"), fullPage: true });
  await studio.setViewportSize({ width: 390, height: 844 });
  await studio.screenshot({ path: path.join(SHOTS, "studio-shipments-shipped-phone.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await studio.close();
});

test("a product is edited and archived in the studio; a show that never went live is deleted", async () => {
  const { token, show, product: hoodie, cap } = await twoProducts();
  const host = await hostPage(ctx.server, show.id);
  const widgetPage = await ctx.browser.newPage({ viewport: { width: 390, height: 844 } });
  await widgetPage.goto(host.url);
  const widget = await widgetFrame(widgetPage);
  await reads(widget.locator(".dc-title"), "Neon hoodie");
  const { page: studio, errors } = await openStudio(show, token);
  const row = studio.locator(`.st-product[data-product="${hoodie.id}"]`);
  await row.locator(".st-edit summary").click();
  assert.equal(await row.locator(".st-edit-title").inputValue(), "Neon hoodie");
  await row.locator(".st-edit-title").fill("Neon hoodie (signed)");
  await row.locator(".st-edit-shipping").fill("6.50");
  await row.locator(".st-edit-max").fill("2");
  await row.locator(".st-edit-save").click();
  await reads(row.locator(".st-edit .st-saved"), "Saved.");
  await reads(widget.locator(".dc-title"), "Neon hoodie (signed)");
  await reads(widget.locator(".dc-shipping-price"), "+ $6.50 shipping, once per parcel");
  let p = (await ctx.server.api("GET", `/api/v1/shows/${show.id}`)).products.find((x) => x.id === hoodie.id);
  assert.deepEqual([p.title, p.fulfilment, p.shipping_cents, p.max_per_buyer], ["Neon hoodie (signed)", "shipping", 650, 2]);
  // Digital, and the limit lifted.
  await row.locator(".st-edit-fulfilment").selectOption("digital");
  assert.equal(await row.locator(".st-edit-shipping").isVisible(), false);
  await row.locator(".st-edit-max").fill("");
  await row.locator(".st-edit-save").click();
  await reads(widget.locator(".dc-shipping-price"), "Digital — nothing to ship");
  p = (await ctx.server.api("GET", `/api/v1/shows/${show.id}`)).products.find((x) => x.id === hoodie.id);
  assert.deepEqual([p.fulfilment, p.max_per_buyer], ["digital", null]);
  // A bad price is refused in words.
  await row.locator(".st-edit-fulfilment").selectOption("shipping");
  await row.locator(".st-edit-shipping").fill("lots");
  await row.locator(".st-edit-save").click();
  await reads(row.locator(".st-edit .st-error"), "Shipping: “lots” is not a price like 12.50");

  // A picture from the computer: resized by the server, shown to viewers;
  // a file that is not a picture is refused in words.
  const dir = mkdtempSync(path.join(tmpdir(), "dropcast-pic-"));
  const png = path.join(dir, "hoodie.png");
  execFileSync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=orange:s=800x600", "-frames:v", "1", png]);
  await row.locator(".st-edit-image").setInputFiles(png);
  await row.locator(".st-picture-img").waitFor({ timeout: 10000 });
  p = (await ctx.server.api("GET", `/api/v1/shows/${show.id}`)).products.find((x) => x.id === hoodie.id);
  assert.match(p.thumb_url, /\/images\/img_[^/]+-160\.jpg$/);
  assert.equal(await row.locator(".st-picture-img").getAttribute("src"), p.thumb_url);
  await widget.locator(`.dc-card img.dc-image[src="${p.thumb_url}"]`).waitFor({ timeout: 5000 });
  await studio.screenshot({ path: path.join(SHOTS, "studio-product-picture.png") });
  const notes = path.join(dir, "notes.png");
  writeFileSync(notes, "not a picture at all");
  await row.locator(".st-edit-image").setInputFiles(notes);
  await reads(row.locator(".st-edit .st-error"), "send a PNG, JPEG or WebP image");

  // Archived: it leaves the studio's list and the widget's card.
  await row.locator(".st-archive").click();
  await reads(row.locator(".st-archive"), "Confirm: take it off the show");
  await row.locator(".st-archive").click();
  await studio.waitForFunction((id) => !document.querySelector(`.st-product[data-product="${id}"]`), hoodie.id, { timeout: 5000 });
  await reads(studio.locator(".st-product .st-ptitle"), "Dad cap");
  assert.equal((await ctx.server.api("GET", `/api/v1/shows/${show.id}`)).products.map((x) => x.id).join(), cap.id);
  await widget.locator(".dc-buy").waitFor({ state: "hidden", timeout: 5000 });

  // Never live, nothing sold: deleted after a second click.
  await studio.locator(".st-delete-show").click();
  await reads(studio.locator(".st-delete-show"), "Confirm: delete this show");
  await studio.locator(".st-delete-show").click();
  await reads(studio.locator(".st-delete-show"), "Deleted");
  const gone = await fetch(`${ctx.server.base}/api/v1/shows/${show.id}`);
  assert.equal(gone.status, 404);
  assert.deepEqual(errors, []);
  for (const page of [widgetPage, studio]) await page.close();
  await host.close();
});
