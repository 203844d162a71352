//! The pages: small HTML shells that load the one wasm module, and the
//! module's files themselves.
//!
//! - `GET /assets/{file}`: the built JS glue and wasm, content-hashed names
//!   from `manifest.json`, cached for a year (`immutable`), open to any origin
//!   (`/embed.js` loads them from other sites' pages).
//! - `GET /overlay/{show}`: the OBS browser source, never cached.
//! - `GET /watch/{show}`: the stream with the widget.
//! - `GET /studio/{show}?token=…`: the creator's console and the editor's
//!   clip desk. A module of its own (the pages' module plus the studio), so
//!   the widget that viewers download does not carry the studio's code.
//! - `GET /embed.js`: one script tag mounts the widget on any site.
//!
//! Without built assets (`scripts/build_widget.sh` not run) the pages answer
//! 503 `assets_unavailable`; the API works regardless.

use std::path::Path;

use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::routes::find_show;
use crate::state::AppState;

/// The built modules' files, from `manifest.json`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Manifest {
    /// `widget-HASH.js`, the wasm-bindgen glue (an ES module).
    pub js: String,
    /// `widget_bg-HASH.wasm`.
    pub wasm: String,
    /// `hls-HASH.js`: hls.js for the watch page, where HLS is not native.
    #[serde(default)]
    pub hls: Option<String>,
    /// `studio-HASH.js` and `studio_bg-HASH.wasm`: the pages with the studio.
    #[serde(default)]
    pub studio_js: Option<String>,
    #[serde(default)]
    pub studio_wasm: Option<String>,
}

impl Manifest {
    /// Reads `dir/manifest.json`; `None` when the pages were not built.
    pub fn load(dir: &Path) -> Option<Manifest> {
        let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
        let manifest: Manifest = serde_json::from_str(&text).ok()?;
        let plain = |f: &str| {
            !f.is_empty()
                && f.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        let optional_ok = [&manifest.hls, &manifest.studio_js, &manifest.studio_wasm]
            .iter()
            .all(|f| f.as_deref().is_none_or(plain));
        (plain(&manifest.js) && plain(&manifest.wasm) && optional_ok).then_some(manifest)
    }

    /// The content type of `file` if it is one of the built files.
    fn content_type(&self, file: &str) -> Option<&'static str> {
        let is = |f: &Option<String>| f.as_deref() == Some(file);
        if file == self.js || is(&self.hls) || is(&self.studio_js) {
            Some("text/javascript; charset=utf-8")
        } else if file == self.wasm || is(&self.studio_wasm) {
            Some("application/wasm")
        } else {
            None
        }
    }
}

fn manifest(state: &AppState) -> Result<&Manifest, ApiError> {
    state.assets.as_ref().ok_or_else(|| {
        ApiError::unavailable(
            "assets_unavailable",
            "the pages are not built: run scripts/build_widget.sh",
        )
    })
}

pub async fn asset(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let manifest = manifest(&state)?;
    let file = path.into_inner();
    let content_type = manifest
        .content_type(&file)
        .ok_or_else(|| ApiError::not_found("asset_not_found", "no such asset"))?;
    let bytes = tokio::fs::read(state.settings.assets_dir.join(&file))
        .await
        .map_err(|_| ApiError::not_found("asset_not_found", "no such asset"))?;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("cache-control", "public, max-age=31536000, immutable"))
        .insert_header(("access-control-allow-origin", "*"))
        .body(bytes))
}

/// The HTML shell of a page: loads the module (`js` and `wasm`) and calls
/// `mount_fn` with the page's root element, the server's address and the show.
fn shell(
    (js, wasm): (&str, &str),
    title: &str,
    head: &str,
    mount_fn: &str,
    show_id: &str,
) -> HttpResponse {
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{head}
<link rel="modulepreload" href="/assets/{js}">
</head><body><div id="dropcast"></div>
<script type="module">
import init, {{ {mount_fn} }} from "/assets/{js}";
await init({{ module_or_path: "/assets/{wasm}" }});
{mount_fn}(document.getElementById("dropcast"), location.origin, "{show_id}");
</script></body></html>"#
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-cache"))
        .body(body)
}

