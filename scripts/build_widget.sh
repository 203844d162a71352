#!/usr/bin/env bash
# Builds the pages (the `widget` crate) for the browser, twice: the module
# viewers load (widget, overlay, watch page) and the same with the studio
# (`--features studio`), so the widget does not carry the studio's code:
#   cargo (wasm32, profile `wasm`: release for size) -> wasm-bindgen --target web -> wasm-opt -Oz (npm binaryen)
#   -> content-hashed names in target/widget/dist, with manifest.json
#   (and hls.js from npm, for the watch page)
# The server reads the manifest at start (DROPCAST_ASSETS_DIR overrides where).
# Installs what it needs first; safe to run again.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_rust
ensure_wasm_bindgen
ensure_npm "$ROOT/widget"

out="$ROOT/target/widget"
rm -rf "$out/pkg" "$out/dist.new"
mkdir -p "$out/pkg" "$out/dist.new"

# build NAME [CARGO_ARGS…]: one module, to $out/pkg/NAME.js and NAME_bg.opt.wasm.
build() {
    local name="$1"
    shift
    say "building the $name module (wasm32, profile wasm)"
    cargo build --locked --profile wasm -p widget --target wasm32-unknown-unknown "$@"
    "$WASM_BINDGEN" --target web --no-typescript --out-dir "$out/pkg" --out-name "$name" \
        "$ROOT/target/wasm32-unknown-unknown/wasm/widget.wasm"
    # The features rustc's wasm32 target emits by default.
    "$ROOT/widget/node_modules/.bin/wasm-opt" -Oz --strip-debug --strip-producers \
        --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
        --enable-mutable-globals --enable-reference-types --enable-multivalue \
        -o "$out/pkg/${name}_bg.opt.wasm" "$out/pkg/${name}_bg.wasm"
}
build widget
build studio --features studio

hash() { sha256sum "$1" | cut -c1-16; }
js="widget-$(hash "$out/pkg/widget.js").js"
wasm="widget_bg-$(hash "$out/pkg/widget_bg.opt.wasm").wasm"
# hls.js (npm, pinned by package-lock.json) for the watch page in browsers
# without native HLS; the light build: no subtitles, DRM or alternate audio.
hls_src="$ROOT/widget/node_modules/hls.js/dist/hls.light.min.js"
hls="hls-$(hash "$hls_src").js"
cp "$out/pkg/widget.js" "$out/dist.new/$js"
cp "$out/pkg/widget_bg.opt.wasm" "$out/dist.new/$wasm"
studio_js="studio-$(hash "$out/pkg/studio.js").js"
studio_wasm="studio_bg-$(hash "$out/pkg/studio_bg.opt.wasm").wasm"
cp "$hls_src" "$out/dist.new/$hls"
cp "$out/pkg/studio.js" "$out/dist.new/$studio_js"
cp "$out/pkg/studio_bg.opt.wasm" "$out/dist.new/$studio_wasm"
printf '{"js": "%s", "wasm": "%s", "hls": "%s", "studio_js": "%s", "studio_wasm": "%s"}\n' \
    "$js" "$wasm" "$hls" "$studio_js" "$studio_wasm" > "$out/dist.new/manifest.json"
# Compressed once here, so the server sends these to browsers that take
# gzip without compressing on every request.
for f in "$js" "$wasm" "$hls" "$studio_js" "$studio_wasm"; do
    gzip -9 -k -n "$out/dist.new/$f"
done
rm -rf "$out/dist"
mv "$out/dist.new" "$out/dist"
say "pages built: $(cd "$out/dist" && ls | tr '\n' ' ')"
say "widget gzipped: $(gzip -9c "$out/dist/$wasm" | wc -c) B wasm + $(gzip -9c "$out/dist/$js" | wc -c) B JS"
say "studio gzipped: $(gzip -9c "$out/dist/$studio_wasm" | wc -c) B wasm + $(gzip -9c "$out/dist/$studio_js" | wc -c) B JS"
