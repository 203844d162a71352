// The shopping widget, embedded on another site with one script tag, in a
// real browser against the real server and localstripe.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { buyAsAnotherViewer, fillAddress, hostPage, phoneProfile, reads, SHOTS, shared, showWithProduct, widgetFrame } from "./harness.mjs";

const needsStripe = !process.env.DROPCAST_TEST_STRIPE_URL && "needs localstripe (DROPCAST_TEST_STRIPE_URL)";
const ctx = shared();

/** Fills Stripe's (localstripe's stand-in) card field in `frame` and saves it. */
async function saveCard(frame, number, email = "ada@example.com") {
  await frame.locator(".dc-cardform:not([hidden])").waitFor({ timeout: 5000 });
  await frame.locator(".dc-email").fill(email);
  await frame.locator(".dc-cardfield input").first().waitFor({ timeout: 5000 });
  for (const [placeholder, value] of [["number", number], ["exp_month", "12"], ["exp_year", "30"], ["cvc", "123"], ["postal_code", "42424"]]) {
    await frame.locator(`.dc-cardfield input[placeholder="${placeholder}"]`).fill(value);
  }
  await fillAddress(frame);
  await frame.locator(".dc-save").click();
}

/** A host page with the widget of a fresh show (one pinned product) and a
 *  buyer who has saved a card in it: `{ page, frame, host, show, product, token }`. */
async function readyBuyer({ stock = 5, title } = {}) {
  const { token, show, product } = await showWithProduct(ctx.server, { stock, title });
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  const host = await hostPage(ctx.server, show.id);
  const context = await phoneProfile();
  const page = await context.newPage();
  await page.goto(host.url);
  const frame = await widgetFrame(page);
  await reads(frame.locator(".dc-stock"), `${stock} left`);
  await frame.locator(".dc-buy").click();
  await saveCard(frame, "4242424242424242");
  await reads(frame.locator(".dc-status"), "Paid — thank you! Your order is confirmed.");
  const close = async () => {
    await context.close();
    await host.close();
  };
  return { page, frame, context, host, show, product, token, close };
}

/** The show's orders, and the PaymentIntents localstripe holds for them
 *  (page by page: it holds every test's). */
async function ordersAndIntents(show, token) {
  const { orders } = await ctx.server.api("GET", `/api/v1/shows/${show.id}/orders`, token);
  const ids = new Set(orders.map((o) => o.id));
  const intents = [];
  let after = "";
  for (;;) {
    const res = await fetch(`${process.env.DROPCAST_TEST_STRIPE_URL}/v1/payment_intents?limit=100${after}`, {
      headers: { authorization: "Basic " + Buffer.from("sk_test_browser:").toString("base64") },
    });
    const page = await res.json();
    intents.push(...page.data.filter((i) => ids.has(i.metadata?.order_id)));
    if (!page.has_more || page.data.length === 0) break;
    after = `&starting_after=${page.data[page.data.length - 1].id}`;
  }
  return { orders, intents };
}

