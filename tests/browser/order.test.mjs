// The buyer's order page, opened from the link in each of their emails (a
// real SMTP server here), at phone size: paid, then shipped with its
// tracking number, then partly refunded; a forged link opens nothing.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { LONDON, reads, SHOTS, shared } from "./harness.mjs";

const needsStripe = !process.env.DROPCAST_TEST_STRIPE_URL && "needs localstripe (DROPCAST_TEST_STRIPE_URL)";
const ctx = shared({ smtp: true });

/** The order page's address in a mail's plain text. */
function linkIn(mail) {
  const m = mail.text.match(/https?:\/\/\S+\/order\/[^\s?]+\?k=[0-9a-f]+/);
  assert.ok(m, `a link to the order page in: ${mail.text}`);
  return m[0];
}

test("each email's link opens the buyer's order page: paid, shipped with tracking, refunded", { skip: needsStripe }, async () => {
  const api = ctx.server.api;
  const creator = await api("POST", "/api/v1/creators", ctx.server.admin, { name: "Ada's Threads", email: "studio@adas-threads.test" });
  const show = await api("POST", "/api/v1/shows", creator.token, { title: "Autumn drop" });
  const product = await api("POST", `/api/v1/shows/${show.id}/products`, creator.token, {
    sku: "HOOD-1", title: "Neon hoodie", price_cents: 4900, currency: "usd", stock: 5, shipping_cents: 500,
  });
  const viewer = await api("POST", "/api/v1/viewers");
  await api("PUT", "/api/v1/viewers/me/payment-method", viewer.token, {
    email: "ada@example.com", payment_method: "pm_card_visa", shipping: LONDON,
  });
  const order = await api("POST", `/api/v1/shows/${show.id}/orders`, viewer.token, {
    product_id: product.id, quantity: 2, idempotency_key: "order-page-1",
  });
  assert.equal(order.status, "paid");
  assert.equal(order.amount_cents, 2 * 4900 + 500);

  const paidMail = await ctx.mail.waitFor((m) => m.subject.startsWith(`Your order ${order.id}`));
  assert.equal(paidMail.reply_to, "studio@adas-threads.test");
  const page = await ctx.browser.newPage({ viewport: { width: 390, height: 844 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(linkIn(paidMail));
  await reads(page.locator(".dc-order-status"), "Paid");
  await reads(page.locator(".dc-order-item"), "2 × Neon hoodie — $98.00");
  await reads(page.locator(".dc-order-shipping"), "Shipping $5.00");
  await reads(page.locator(".dc-order-total"), "Total $103.00");
  await reads(page.locator(".dc-order-address"), "Ships to Ada Lovelace, 12 St James's Square, London, SW1Y 4JH, GB");
  await reads(page.locator(".dc-order-number"), `Order ${order.id}`);
  assert.equal(await page.locator(".dc-order-tracking").count(), 0);
  await page.screenshot({ path: path.join(SHOTS, "order-paid-phone.png"), fullPage: true });

  // Shipped: the notice carries the tracking number, the page shows it.
  const { shipments } = await api("GET", `/api/v1/shows/${show.id}/shipments`, creator.token);
  assert.equal(shipments.length, 1);
  await api("POST", `/api/v1/shipments/${shipments[0].id}/ship`, creator.token, { carrier: "Royal Mail", tracking: "RM123456785GB" });
  const shippedMail = await ctx.mail.waitFor((m) => m.text.includes("RM123456785GB"));
  await page.goto(linkIn(shippedMail));
  await reads(page.locator(".dc-order-status"), "Paid · shipped");
  await reads(page.locator(".dc-order-tracking"), "Tracking: Royal Mail RM123456785GB");
  await page.screenshot({ path: path.join(SHOTS, "order-shipped-phone.png"), fullPage: true });

  // A partial refund: its notice, and the page says how much came back.
  await api("POST", `/api/v1/orders/${order.id}/refund`, creator.token, { amount_cents: 1000 });
  const refundMail = await ctx.mail.waitFor((m) => m.subject.toLowerCase().includes("refund"));
  await page.goto(linkIn(refundMail));
  await reads(page.locator(".dc-order-refunded"), "Refunded $10.00");

  // The same page with another signature opens nothing.
  const forged = new URL(linkIn(paidMail));
  const k = forged.searchParams.get("k");
  forged.searchParams.set("k", k.slice(0, -1) + (k.endsWith("0") ? "1" : "0"));
  await page.goto(forged.toString());
  await reads(page.locator(".dc-order-missing"), "This link does not open an order. Use the link in your email.");
  assert.equal(await page.locator(".dc-order-address").count(), 0);
  assert.deepEqual(errors, []);
  await page.close();
});
