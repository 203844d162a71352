#!/usr/bin/env bash
# Builds the pages (the `widget` crate) for the browser:
#   cargo (wasm32, release) -> wasm-bindgen --target web -> wasm-opt -Oz (npm binaryen)
#   -> content-hashed names in target/widget/dist, with manifest.json
#   (and hls.js from npm, for the watch page)
# The server reads the manifest at start (DROPCAST_ASSETS_DIR overrides where).
# Installs what it needs first; safe to run again.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
ensure_wasm_bindgen
ensure_npm "$ROOT/widget"

say "building the widget (wasm32, release)"
cargo build --locked --release -p widget --target wasm32-unknown-unknown

out="$ROOT/target/widget"
rm -rf "$out/pkg" "$out/dist.new"
mkdir -p "$out/pkg" "$out/dist.new"
"$WASM_BINDGEN" --target web --no-typescript --out-dir "$out/pkg" \
    "$ROOT/target/wasm32-unknown-unknown/release/widget.wasm"
# The features rustc's wasm32 target emits by default.
"$ROOT/widget/node_modules/.bin/wasm-opt" -Oz --strip-debug --strip-producers \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    -o "$out/pkg/widget_bg.opt.wasm" "$out/pkg/widget_bg.wasm"

hash() { sha256sum "$1" | cut -c1-16; }
js="widget-$(hash "$out/pkg/widget.js").js"
wasm="widget_bg-$(hash "$out/pkg/widget_bg.opt.wasm").wasm"
# hls.js (npm, pinned by package-lock.json) for the watch page in browsers
# without native HLS; the light build: no subtitles, DRM or alternate audio.
hls_src="$ROOT/widget/node_modules/hls.js/dist/hls.light.min.js"
hls="hls-$(hash "$hls_src").js"
cp "$out/pkg/widget.js" "$out/dist.new/$js"
cp "$out/pkg/widget_bg.opt.wasm" "$out/dist.new/$wasm"
cp "$hls_src" "$out/dist.new/$hls"
printf '{"js": "%s", "wasm": "%s", "hls": "%s"}\n' "$js" "$wasm" "$hls" > "$out/dist.new/manifest.json"
rm -rf "$out/dist"
mv "$out/dist.new" "$out/dist"
say "pages built: $(cd "$out/dist" && ls | tr '\n' ' ')"
say "gzipped: $(gzip -9c "$out/dist/$wasm" | wc -c) B wasm + $(gzip -9c "$out/dist/$js" | wc -c) B JS"
