// Benchmark (not a test): the watch page, live, in headless Chromium at
// phone size (390x844) and desktop size (1280x800): what it downloads, and
// the time from navigation to the first painted stock figure and to the
// first video frame presented. Cold: a new browser context each run (empty
// cache); warm: the same page loaded again in that context.
// Writes target/bench/watch_page.json; scripts/bench.sh runs it and
// `dropcast-bench report` puts it in BENCHMARKS.md.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import path from "node:path";
import { launch, publish, ROOT, showWithProduct, startServer } from "./harness.mjs";

const runs = Number(process.env.RUNS ?? 5);

// In the page: when the card's stock first has text (then the next frame,
// when it is painted), and when the video presents its first frame.
const stamp = () => {
  const paint = (key) => requestAnimationFrame(() => { window[key] = performance.now(); });
  let stock = false;
  let video = false;
  const seen = () => {
    const el = document.querySelector(".dc-card .dc-stock");
    if (!stock && el && el.textContent.trim()) {
      stock = true;
      paint("firstStockAt");
    }
    const v = document.querySelector(".dc-video");
    if (!video && v && v.requestVideoFrameCallback) {
      video = true;
      v.requestVideoFrameCallback(() => { window.firstFrameAt = performance.now(); });
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
let encoder;
try {
  const { token, show, product } = await showWithProduct(server, { stock: 5 });
  for (const [sku, title] of [["CAP-1", "Night cap"], ["TEE-1", "Drop tee"]]) {
    await server.api("POST", `/api/v1/shows/${show.id}/products`, token, { sku, title, price_cents: 1900, currency: "usd", stock: 9 });
  }
  const dir = mkdtempSync(path.join(tmpdir(), "dropcast-bench-img-"));
  execFileSync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=orange:s=800x800", "-frames:v", "1", path.join(dir, "p.png")]);
  await fetch(`${server.base}/api/v1/shows/${show.id}/products/${product.id}/image`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "image/png" },
    body: readFileSync(path.join(dir, "p.png")),
  });
  await server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  const mine = await server.api("GET", `/api/v1/shows/${show.id}`, token);
  // A keyframe every 2 s, as the studio asks OBS for.
  encoder = publish(mine.ingest.rtmp.replace(/:\d+\//, `:${server.rtmpPort}/`), 600);
  for (let i = 0; i < 100 && !(await server.api("GET", `/api/v1/shows/${show.id}`)).live; i++) {
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 4000));
  const url = `${server.base}/watch/${show.id}`;
  const result = { runs };
  for (const [name, viewport] of [["phone", { width: 390, height: 844 }], ["desktop", { width: 1280, height: 800 }]]) {
    const cold = { stock: [], frame: [] };
    const warm = { stock: [], frame: [] };
    let bytes;
    for (let i = 0; i < runs; i++) {
      const context = await browser.newContext({ viewport });
      await context.addInitScript(stamp);
      const page = await context.newPage();
      for (const into of [cold, warm]) {
        await page.goto(url);
        await page.waitForFunction(() => window.firstStockAt !== undefined && window.firstFrameAt !== undefined, null, { timeout: 30000 });
        const [stock, frame] = await page.evaluate(() => [window.firstStockAt, window.firstFrameAt]);
        into.stock.push(stock);
        into.frame.push(frame);
        if (into === cold && bytes === undefined) {
          // What the page itself is (the shell, its module, hls.js, the
          // stylesheet inside the module): the resources of this origin's
          // page, not the stream, the live socket or the product images.
          bytes = await page.evaluate(() => {
            const entries = [performance.getEntriesByType("navigation")[0], ...performance.getEntriesByType("resource")]
              .filter((e) => /\/(watch|assets)\//.test(new URL(e.name).pathname));
            return {
              files: entries.map((e) => ({ path: new URL(e.name).pathname, transfer: e.transferSize, body: e.decodedBodySize })),
              transfer: entries.reduce((n, e) => n + e.transferSize, 0),
              decoded: entries.reduce((n, e) => n + e.decodedBodySize, 0),
            };
          });
        }
      }
      await context.close();
    }
    result[name] = {
      bytes,
      cold_stock_ms: cold.stock, cold_frame_ms: cold.frame, warm_stock_ms: warm.stock, warm_frame_ms: warm.frame,
      cold_stock_median_ms: median(cold.stock), cold_frame_median_ms: median(cold.frame),
      warm_stock_median_ms: median(warm.stock), warm_frame_median_ms: median(warm.frame),
    };
  }
  result.date = new Date().toISOString().slice(0, 16).replace("T", " ");
  result.machine = `${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 1e9)} GB`;
  console.error(`watch page: ${JSON.stringify(result)}`);
  const out = path.join(ROOT, "target", "bench");
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, "watch_page.json"), JSON.stringify(result, null, 2));
} finally {
  encoder?.kill("SIGINT");
  await browser.close();
  await server.stop();
}
