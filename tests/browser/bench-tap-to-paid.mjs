// Benchmark (not a test): from the tap on Buy to "Paid" painted in the
// widget, for a buyer with a saved card (one tap), in headless Chromium
// against the real server and localstripe. The widget is embedded on
// another origin with one script tag. The time runs from the click event
// in the widget's frame to the first animation frame after the status
// reads "Paid", both by the frame's own clock.
// One buyer taps many times in a row, more than a session's order limit
// allows: run it with DROPCAST_RATE_LIMITS=off (scripts/bench.sh does).
// Writes target/bench/tap_to_paid.json; scripts/bench.sh runs it and
// `dropcast-bench report` puts it in BENCHMARKS.md.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { hostPage, phoneProfile, reads, ROOT, showWithProduct, startServer, widgetFrame, fillAddress } from "./harness.mjs";

if (!process.env.DROPCAST_TEST_STRIPE_URL) throw new Error("needs localstripe (DROPCAST_TEST_STRIPE_URL)");
const taps = Number(process.env.TAPS ?? 60);
const percentile = (v, p) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

const server = await startServer();
const context = await phoneProfile();
try {
  const { token, show, product } = await showWithProduct(server, { stock: taps + 5 });
  await server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
  const host = await hostPage(server, show.id);
  const page = await context.newPage();
  await page.goto(host.url);
  const frame = await widgetFrame(page);
  await reads(frame.locator(".dc-stock"), `${taps + 5} left`);
  // The first purchase saves the card (not measured).
  await frame.locator(".dc-buy").click();
  await frame.locator(".dc-cardform:not([hidden])").waitFor({ timeout: 5000 });
  await frame.locator(".dc-email").fill("bench@example.com");
  await frame.locator(".dc-cardfield input").first().waitFor({ timeout: 5000 });
  for (const [p, v] of [["number", "4242424242424242"], ["exp_month", "12"], ["exp_year", "30"], ["cvc", "123"], ["postal_code", "42424"]]) {
    await frame.locator(`.dc-cardfield input[placeholder="${p}"]`).fill(v);
  }
  await fillAddress(frame);
  await frame.locator(".dc-save").click();
  await reads(frame.locator(".dc-status"), "Paid — thank you! Your order is confirmed.");
  const samples = [];
  for (let i = 0; i < taps; i++) {
    await frame.locator(".dc-buy:not([disabled])").waitFor({ timeout: 10000 });
    const ms = await frame.evaluate(() => new Promise((resolve, reject) => {
      const status = document.querySelector(".dc-status");
      const buy = document.querySelector(".dc-buy");
      let tapped = 0;
      const paid = "Paid — thank you! Your order is confirmed.";
      const observer = new MutationObserver(() => {
        if (tapped && status.textContent.trim() === paid && buy.getAttribute("aria-busy") === "false") {
          observer.disconnect();
          requestAnimationFrame(() => resolve(performance.now() - tapped));
        }
      });
      observer.observe(status.parentNode, { subtree: true, childList: true, characterData: true, attributes: true });
      buy.addEventListener("click", (e) => { tapped = e.timeStamp; }, { capture: true, once: true });
      buy.click();
      setTimeout(() => reject(new Error("no Paid within 15 s")), 15000);
    }));
    samples.push(ms);
  }
  await host.close();
  const result = { taps, samples_ms: samples, p50_ms: percentile(samples, 50), p99_ms: percentile(samples, 99), max_ms: Math.max(...samples) };
  console.error(`tap to paid: p50 ${result.p50_ms.toFixed(0)} ms, p99 ${result.p99_ms.toFixed(0)} ms over ${taps} taps`);
  const dir = path.join(ROOT, "target", "bench");
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "tap_to_paid.json"), JSON.stringify(result, null, 2));
} finally {
  await context.close();
  await server.stop();
}
