// The live channel in the browser survives the server going away: the
// widget and the studio say they are reconnecting, retry with backoff, and
// resume from the snapshot the restarted server sends.
import path from "node:path";
import { test } from "node:test";
import { hostPage, reads, SHOTS, shared, showWithProduct, widgetFrame } from "./harness.mjs";

const ctx = shared();

test("the widget and the studio reconnect after a server restart and resume from a snapshot", async () => {
  const { token, show, product } = await showWithProduct(ctx.server, { stock: 5 });
  await ctx.server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  const host = await hostPage(ctx.server, show.id);
  const widget = await ctx.browser.newPage({ viewport: { width: 390, height: 844 } });
  await widget.goto(host.url);
  const frame = await widgetFrame(widget);
  const studio = await ctx.browser.newPage({ viewport: { width: 1280, height: 900 } });
  await studio.goto(`${ctx.server.base}/studio/${show.id}?token=${token}`);
  await reads(frame.locator(".dc-stock"), "5 left");
  await reads(studio.locator(".st-conn"), "Connected");

  await ctx.server.stop();
  await frame.locator(".dc-widget.dc-offline").waitFor({ timeout: 5000 });
  await reads(frame.locator(".dc-stock"), "5 left");
  await reads(studio.locator(".st-conn"), "Reconnecting…");
  await widget.screenshot({ path: path.join(SHOTS, "widget-reconnecting-phone.png"), fullPage: true });

  // Back up (same address, same database), and a restock straight away:
  // the pages pick it up from their new socket's snapshot or its frames.
  await ctx.server.start();
  const row = await ctx.server.api("PATCH", `/api/v1/shows/${show.id}/products/${product.id}`, token, { add_stock: 3 });
  if (row.available !== 8) throw new Error(`restock answered ${JSON.stringify(row)}`);
  // The backoff tops out at 10 s: a deadline, not a speed check.
  await frame.locator(".dc-widget:not(.dc-offline)").waitFor({ timeout: 15000 });
  await reads(frame.locator(".dc-stock"), "8 left");
  await studio.locator(".st-conn:not(.st-down)").waitFor({ timeout: 15000 });
  await reads(studio.locator(`.st-product[data-product="${product.id}"] .st-available`), "8");
  await widget.close();
  await studio.close();
  await host.close();
});
