// The watch page: offline until the creator goes live, then the stream
// plays (HLS through hls.js in Chromium) with the widget beside it.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { publish, reads, SHOTS, shared, showWithProduct } from "./harness.mjs";

const ctx = shared();

test("the watch page is offline, then plays the live stream with the widget", async () => {
  const { token, show, product } = await showWithProduct(ctx.server, { stock: 4 });
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  const page = await ctx.browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const res = await page.goto(`${ctx.server.base}/watch/${show.id}`);
  assert.equal(res.status(), 200);
  await page.locator(".dc-offline-card").waitFor({ state: "visible", timeout: 10000 });
  await reads(page.locator(".dc-stock"), "4 left");
  await page.screenshot({ path: path.join(SHOTS, "watch-offline-desktop.png") });

  const mine = await ctx.server.api("GET", `/api/v1/shows/${show.id}`, token);
  const encoder = publish(mine.ingest.rtmp.replace(/:\d+\//, `:${ctx.server.rtmpPort}/`), 30);
  try {
    await page.locator(".dc-offline-card").waitFor({ state: "hidden", timeout: 20000 });
    // It plays: frames decoded and time moving (a deadline, not a speed check).
    await page.waitForFunction(
      () => {
        const v = document.querySelector(".dc-video");
        return v && v.readyState >= 2 && v.currentTime > 1 && !v.paused;
      },
      null,
      { timeout: 30000 },
    );
    const size = await page.locator(".dc-video").evaluate((v) => [v.videoWidth, v.videoHeight]);
    assert.deepEqual(size, [1280, 720]);
    await page.screenshot({ path: path.join(SHOTS, "watch-live-desktop.png") });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(SHOTS, "watch-live-phone.png"), fullPage: true });
    assert.equal(await page.locator(".dc-buy").isVisible(), true);
  } finally {
    encoder.kill("SIGINT");
  }
  assert.deepEqual(errors, []);
  await page.close();
});
