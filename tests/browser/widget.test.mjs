// The shopping widget, embedded on another site with one script tag, in a
// real browser against the real server and localstripe.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { buyAsAnotherViewer, hostPage, reads, SHOTS, shared, showWithProduct } from "./harness.mjs";

const needsStripe = !process.env.DROPCAST_TEST_STRIPE_URL && "needs localstripe (DROPCAST_TEST_STRIPE_URL)";
const ctx = shared();

test("embedded on another site: a first purchase with a card, then one tap", { skip: needsStripe }, async () => {
  const { token, show, product } = await showWithProduct(ctx.server, { stock: 5 });
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  const host = await hostPage(ctx.server, show.id);
  const page = await ctx.browser.newPage({ viewport: { width: 390, height: 844 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(host.url);
  const buy = page.locator(".dc-buy");
  await reads(page.locator(".dc-stock"), "5 left");
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
  await page.screenshot({ path: path.join(SHOTS, "widget-embedded-phone.png"), fullPage: true });

  // Another buyer's purchase shows here.
  assert.equal((await buyAsAnotherViewer(ctx.server, show, product)).status, "paid");
  await reads(page.locator(".dc-stock"), "4 left");

  // First tap: no card yet, so the form asks for one (Stripe.js's field).
  await buy.click();
  await page.locator(".dc-cardform:not([hidden])").waitFor({ timeout: 5000 });
  await page.locator(".dc-email").fill("ada@example.com");
  const field = page.locator(".dc-cardfield input");
  await field.first().waitFor({ timeout: 5000 });
  for (const [placeholder, value] of [["number", "4242424242424242"], ["exp_month", "12"], ["exp_year", "30"], ["cvc", "123"], ["postal_code", "42424"]]) {
    await page.locator(`.dc-cardfield input[placeholder="${placeholder}"]`).fill(value);
  }
  await page.screenshot({ path: path.join(SHOTS, "widget-card-form-phone.png"), fullPage: true });
  await page.locator(".dc-save").click();
  await reads(page.locator(".dc-status"), "Paid — thank you! Your order is confirmed.");
  await reads(page.locator(".dc-stock"), "3 left");
  assert.equal(await page.locator(".dc-cardform").getAttribute("hidden"), "");

  // Second purchase: one tap, no form.
  await buy.click();
  await reads(page.locator(".dc-stock"), "2 left");
  await reads(page.locator(".dc-status"), "Paid — thank you! Your order is confirmed.");
  assert.equal(await page.locator(".dc-cardform").getAttribute("hidden"), "");
  const orders = await ctx.server.api("GET", `/api/v1/shows/${show.id}/orders`, token);
  assert.equal(orders.orders.filter((o) => o.status === "paid").length, 3);
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: path.join(SHOTS, "widget-embedded-desktop.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
  await host.close();
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
  const buy = page.locator(".dc-buy");
  await reads(buy, "Not open yet");
  assert.equal(await buy.isDisabled(), true);
  assert.match(await page.locator(".dc-countdown").textContent(), /^Drop opens in 0:0[1-3]$/);
  await page.screenshot({ path: path.join(SHOTS, "widget-drop-countdown-phone.png") });
  // The server refuses too, whatever a page shows.
  await assert.rejects(buyAsAnotherViewer(ctx.server, show, product), /409 .*drop_not_open/);
  // Then it opens, on the server's clock.
  await reads(buy, "Buy now");
  assert.equal(await buy.isDisabled(), false);
  assert.equal(await page.locator(".dc-countdown").isHidden(), true);
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
  await reads(page.locator(".dc-stock"), "1 left"); // held while the bank asks
  await fail.click();
  await reads(page.locator(".dc-status"), "Declined — try another card");
  await reads(page.locator(".dc-stock"), "2 left");
  await page.close();
});
