// Benchmark (not a test): glass-to-glass latency of a live show in headless
// Chromium, and the time from opening the page to the first frame.
//
// The encoder is this script: it draws the wall clock (ms, low 24 bits) as
// 24 black/white blocks into each 640x360 frame when it makes it, 30 times
// a second, and pipes the frames to ffmpeg's x264 (veryfast, 2 B-frames,
// CBR 2500k: OBS's defaults) with AAC, pushing RTMP as OBS does. The page reads
// the blocks back from the <video> through a canvas on every presented
// frame (requestVideoFrameCallback) and subtracts them from the time the
// frame was presented — one machine, one clock. Each configuration: the
// page opened 20 s into the stream (a viewer joining mid-GOP), then a
// minute of frames.
//
// - "LL-HLS": the product's watch page, `/watch/{show}` (hls.js in low-
//   latency mode, as the page configures it).
// - "classic": hls.js with its default configuration on the same playlist
//   (a player without LL-HLS: whole segments).
// Each with a 2 s and an 8.3 s (OBS's default 250-frame) keyframe interval.
// Writes target/bench/glass_to_glass.json; `dropcast-bench report` puts it
// in BENCHMARKS.md.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { launch, ROOT, SHOTS, showWithProduct, startServer } from "./harness.mjs";

const W = 640;
const H = 360;
const FPS = 30;
const BITS = 24;
const BLOCK = 40;
const SECONDS = Number(process.env.SECONDS_PER_RUN ?? 60);
const JOIN_AFTER_S = 20;

/** Block k's top-left corner (8 per row, 3 rows). */
const corner = (k) => [(k % 8) * BLOCK, Math.floor(k / 8) * BLOCK];

/** Starts encoding: `{ stop }`. Frames carry the time they were made. */
function encoder(url, gop) {
  const ff = spawn("ffmpeg", [
    "-hide_banner", "-loglevel", "error", "-nostdin",
    "-f", "rawvideo", "-pix_fmt", "gray", "-s", `${W}x${H}`, "-r", String(FPS), "-i", "pipe:0",
    "-re", "-f", "lavfi", "-i", "sine=frequency=440",
    "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-pix_fmt", "yuv420p",
    "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "2500k",
    "-g", String(gop), "-keyint_min", String(gop), "-sc_threshold", "0",
    "-c:a", "aac", "-b:a", "128k", "-shortest", "-f", "flv", url,
  ], { stdio: ["pipe", "ignore", "inherit"] });
  const frame = Buffer.alloc(W * H);
  const t0 = Date.now();
  let n = 0;
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    while (Date.now() >= t0 + (n * 1000) / FPS) {
      const now = Date.now();
      frame.fill(96);
      // A moving bar, so the picture is not still.
      const bar = (n * 4) % W;
      for (let y = 200; y < H; y++) frame.fill(200, y * W + bar, y * W + Math.min(W, bar + 40));
      const v = now % 2 ** BITS;
      for (let k = 0; k < BITS; k++) {
        const on = Math.floor(v / 2 ** k) % 2 === 1;
        const [x0, y0] = corner(k);
        for (let y = y0; y < y0 + BLOCK; y++) frame.fill(on ? 255 : 0, y * W + x0, y * W + x0 + BLOCK);
      }
      ff.stdin.write(frame);
      n++;
    }
    setTimeout(tick, 2);
  };
  tick();
  return {
    stop: () => new Promise((resolve) => {
      stopped = true;
      ff.once("exit", resolve);
      ff.stdin.end();
      setTimeout(() => ff.kill("SIGKILL"), 5000);
    }),
  };
}

/** In the page: reads every presented frame's blocks. `window.g2g` holds
 *  the first frame's time (ms after navigation) and the latency samples. */
const reader = ({ BITS, BLOCK }) => {
  window.g2g = { first: null, samples: [] };
  const start = () => {
    const v = document.querySelector("video");
    if (!v) return setTimeout(start, 20);
    // One pixel a block: the frame's top-left 320x120 scaled to 8x3.
    const canvas = document.createElement("canvas");
    canvas.width = 8;
    canvas.height = 3;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    const onFrame = (now) => {
      if (v.videoWidth > 0) {
        if (window.g2g.first === null) window.g2g.first = now;
        const sx = v.videoWidth / 640;
        const sy = v.videoHeight / 360;
        ctx.drawImage(v, 0, 0, 8 * BLOCK * sx, 3 * BLOCK * sy, 0, 0, 8, 3);
        const px = ctx.getImageData(0, 0, 8, 3).data;
        let value = 0;
        for (let k = 0; k < BITS; k++) {
          if (px[k * 4] > 128) value += 2 ** k;
        }
        const shown = performance.timeOrigin + now;
        let made = shown - (shown % 2 ** BITS) + value;
        if (made > shown + 2 ** (BITS - 1)) made -= 2 ** BITS;
        window.g2g.samples.push(shown - made);
      }
      v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
  };
  start();
};

const quantile = (v, q) => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))];
};

