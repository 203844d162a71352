// The browser tests' harness: a real `dropcast serve` on free loopback ports
// (SQLite in a temporary directory, localstripe for payments), its API, and
// Debian's chromium through playwright-core.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SHOTS = path.join(ROOT, "target", "browser-shots");

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

/** A real SMTP server (aiosmtpd, `tests/smtp_sink.py`, installed by the
 *  test script in `.dev/venv`) that keeps each message as JSON:
 *  `{ url, messages(), waitFor(pred), stop() }`. */
export async function smtpSink() {
  const dir = mkdtempSync(path.join(tmpdir(), "dropcast-mail-"));
  const port = await freePort();
  const python = path.join(ROOT, ".dev", "venv", "bin", "python");
  const child = spawn(python, [path.join(ROOT, "tests", "smtp_sink.py"), "--port", String(port), "--dir", dir], { stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; ; i++) {
    const open = await new Promise((resolve) => {
      const socket = createConnection({ host: "127.0.0.1", port }, () => { socket.end(); resolve(true); });
      socket.on("error", () => resolve(false));
    });
    if (open) break;
    if (i > 100 || child.exitCode !== null) throw new Error("the SMTP sink did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  const messages = () =>
    readdirSync(dir).filter((f) => f.endsWith(".json")).sort().map((f) => JSON.parse(readFileSync(path.join(dir, f), "utf8")));
  const stop = () => new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once("exit", resolve);
    child.kill("SIGTERM");
  });
  leftOpen.add(stop);
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    /** The first message `pred` accepts, waited for up to 10 s (the mail
     *  worker's deadline, not a speed check). */
    async waitFor(pred) {
      for (let i = 0; i < 200; i++) {
        const found = messages().find(pred);
        if (found) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no such mail; got: ${JSON.stringify(messages().map((m) => m.subject))}`);
    },
    stop,
  };
}

/** Starts the server (with `extraEnv` on top); resolves once /healthz answers. */
export async function startServer(extraEnv = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), "dropcast-browser-"));
  const port = await freePort();
  const rtmpPort = await freePort();
  const admin = "admin-" + Math.random().toString(36).slice(2).padEnd(20, "x");
  const env = {
    ...process.env,
    DROPCAST_HTTP_ADDR: `127.0.0.1:${port}`,
    DROPCAST_DATA_DIR: dir,
    DROPCAST_ADMIN_TOKEN: admin,
    DROPCAST_RTMP_ADDR: `127.0.0.1:${rtmpPort}`,
    DROPCAST_SRT_ADDR: `127.0.0.1:${await freePort()}`,
    DROPCAST_ASSETS_DIR: path.join(ROOT, "target", "widget", "dist"),
    RUST_LOG: "warn",
    ...extraEnv,
  };
  if (process.env.DROPCAST_TEST_STRIPE_URL) {
    env.STRIPE_SECRET_KEY = "sk_test_browser";
    env.STRIPE_PUBLISHABLE_KEY = "pk_test_browser";
    env.STRIPE_API_BASE = process.env.DROPCAST_TEST_STRIPE_URL;
    env.DROPCAST_STRIPE_JS_URL = `${process.env.DROPCAST_TEST_STRIPE_URL}/js.stripe.com/v3/`;
  }
  const bin = process.env.DROPCAST_BIN ?? path.join(ROOT, "target", "debug", "dropcast");
  const base = `http://127.0.0.1:${port}`;
  let child;
  const boot = async () => {
    child = spawn(bin, ["serve"], { env, stdio: ["ignore", "ignore", "inherit"] });
    for (let i = 0; i < 300; i++) {
      try {
        if ((await fetch(`${base}/healthz`)).ok) return;
      } catch {}
      if (child.exitCode !== null) throw new Error(`dropcast exited with ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("dropcast did not answer /healthz");
  };
  const stop = () => new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once("exit", resolve);
    child.kill("SIGTERM");
  });
  await boot();
  const api = async (method, route, token, body) => {
    const res = await fetch(base + route, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { "content-type": "application/json" } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    const json = text ? JSON.parse(text) : null;
    if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${text}`);
    return json;
  };
  return {
    base,
    api,
    admin,
    rtmpPort,
    stop,
    /** Starts it again after `stop()`, on the same ports and data. */
    start: boot,
  };
}

/** The address test buyers ship to. */
export const LONDON = { name: "Ada Lovelace", line1: "12 St James's Square", city: "London", postal_code: "SW1Y 4JH", country: "GB" };

/** Fills the widget's address fields in `frame`, if the form asks for them. */
export async function fillAddress(frame, a = LONDON) {
  const fields = frame.locator(".dc-address:not([hidden])");
  if ((await fields.count()) === 0) return false;
  for (const [cls, v] of [["name", a.name], ["line1", a.line1], ["city", a.city], ["postal", a.postal_code], ["country", a.country]]) {
    await frame.locator(`.dc-ship-${cls}`).fill(v);
  }
  return true;
}

/** Another buyer (a saved test card) buys `quantity` of `product`. */
export async function buyAsAnotherViewer(server, show, product, quantity = 1) {
  const viewer = await server.api("POST", "/api/v1/viewers");
  await server.api("PUT", "/api/v1/viewers/me/payment-method", viewer.token, {
    email: "other@example.com",
    payment_method: "pm_card_visa",
    shipping: LONDON,
  });
  return server.api("POST", `/api/v1/shows/${show.id}/orders`, viewer.token, {
    product_id: product.id,
    quantity,
    idempotency_key: `other-${Math.random()}`,
  });
}

/** A creator with a show and one product: `{ token, show, product }`. */
export async function showWithProduct(server, { stock = 5, title = "Neon hoodie" } = {}) {
  const creator = await server.api("POST", "/api/v1/creators", server.admin, { name: "Ada" });
  const show = await server.api("POST", "/api/v1/shows", creator.token, { title: "Launch night" });
  const product = await server.api("POST", `/api/v1/shows/${show.id}/products`, creator.token, {
    sku: "HOOD-1",
    title,
    price_cents: 4900,
    currency: "usd",
    stock,
  });
  return { token: creator.token, show, product };
}

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/** Debian's chromium, headless. Its contexts are like private windows:
 *  third-party frames get no storage there. */
export async function launch() {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: CHROMIUM_ARGS });
}

/** A fresh, ordinary browser profile at phone size (a buyer's phone):
 *  unlike a private window, a third-party frame keeps (partitioned)
 *  storage there. `close()` when done. */
export async function phoneProfile() {
  mkdirSync(SHOTS, { recursive: true });
  const dir = mkdtempSync(path.join(tmpdir(), "dropcast-profile-"));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
    viewport: { width: 390, height: 844 },
  });
  leftOpen.add(() => context.close());
  return context;
}

