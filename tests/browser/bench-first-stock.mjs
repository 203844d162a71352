// Benchmark (not a test): the time from navigation to the widget's first
// rendered stock figure, in headless Chromium, for a page embedding it with
// one script tag. Cold: a new browser context each run (empty cache).
// Warm: the same page loaded again in that context (module cached).
// Writes target/bench/widget_first_stock.json; scripts/bench.sh runs it and
// `dropcast-bench report` puts it in BENCHMARKS.md.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { hostPage, launch, ROOT, showWithProduct, startServer, widgetFrame } from "./harness.mjs";

const runs = Number(process.env.RUNS ?? 7);

// In the widget's frame (on Dropcast's origin), stamps the wall-clock time
// (timeOrigin + now, comparable across frames) when a .dc-stock with text
// first appears; the host page's own timeOrigin is its navigation start.
const stamp = () => {
  if (!location.pathname.startsWith("/frame/")) return;
  const seen = () => {
    const el = document.querySelector(".dc-stock");
    if (el && el.textContent.trim() && window.firstStockAt === undefined) {
      window.firstStockAt = performance.timeOrigin + performance.now();
    }
  };
  new MutationObserver(seen).observe(document, { subtree: true, childList: true, characterData: true });
};

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const server = await startServer();
const browser = await launch();
try {
  const { token, show, product } = await showWithProduct(server, { stock: 5 });
  await server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  const host = await hostPage(server, show.id);
  const cold = [];
  const warm = [];
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    await context.addInitScript(stamp);
    const page = await context.newPage();
    for (const into of [cold, warm]) {
      await page.goto(host.url);
      const frame = await widgetFrame(page);
      await frame.waitForFunction(() => window.firstStockAt !== undefined, null, { timeout: 15000 });
      const at = await frame.evaluate(() => window.firstStockAt);
      into.push(at - (await page.evaluate(() => performance.timeOrigin)));
    }
    await context.close();
  }
  await host.close();
  const result = { runs, cold_ms: cold, warm_ms: warm, cold_median_ms: median(cold), warm_median_ms: median(warm) };
  console.error(`widget first stock: ${JSON.stringify(result)}`);
  const dir = path.join(ROOT, "target", "bench");
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "widget_first_stock.json"), JSON.stringify(result, null, 2));
} finally {
  await browser.close();
  await server.stop();
}