async function measure(browser, url, html) {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  await context.addInitScript(reader, { BITS, BLOCK });
  // The classic page is served as if from Dropcast's origin.
  if (html) await context.route(url, (route) => route.fulfill({ contentType: "text/html", body: html }));
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => window.g2g && window.g2g.first !== null, null, { timeout: 60000 });
  await page.evaluate(() => { window.g2g.samples = []; });
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const { first, samples } = await page.evaluate(() => window.g2g);
  if (process.env.DEBUG) {
    const state = await page.evaluate(() => {
      const v = document.querySelector("video");
      const b = v.buffered.length ? [v.buffered.start(0), v.buffered.end(v.buffered.length - 1)] : null;
      const h = window.h;
      return { t: v.currentTime, b, rate: v.playbackRate, latency: h?.latency, target: h?.targetLatency, drift: h?.drift };
    });
    console.error(JSON.stringify(state), samples.slice(-5));
    await page.screenshot({ path: path.join(SHOTS, `g2g-${Date.now()}.png`) });
  }
  const stalls = await page.evaluate(() => document.querySelector("video").getVideoPlaybackQuality?.().droppedVideoFrames ?? null);
  await context.close();
  // A misread frame (compression smearing a block) is far off: dropped.
  const good = samples.filter((s) => s > 0 && s < 60000);
  return {
    first_frame_ms: first,
    frames: samples.length,
    misread: samples.length - good.length,
    dropped_frames: stalls,
    median_ms: quantile(good, 0.5),
    p95_ms: quantile(good, 0.95),
  };
}

/** The HTML of a page playing `playlist` with hls.js configured by `config`
 *  (hls.js defaults to low-latency mode: classic is `lowLatencyMode: false`). */
function hlsPage(playlist, config) {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, "target", "widget", "dist", "manifest.json"), "utf8"));
  return `<!doctype html><meta charset="utf-8">
<video muted autoplay playsinline style="width:100%"></video>
<script src="/assets/${manifest.hls}"></script>
<script>const h = window.h = new Hls(${JSON.stringify(config)}); h.loadSource(${JSON.stringify(playlist)}); h.attachMedia(document.querySelector("video"));
document.querySelector("video").play().catch(() => {});</script>`;
}

const server = await startServer({ DROPCAST_RATE_LIMITS: "off" });
const browser = await launch();
const results = {};
try {
  for (const gop of (process.env.GOPS ?? "60,250").split(",").map(Number)) {
    const { token, show, product } = await showWithProduct(server, { stock: 5 });
    await server.api("PUT", `/api/v1/shows/${show.id}/pin`, token, { product_id: product.id });
    const mine = await server.api("GET", `/api/v1/shows/${show.id}`, token);
    const rtmp = mine.ingest.rtmp.replace(/:\d+\//, `:${server.rtmpPort}/`);
    const variant = process.env.VARIANT ? JSON.parse(process.env.VARIANT) : null;
    for (const mode of variant ? ["variant"] : ["ll_hls", "classic"]) {
      const enc = encoder(rtmp, gop);
      await new Promise((r) => setTimeout(r, JOIN_AFTER_S * 1000));
      const playlist = `${server.base}/hls/${show.id}/index.m3u8`;
      const r = mode === "ll_hls"
        ? await measure(browser, `${server.base}/watch/${show.id}`)
        : await measure(browser, `${server.base}/bench-hls`, hlsPage(playlist, variant ?? { lowLatencyMode: false }));
      await enc.stop();
      results[`${mode}_gop${gop}`] = { gop_frames: gop, keyframe_interval_s: gop / FPS, ...r };
      console.error(`${mode} gop ${gop}: ${JSON.stringify(r)}`);
      // The show goes offline between runs; the next run is a reconnect.
      await new Promise((r) => setTimeout(r, 3000));
    }
  }
  const out = { seconds_per_run: SECONDS, join_after_s: JOIN_AFTER_S, date: new Date().toISOString(), results };
  const dir = path.join(ROOT, "target", "bench");
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "glass_to_glass.json"), JSON.stringify(out, null, 2));
} finally {
  await browser.close();
  await server.stop();
}