// In a private window (this browser's own contexts) the frame gets no
// storage: the session lives in the page's memory, and buying still works.
test("embedded on another site: a first purchase with a card, then one tap", { skip: needsStripe }, async () => {
  const { token, show, product } = await showWithProduct(ctx.server, { stock: 5 });
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  const host = await hostPage(ctx.server, show.id);
  const page = await ctx.browser.newPage({ viewport: { width: 390, height: 844 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(host.url);
  const frame = await widgetFrame(page);
  assert.equal(new URL(frame.url()).origin, ctx.server.base, "the widget runs on Dropcast's origin");
  const buy = frame.locator(".dc-buy");
  await reads(frame.locator(".dc-stock"), "5 left");
  await reads(buy, "Buy now");

  // The host page's CSS does not reach inside; the widget's does not leak out.
  const style = await buy.evaluate((b) => {
    const s = getComputedStyle(b);
    return { display: s.display, color: s.color, font: s.fontSize };
  });
  assert.notEqual(style.display, "none");
  assert.notEqual(style.color, "rgb(255, 0, 0)");
  assert.equal(style.font, "18px");
  assert.equal(await page.locator("#after").evaluate((p) => getComputedStyle(p).color), "rgb(255, 0, 0)");
  // The frame is sized to its content (postMessage from the frame).
  const fits = async () => {
    const box = await (await frame.frameElement()).boundingBox();
    const content = await frame.locator("#dropcast").evaluate((e) => Math.ceil(e.getBoundingClientRect().height));
    return Math.abs(box.height - content) <= 2;
  };
  for (let i = 0; i < 100 && !(await fits()); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(await fits(), "the frame's height follows its content");
  await page.screenshot({ path: path.join(SHOTS, "widget-embedded-phone.png"), fullPage: true });

  // The shop bag opens inside the frame, which grows to show it whole.
  await frame.locator(".dc-bag-open").click();
  const bag = frame.locator("dialog.dc-bag");
  await bag.waitFor({ state: "visible" });
  const shown = async () => {
    const box = await (await frame.frameElement()).boundingBox();
    const sheet = await bag.evaluate((d) => Math.ceil(d.scrollHeight));
    return box.height >= sheet;
  };
  for (let i = 0; i < 100 && !(await shown()); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(await shown(), "the frame is as tall as the open bag");
  await frame.locator(`.dc-bag-item[data-product="${product.id}"] .dc-bag-buy`).waitFor({ state: "visible" });
  await page.screenshot({ path: path.join(SHOTS, "widget-embedded-bag-phone.png"), fullPage: true });
  await frame.locator(".dc-bag-close").click();
  await bag.waitFor({ state: "hidden" });
  for (let i = 0; i < 100 && !(await fits()); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(await fits(), "and back to its content once the bag is closed");

  // Another buyer's purchase shows here.
  assert.equal((await buyAsAnotherViewer(ctx.server, show, product)).status, "paid");
  await reads(frame.locator(".dc-stock"), "4 left");

  // First tap: no card yet, so the form asks for one (Stripe.js's field).
  await buy.click();
  await frame.locator(".dc-cardform:not([hidden])").waitFor({ timeout: 5000 });
  await page.screenshot({ path: path.join(SHOTS, "widget-card-form-phone.png"), fullPage: true });
  for (let i = 0; i < 100 && !(await fits()); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(await fits(), "the frame grew with the card form");
  await saveCard(frame, "4242424242424242");
  await reads(frame.locator(".dc-status"), "Paid — thank you! Your order is confirmed.");
  await reads(frame.locator(".dc-stock"), "3 left");
  assert.equal(await frame.locator(".dc-cardform").getAttribute("hidden"), "");
  await reads(frame.locator(".dc-saved-card"), "Pay with visa ··4242");

  // Second purchase: one tap, no form.
  await buy.click();
  await reads(frame.locator(".dc-stock"), "2 left");
  await reads(frame.locator(".dc-status"), "Paid — thank you! Your order is confirmed.");
  assert.equal(await frame.locator(".dc-cardform").getAttribute("hidden"), "");
  const orders = await ctx.server.api("GET", `/api/v1/shows/${show.id}/orders`, token);
  assert.equal(orders.orders.filter((o) => o.status === "paid").length, 3);

  // "Forget my card": the session ends; the next tap asks for a card again.
  await frame.locator(".dc-forget").click();
  await frame.locator(".dc-saved").waitFor({ state: "hidden", timeout: 5000 });
  await buy.click();
  await frame.locator(".dc-cardform:not([hidden])").waitFor({ timeout: 5000 });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: path.join(SHOTS, "widget-embedded-desktop.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
  await host.close();
});

test("(a) the answer to Buy is lost after the server charged: one order, one charge, paid", { skip: needsStripe }, async () => {
  const b = await readyBuyer({ stock: 5 });
  // The next order's answer never arrives: the server handles it, the
  // phone loses the reply.
  let cut = 0;
  await b.context.route("**/api/v1/shows/*/orders", async (route) => {
    if (route.request().method() !== "POST" || cut > 0) return route.continue();
    cut += 1;
    await route.fetch(); // the server places (and charges) the order
    await route.abort("connectionreset");
  });
  await b.frame.locator(".dc-buy").click();
  await reads(b.frame.locator(".dc-status"), "Paid — thank you! Your order is confirmed.");
  assert.equal(cut, 1, "the first answer was cut");
  const { orders, intents } = await ordersAndIntents(b.show, b.token);
  assert.equal(orders.length, 2, "one order for the card purchase, one for this tap");
  assert.equal(orders.filter((o) => o.status === "paid").length, 2);
  assert.equal(intents.length, 2, "one PaymentIntent per order");
  await reads(b.frame.locator(".dc-stock"), "3 left");
  await b.close();
});

test("(b) tapped while offline for 5 s: one paid order once back online", { skip: needsStripe }, async () => {
  const b = await readyBuyer({ stock: 5 });
  await b.context.setOffline(true);
  await b.frame.locator(".dc-buy").click();
  // At once: pressed, provisional, and never "try again".
  await reads(b.frame.locator(".dc-buy"), "Reserving…");
  assert.equal(await b.frame.locator(".dc-buy").isDisabled(), true, "no second tap while in flight");
  await reads(b.frame.locator(".dc-status"), "1 reserved — holding it for you");
  await b.page.screenshot({ path: path.join(SHOTS, "widget-offline-reserving-phone.png"), fullPage: true });
  await new Promise((r) => setTimeout(r, 5000));
  assert.equal(await b.frame.locator(".dc-status").textContent(), "1 reserved — holding it for you");
  await b.context.setOffline(false);
  await reads(b.frame.locator(".dc-status"), "Paid — thank you! Your order is confirmed.");
  const { orders } = await ordersAndIntents(b.show, b.token);
  assert.equal(orders.filter((o) => o.status === "paid").length, 2);
  assert.equal(orders.length, 2);
  await b.close();
});

test("(c) a reload mid-purchase resumes it and shows how it ended", { skip: needsStripe }, async () => {
  const b = await readyBuyer({ stock: 5 });
  // The first order goes through at the server; its answer never comes
  // back, and the buyer reloads. (Only the first: the page before the
  // reload must not finish the purchase itself by asking again.)
  let posts = 0;
  await b.context.route("**/api/v1/shows/*/orders", async (route) => {
    if (route.request().method() !== "POST" || ++posts > 1) return route.continue();
    await route.fetch();
    // Never answered: the page is reloaded meanwhile.
  });
  await b.frame.locator(".dc-buy").click();
  await reads(b.frame.locator(".dc-status"), "1 reserved — holding it for you");
  await b.page.reload();
  const frame = await widgetFrame(b.page);
  await reads(frame.locator(".dc-status"), "Paid — thank you! Your order is confirmed.");
  const { orders, intents } = await ordersAndIntents(b.show, b.token);
  assert.equal(orders.length, 2);
  assert.equal(orders.filter((o) => o.status === "paid").length, 2);
  assert.equal(intents.length, 2);
  // And a new tab of the same page has nothing left in flight.
  const other = await b.context.newPage();
  await other.goto(b.host.url);
  const otherFrame = await widgetFrame(other);
  await reads(otherFrame.locator(".dc-buy"), "Buy now");
  await b.close();
});

test("(d) a script of the host page can neither read the session nor press Buy", { skip: needsStripe }, async () => {
  const b = await readyBuyer({ stock: 5 });
  // The frame keeps the session (in localStorage, or — where the browser
  // refuses a third-party frame its storage, as here — a partitioned cookie).
  const kept = await b.frame.evaluate(() => {
    let local = "";
    try { local = Object.keys(localStorage).map((k) => localStorage.getItem(k)).join(" "); } catch { /* refused */ }
    return local + " " + decodeURIComponent(document.cookie);
  });
  assert.match(kept, /dcv_/, "the frame holds the session");
  const probe = await b.page.evaluate(async () => {
    const found = [];
    const look = (where, text) => { if (text && text.includes("dcv_")) found.push(where); };
    for (const k of Object.keys(localStorage)) look(`localStorage ${k}`, localStorage.getItem(k));
    for (const k of Object.keys(sessionStorage)) look(`sessionStorage ${k}`, sessionStorage.getItem(k));
    look("cookie", document.cookie);
    look("DOM", document.documentElement.outerHTML);
    const host = document.querySelector(".dropcast-widget");
    const shadow = host?.shadowRoot ?? null;
    let frameDoc = "unreachable";
    for (const f of Array.from(window.frames)) {
      try { frameDoc = f.document.documentElement.outerHTML; look("frame DOM", frameDoc); } catch { /* cross-origin */ }
      try { f.postMessage({ type: "dropcast:buy" }, "*"); f.postMessage("click .dc-buy", "*"); } catch {}
    }
    return { found, shadow: shadow === null, frameDoc: frameDoc === "unreachable" };
  });
  assert.deepEqual(probe.found, [], "nothing on the host page holds the token");
  assert.equal(probe.shadow, true, "the widget's root is closed to the host page");
  assert.equal(probe.frameDoc, true, "the frame's document is out of the host page's reach");
  await new Promise((r) => setTimeout(r, 1000));
  const { orders } = await ordersAndIntents(b.show, b.token);
  assert.equal(orders.length, 1, "no purchase was triggered from the host page");
  await b.close();
});

test("(e) a 429 is retried after Retry-After and ends paid", { skip: needsStripe }, async () => {
  const b = await readyBuyer({ stock: 5 });
  let limited = 0;
  await b.context.route("**/api/v1/shows/*/orders", async (route) => {
    if (route.request().method() !== "POST" || limited > 0) return route.continue();
    limited += 1;
    await route.fulfill({
      status: 429,
      headers: { "content-type": "application/json", "retry-after": "1", "access-control-allow-origin": "*" },
      body: JSON.stringify({ error: { code: "rate_limited", message: "too many requests; try again in 1 s" } }),
    });
  });
  await b.frame.locator(".dc-buy").click();
  await reads(b.frame.locator(".dc-status"), "1 reserved — holding it for you");
  await reads(b.frame.locator(".dc-status"), "Paid — thank you! Your order is confirmed.");
  assert.equal(limited, 1);
  const { orders } = await ordersAndIntents(b.show, b.token);
  assert.equal(orders.length, 2);
  assert.equal(orders.filter((o) => o.status === "paid").length, 2);
  await b.close();
});

test("the Buy button is refused until the drop opens", { skip: needsStripe }, async () => {
  const { token, show, product } = await showWithProduct(ctx.server, { stock: 2, title: "Drop tee" });
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  await ctx.server.api("POST", `/api/v1/shows/${show.id}/countdowns`, token, {
    kind: "drop_opens",
    seconds: 3,
    product_id: product.id,
  });
  const host = await hostPage(ctx.server, show.id);
  const page = await ctx.browser.newPage({ viewport: { width: 390, height: 844 } });
  await page.goto(host.url);
  const frame = await widgetFrame(page);
  const buy = frame.locator(".dc-buy");
  await reads(buy, "Not open yet");
  assert.equal(await buy.isDisabled(), true);
  assert.match(await frame.locator(".dc-countdown").textContent(), /^Drop opens in 0:0[1-3]$/);
  await page.screenshot({ path: path.join(SHOTS, "widget-drop-countdown-phone.png") });
  // The server refuses too, whatever a page shows.
  await assert.rejects(buyAsAnotherViewer(ctx.server, show, product), /409 .*drop_not_open/);
  // Then it opens, on the server's clock.
  await reads(buy, "Buy now");
  assert.equal(await buy.isDisabled(), false);
  assert.equal(await frame.locator(".dc-countdown").isHidden(), true);
  await page.close();
  await host.close();
});

test("a card that needs 3-D Secure is finished with Stripe.js", { skip: needsStripe }, async () => {
  const { token, show, product } = await showWithProduct(ctx.server, { stock: 3, title: "Secure sneaker" });
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  // On the watch page: the bank's prompt (localstripe's) lands in the page itself.
  const page = await ctx.browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${ctx.server.base}/watch/${show.id}`);
  await reads(page.locator(".dc-stock"), "3 left");
  await page.locator(".dc-buy").click();
  await page.locator(".dc-cardform:not([hidden])").waitFor({ timeout: 5000 });
  await page.locator(".dc-email").fill("grace@example.com");
  await page.locator(".dc-cardfield input").first().waitFor({ timeout: 5000 });
  for (const [placeholder, value] of [["number", "4000002760003184"], ["exp_month", "12"], ["exp_year", "30"], ["cvc", "123"], ["postal_code", "42424"]]) {
    await page.locator(`.dc-cardfield input[placeholder="${placeholder}"]`).fill(value);
  }
  await fillAddress(page);
  await page.locator(".dc-save").click();
  // The bank asks; the buyer confirms.
  const confirm = page.getByRole("button", { name: "Complete authentication" });
  await confirm.waitFor({ timeout: 10000 });
  await page.screenshot({ path: path.join(SHOTS, "widget-3ds-prompt.png") });
  await confirm.click();
  await reads(page.locator(".dc-status"), "Paid — thank you! Your order is confirmed.");
  await reads(page.locator(".dc-stock"), "2 left");

  // Next time the bank refuses: the buyer is told, and the stock comes back.
  await page.locator(".dc-buy").click();
  const fail = page.getByRole("button", { name: "Fail authentication" });
  await fail.waitFor({ timeout: 10000 });
  await reads(page.locator(".dc-stock"), "Last one!"); // held while the bank asks
  await fail.click();
  await reads(page.locator(".dc-status"), "Declined — try another card");
  await reads(page.locator(".dc-stock"), "2 left");
  await page.close();
});

test("a shipped product asks for the address once, a digital one never", { skip: needsStripe }, async () => {
  const { token, show, product } = await showWithProduct(ctx.server, { stock: 5 });
  await ctx.server.api("PATCH", `/api/v1/shows/${show.id}/products/${product.id}`, token, { shipping_cents: 800 });
  const ebook = await ctx.server.api("POST", `/api/v1/shows/${show.id}/products`, token, {
    sku: "LOOKBOOK", title: "Lookbook (PDF)", price_cents: 900, currency: "usd", stock: 50, fulfilment: "digital",
  });
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  const host = await hostPage(ctx.server, show.id);
  const context = await phoneProfile();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(host.url);
  const frame = await widgetFrame(page);
  await reads(frame.locator(".dc-shipping-price"), "+ $8.00 shipping, once per parcel");

  // First purchase: email, card and address together.
  await frame.locator(".dc-buy").click();
  await frame.locator(".dc-cardform:not([hidden])").waitFor({ timeout: 5000 });
  await frame.locator(".dc-address:not([hidden])").waitFor({ timeout: 5000 });
  await frame.locator(".dc-email").fill("ada@example.com");
  await frame.locator(".dc-cardfield input").first().waitFor({ timeout: 5000 });
  for (const [placeholder, value] of [["number", "4242424242424242"], ["exp_month", "12"], ["exp_year", "30"], ["cvc", "123"], ["postal_code", "42424"]]) {
    await frame.locator(`.dc-cardfield input[placeholder="${placeholder}"]`).fill(value);
  }
  assert.ok(await fillAddress(frame), "the form asks where it ships");
  await page.screenshot({ path: path.join(SHOTS, "widget-address-form-phone.png"), fullPage: true });
  await frame.locator(".dc-save").click();
  await reads(frame.locator(".dc-status"), "Paid — thank you! Your order is confirmed.");
  await reads(frame.locator(".dc-shipto-text"), "Ship to Ada L., London");
  await page.screenshot({ path: path.join(SHOTS, "widget-ship-to-phone.png"), fullPage: true });

  // Second: one tap, to the same address, in the same parcel.
  await frame.locator(".dc-buy").click();
  await reads(frame.locator(".dc-stock"), "3 left");
  await reads(frame.locator(".dc-status"), "Paid — thank you! Your order is confirmed.");
  assert.equal(await frame.locator(".dc-cardform").getAttribute("hidden"), "");
  const { orders } = await ctx.server.api("GET", `/api/v1/shows/${show.id}/orders`, token);
  const paid = orders.filter((o) => o.status === "paid");
  assert.equal(paid.length, 2);
  assert.ok(paid.every((o) => o.shipping?.postal_code === "SW1Y 4JH"), JSON.stringify(paid));
  assert.equal(new Set(paid.map((o) => o.shipment_id)).size, 1);
  assert.deepEqual(paid.map((o) => o.shipping_cents).sort(), [0, 800]);

  // A digital product: no address, no "ship to".
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: ebook.id });
  await reads(frame.locator(".dc-shipping-price"), "Digital — nothing to ship");
  await frame.locator(".dc-shipto").waitFor({ state: "hidden", timeout: 5000 });
  // A new buyer (the card forgotten) is asked for email and card only.
  await frame.locator(".dc-forget").click();
  await frame.locator(".dc-saved").waitFor({ state: "hidden", timeout: 5000 });
  await frame.locator(".dc-buy").click();
  await frame.locator(".dc-cardform:not([hidden])").waitFor({ timeout: 5000 });
  assert.equal(await frame.locator(".dc-address").getAttribute("hidden"), "", "a digital product asks for no address");
  assert.deepEqual(errors, []);
  await context.close();
  await host.close();
});
