// Benchmark (not a test): the time from navigation to the widget's first
// rendered stock figure, in headless Chromium, for a page embedding it with
// one script tag. Cold: a new browser context each run (empty cache).
// Warm: the same page loaded again in that context (module cached).
// Writes target/bench/widget_first_stock.json; scripts/bench.sh runs it and
// `dropcast-bench report` puts it in BENCHMARKS.md.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { hostPage, launch, ROOT, showWithProduct, startServer } from "./harness.mjs";

const runs = Number(process.env.RUNS ?? 7);

// Stamps performance.now() when a .dc-stock with text first appears,
// inside the widget's shadow root.
const stamp = () => {
  const seen = (root) => {
    const el = root.querySelector(".dc-stock");
    if (el && el.textContent.trim() && window.firstStockMs === undefined) {
      window.firstStockMs = performance.now();
    }
  };
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = attach.call(this, init);
    new MutationObserver(() => seen(root)).observe(root, { subtree: true, childList: true, characterData: true });
    return root;
  };
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
      await page.waitForFunction(() => window.firstStockMs !== undefined, null, { timeout: 15000 });
      into.push(await page.evaluate(() => window.firstStockMs));
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