/** What a test opened and may not have closed (it failed first): closed by
 *  `shared()`'s `after`, so a failing test never keeps its file's process
 *  (and the whole run) waiting on a browser or a server. */
const leftOpen = new Set();

async function closeLeftOpen() {
  for (const close of leftOpen) await close().catch(() => {});
  leftOpen.clear();
}

/** A page on another origin that embeds the widget with one script tag,
 *  under hostile CSS. Returns its URL; `close()` stops its server. */
export async function hostPage(server, showId) {
  const { createServer: createHttp } = await import("node:http");
  const html = `<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1">
<style>* { color: red !important; font-size: 40px !important; font-family: serif !important; }
button { display: none !important; } div { border: 5px solid lime !important; }</style></head>
<body><h1>A shop that embeds Dropcast</h1>
<script src="${server.base}/embed.js" data-show="${showId}"></script>
<p id="after">The host page goes on.</p></body></html>`;
  const http = createHttp((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(html);
  });
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  const close = () =>
    new Promise((r) => {
      http.close(r);
      http.closeAllConnections();
    });
  leftOpen.add(close);
  // "localhost" rather than 127.0.0.1: another origin than the server's.
  return { url: `http://localhost:${http.address().port}/`, close };
}

/** The embedded widget's frame (served from Dropcast's origin) in `page`:
 *  the host page holds it in a closed shadow root, so tests reach it as a
 *  frame, as nothing on the host page can. */
export async function widgetFrame(page) {
  for (let i = 0; i < 200; i++) {
    const frame = page.frames().find((f) => new URL(f.url(), "http://x").pathname.startsWith("/frame/"));
    if (frame) return frame;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the widget's frame never appeared");
}

/** One server and one browser for a test file, started before its tests
 *  and stopped after: `const ctx = shared();` then `ctx.server`, `ctx.browser`.
 *  With `{ smtp: true }` the server sends its mail to `ctx.mail`, a real
 *  SMTP server ([`smtpSink`]). */
export function shared({ smtp = false } = {}) {
  const ctx = {};
  before(async () => {
    const env = {};
    if (smtp) {
      ctx.mail = await smtpSink();
      env.DROPCAST_SMTP_URL = ctx.mail.url;
      env.DROPCAST_MAIL_FROM = "Dropcast shop <shop@dropcast.test>";
    }
    ctx.server = await startServer(env);
    ctx.browser = await launch();
  });
  after(async () => {
    await ctx.browser?.close();
    await ctx.server?.stop();
    await closeLeftOpen();
  });
  return ctx;
}

/** Waits until the locator's text reads `want` (up to 5 s: a deadline for
 *  the live channel to deliver, not a speed check), then checks it. */
export async function reads(locator, want) {
  for (let i = 0; i < 100; i++) {
    const text = (await locator.textContent({ timeout: 50 }).catch(() => null))?.trim();
    if (text === want) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal((await locator.textContent())?.trim(), want);
}

/** ffmpeg publishing `seconds` of test pattern and tone in real time to
 *  `url`, as OBS would (x264 with B-frames, AAC), a keyframe every `gop`
 *  frames (60: 2 s; OBS's own default is 250, 8.3 s); `realtime: false`
 *  sends it as fast as it encodes. Kill it to stop. */
export function publish(url, seconds, { gop = 60, realtime = true } = {}) {
  return spawn("ffmpeg", [
    "-hide_banner", "-loglevel", "error", "-nostdin", ...(realtime ? ["-re"] : []),
    "-f", "lavfi", "-i", `testsrc2=size=1280x720:rate=30:duration=${seconds}`,
    "-f", "lavfi", "-i", `sine=frequency=440:duration=${seconds}`,
    "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
    "-g", String(gop), "-keyint_min", String(gop), "-sc_threshold", "0",
    "-c:a", "aac", "-b:a", "96k", "-f", "flv", url,
  ], { stdio: "ignore" });
}
