// The OBS overlay in a real browser, against the real server.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { inflateSync } from "node:zlib";
import { test } from "node:test";
import { buyAsAnotherViewer, reads, SHOTS, shared, showWithProduct } from "./harness.mjs";

/** The alpha of a PNG's top-left pixel (8-bit RGBA, as Chromium writes it). */
function topLeftAlpha(file) {
  const png = readFileSync(file);
  const chunks = [];
  for (let at = 8; at < png.length; ) {
    const len = png.readUInt32BE(at);
    const type = png.toString("ascii", at + 4, at + 8);
    if (type === "IHDR") assert.deepEqual([png[at + 16], png[at + 17]], [8, 6], "8-bit RGBA");
    if (type === "IDAT") chunks.push(png.subarray(at + 8, at + 8 + len));
    at += 12 + len;
  }
  // Row 0 has no row above, so whatever its filter, its first pixel is stored as is.
  return inflateSync(Buffer.concat(chunks))[1 + 3];
}

const ctx = shared();

test("the overlay is transparent and follows pin, stock, countdown and sales", async () => {
  const { token, show, product } = await showWithProduct(ctx.server, { stock: 5 });
  const page = await ctx.browser.newPage({ viewport: { width: 1920, height: 1080 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const res = await page.goto(`${ctx.server.base}/overlay/${show.id}`);
  assert.equal(res.status(), 200);
  assert.equal(res.headers()["cache-control"], "no-cache");
  await page.waitForSelector(".dc-overlay", { timeout: 10000 });

  // Nothing pinned yet: no card.
  assert.equal(await page.locator(".dc-card").count(), 0);
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  await reads(page.locator(".dc-stock"), "5 left");
  await reads(page.locator(".dc-title"), "Neon hoodie");
  await reads(page.locator(".dc-price"), "$49.00");

  // The product's picture (an upload, resized by the server) is on the card.
  const dir = mkdtempSync(path.join(tmpdir(), "dropcast-overlay-"));
  execFileSync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=orange:s=600x600", "-frames:v", "1", path.join(dir, "p.png")]);
  const up = await fetch(`${ctx.server.base}/api/v1/shows/${show.id}/products/${product.id}/image`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "image/png" },
    body: readFileSync(path.join(dir, "p.png")),
  });
  assert.equal(up.status, 200);
  const { thumb_url } = await up.json();
  await page.locator(`.dc-card img.dc-image[src="${thumb_url}"]`).waitFor({ timeout: 5000 });
  await page.waitForFunction(() => document.querySelector(".dc-image")?.complete && document.querySelector(".dc-image").naturalWidth > 0, null, { timeout: 5000 });

  // A restock in the studio reaches the overlay.
  await ctx.server.api("PATCH", `/api/v1/shows/${show.id}/products/${product.id}`, token, { add_stock: 2 });
  await reads(page.locator(".dc-stock"), "7 left");

  // A countdown shows, on the server's clock.
  await ctx.server.api("POST", `/api/v1/shows/${show.id}/countdowns`, token, {
    kind: "drop_opens",
    seconds: 120,
    product_id: product.id,
  });
  await page.waitForFunction(
    () => /^Drop opens in (2:00|1:5\d)$/.test(document.querySelector(".dc-countdown")?.textContent.trim() ?? ""),
    null,
    { timeout: 5000 },
  );

  // Transparent: nothing behind the card paints the page.
  const backgrounds = await page.evaluate(() =>
    ["html", "body", ".dc-overlay"].map((s) => getComputedStyle(document.querySelector(s)).backgroundColor),
  );
  assert.deepEqual(backgrounds, ["rgba(0, 0, 0, 0)", "rgba(0, 0, 0, 0)", "rgba(0, 0, 0, 0)"]);
  assert.equal(await page.locator("button, input, a").count(), 0, "no controls on the overlay");
  const shot = path.join(SHOTS, "overlay-1920x1080.png");
  await page.screenshot({ path: shot, omitBackground: true });
  assert.equal(topLeftAlpha(shot), 0, "the page's corner is see-through");

  // Unpinning hides the card.
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: null });
  await page.waitForFunction(() => !document.querySelector(".dc-card"), null, { timeout: 5000 });
  assert.deepEqual(errors, []);
  await page.close();
});

test("a sale shows a toast and the stock drops", { skip: !process.env.DROPCAST_TEST_STRIPE_URL && "needs localstripe (DROPCAST_TEST_STRIPE_URL)" }, async () => {
  const { token, show, product } = await showWithProduct(ctx.server, { stock: 3, title: "Glow cap" });
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  const page = await ctx.browser.newPage({ viewport: { width: 1920, height: 1080 } });
  await page.goto(`${ctx.server.base}/overlay/${show.id}`);
  await reads(page.locator(".dc-stock"), "3 left");

  const order = await buyAsAnotherViewer(ctx.server, show, product, 2);
  assert.equal(order.status, "paid");
  await reads(page.locator(".dc-stock"), "Last one!");
  await reads(page.locator(".dc-toast"), "Ada just bought 2 × Glow cap");
  await page.waitForTimeout(400); // let the toast finish sliding in, for the screenshot
  await page.screenshot({ path: path.join(SHOTS, "overlay-sale.png"), omitBackground: true });
  await page.close();
});