/// `GET /overlay/{show}`.
pub async fn overlay(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show = find_show(&state, &path).await?;
    let manifest = manifest(&state)?;
    Ok(shell(
        (&manifest.js, &manifest.wasm),
        &format!("{} — overlay", html_escape(&show.title)),
        "<style>html,body{margin:0;background:transparent;overflow:hidden}</style>",
        "mount_overlay",
        &show.id,
    ))
}

/// `GET /watch/{show}`: the live stream with the widget beside it (below it
/// on a phone). hls.js is loaded only where HLS is not native.
pub async fn watch(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show = find_show(&state, &path).await?;
    let manifest = manifest(&state)?;
    let hls = manifest
        .hls
        .as_deref()
        .map(|f| format!(r#"<script defer src="/assets/{f}"></script>"#))
        .unwrap_or_default();
    Ok(shell(
        (&manifest.js, &manifest.wasm),
        &format!("{} — live", html_escape(&show.title)),
        &format!("<style>html,body{{margin:0;background:#0b0b0f}}</style>{hls}"),
        "mount_watch",
        &show.id,
    ))
}

/// `GET /studio/{show}?token=…`. The token stays in the browser: the page
/// reads it from its address (then keeps it for the tab and takes it out of
/// the address bar), and no referrer carries it anywhere.
pub async fn studio(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let show = find_show(&state, &path).await?;
    let manifest = manifest(&state)?;
    let (Some(js), Some(wasm)) = (&manifest.studio_js, &manifest.studio_wasm) else {
        return Err(ApiError::unavailable(
            "assets_unavailable",
            "the studio is not built: run scripts/build_widget.sh",
        ));
    };
    Ok(shell(
        (js, wasm),
        &format!("{} — studio", html_escape(&show.title)),
        r#"<meta name="referrer" content="no-referrer"><style>html,body{margin:0;background:#f4f5f7}</style>"#,
        "mount_studio",
        &show.id,
    ))
}

/// `GET /embed.js`: `<script src="…/embed.js" data-show="SHOW_ID"></script>`
/// on any site puts the widget right after the tag, inside a shadow root: the
/// host page's CSS cannot reach it and its CSS cannot leak out. The script is
/// small and cached for five minutes; the module it loads is content-hashed.
pub async fn embed(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let manifest = manifest(&state)?;
    let base = serde_json::to_string(&state.settings.public_base()).unwrap_or_default();
    let body = format!(
        r#"(function () {{
  var me = document.currentScript;
  if (!me) return;
  var base = {base};
  var show = me.getAttribute("data-show") || "";
  var host = document.createElement("div");
  host.className = "dropcast-widget";
  me.parentNode.insertBefore(host, me.nextSibling);
  var root = document.createElement("div");
  host.attachShadow({{ mode: "open" }}).appendChild(root);
  import(base + "/assets/{js}").then(function (m) {{
    return m.default({{ module_or_path: base + "/assets/{wasm}" }}).then(function () {{
      m.mount_widget(root, base, show);
    }});
  }}).catch(function (e) {{ console.error("dropcast widget:", e); }});
}})();
"#,
        js = manifest.js,
        wasm = manifest.wasm,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=300"))
        .insert_header(("access-control-allow-origin", "*"))
        .body(body))
}

/// Text made safe to place in HTML.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_escaped() {
        assert_eq!(
            html_escape("<b>\"A&B\"</b>"),
            "&lt;b&gt;&quot;A&amp;B&quot;&lt;/b&gt;"
        );
    }

    #[test]
    fn a_manifest_naming_paths_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let write = |js: &str| {
            std::fs::write(
                dir.path().join("manifest.json"),
                serde_json::json!({"js": js, "wasm": "widget_bg-1.wasm"}).to_string(),
            )
            .unwrap()
        };
        write("widget-1.js");
        assert!(Manifest::load(dir.path()).is_some());
        write("../secret.js");
        assert!(Manifest::load(dir.path()).is_none());
        assert!(Manifest::load(&dir.path().join("none")).is_none());
    }
}
