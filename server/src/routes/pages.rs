//! The pages: small HTML shells that load the one wasm module, and the
//! module's files themselves.
//!
//! - `GET /assets/{file}`: the built JS glue and wasm, content-hashed names
//!   from `manifest.json`, cached for a year (`immutable`), open to any origin
//!   (`/embed.js` loads them from other sites' pages). Sent gzipped to a
//!   browser that takes it, from the `FILE.gz` the build made beside each
//!   (compressed once, at `gzip -9`, not on every request).
//! - `GET /overlay/{show}`: the OBS browser source, never cached.
//! - `GET /watch/{show}`: the stream with the widget.
//! - `GET /studio/{show}?token=…`: the creator's console and the editor's
//!   clip desk. A module of its own (the pages' module plus the studio), so
//!   the widget that viewers download does not carry the studio's code.
//! - `GET /clip/{clip}`: a finished clip with its product and Buy, and the
//!   Open Graph tags that make a shared link unfold (title, poster, video).
//! - `GET /embed.js`: one script tag mounts the widget on any site, in an
//!   iframe of `GET /frame/{show}` on this origin (`data-clip`: of
//!   `GET /clip/{clip}?embed=1`).
//!
//! Every page carries a Content-Security-Policy: scripts only from here
//! (the inline loader by a per-response nonce) and Stripe.js, and
//! `frame-ancestors` as the creator chose for the widget and watch page
//! (`PUT /api/v1/creators/me/embed-origins`), none for the studio.
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
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let manifest = manifest(&state)?;
    let file = path.into_inner();
    let content_type = manifest
        .content_type(&file)
        .ok_or_else(|| ApiError::not_found("asset_not_found", "no such asset"))?;
    let not_found = || ApiError::not_found("asset_not_found", "no such asset");
    let dir = &state.settings.assets_dir;
    let gzipped = if takes_gzip(&req) {
        tokio::fs::read(dir.join(format!("{file}.gz"))).await.ok()
    } else {
        None
    };
    let mut res = HttpResponse::Ok();
    res.content_type(content_type)
        .insert_header(("cache-control", "public, max-age=31536000, immutable"))
        .insert_header(("access-control-allow-origin", "*"))
        .insert_header(("vary", "accept-encoding"));
    Ok(match gzipped {
        Some(bytes) => res.insert_header(("content-encoding", "gzip")).body(bytes),
        None => res.body(
            tokio::fs::read(dir.join(&file))
                .await
                .map_err(|_| not_found())?,
        ),
    })
}

/// Whether the request's `Accept-Encoding` takes gzip (and does not refuse
/// it with `q=0`).
fn takes_gzip(req: &actix_web::HttpRequest) -> bool {
    let Some(accept) = req
        .headers()
        .get("accept-encoding")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    accept.split(',').any(|part| {
        let mut bits = part.split(';').map(str::trim);
        let coding = bits.next().unwrap_or_default();
        // `q=0`, `q=0.0`…: refused.
        let refused = bits.any(|b| {
            b.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

/// Which sites may frame a page (CSP `frame-ancestors`).
enum Framing {
    /// Nobody (the studio).
    Nobody,
    /// Any site (the overlay; a creator who set no list).
    Anyone,
    /// This origin and the creator's list.
    Only(Vec<String>),
}

impl Framing {
    /// The creator's choice for their show's widget and watch page.
    async fn of_creator(state: &AppState, creator_id: &str) -> Result<Framing, ApiError> {
        let creator = crate::store::get_creator(&state.pool, creator_id).await?;
        let list: Option<Vec<String>> = creator
            .and_then(|c| c.embed_origins)
            .and_then(|j| serde_json::from_str(&j).ok());
        Ok(list.map_or(Framing::Anyone, Framing::Only))
    }

    fn sources(&self) -> String {
        match self {
            Framing::Nobody => "'none'".into(),
            Framing::Anyone => "*".into(),
            Framing::Only(list) => {
                let mut s = String::from("'self'");
                for origin in list {
                    s.push(' ');
                    s.push_str(origin);
                }
                s
            }
        }
    }
}

/// The origin (scheme://host:port) of a URL.
fn origin_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    Some(url.origin().ascii_serialization()).filter(|o| o != "null")
}

/// The Content-Security-Policy of a page: its own scripts (and the inline
/// module loader, by `nonce`), WebAssembly, Stripe.js and its frames, the
/// server's API and live socket, media from blobs (hls.js), images from
/// anywhere (product images), and who may frame it.
fn content_security_policy(state: &AppState, nonce: &str, framing: &Framing) -> String {
    let stripe = state
        .settings
        .stripe
        .as_ref()
        .and_then(|s| origin_of(&s.js_url))
        .unwrap_or_default();
    let base = state.settings.public_base();
    let ws = base
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    format!(
        "default-src 'self'; \
         script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval' {stripe}; \
         style-src 'self' 'unsafe-inline'; \
         img-src * data: blob:; \
         media-src 'self' blob:; \
         worker-src 'self' blob:; \
         connect-src 'self' {ws} {stripe} https://api.stripe.com https://*.stripe.com https://*.stripe.network; \
         frame-src {stripe} https://js.stripe.com https://hooks.stripe.com; \
         frame-ancestors {}; \
         base-uri 'none'; form-action 'self'; object-src 'none'",
        framing.sources()
    )
    .replace("  ", " ")
}

/// The HTML shell of a page: loads the module (`js` and `wasm`) and calls
/// `mount_fn` with the page's root element, the server's address and the
/// show; `extra_script` runs after it (inline, under the same nonce).
struct Shell<'a> {
    module: (&'a str, &'a str),
    title: &'a str,
    head: &'a str,
    mount_fn: &'a str,
    show_id: &'a str,
    framing: Framing,
    extra_script: &'a str,
}

fn shell(state: &AppState, page: Shell<'_>) -> HttpResponse {
    let nonce = crate::domain::ids::new_secret("n");
    let Shell {
        module: (js, wasm),
        title,
        head,
        mount_fn,
        show_id,
        framing,
        extra_script,
    } = page;
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{head}
<link rel="modulepreload" href="/assets/{js}">
</head><body><div id="dropcast"></div>
<script type="module" nonce="{nonce}">
import init, {{ {mount_fn} }} from "/assets/{js}";
await init({{ module_or_path: "/assets/{wasm}" }});
{mount_fn}(document.getElementById("dropcast"), location.origin, "{show_id}");
{extra_script}
</script></body></html>"#
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-cache"))
        .insert_header((
            "content-security-policy",
            content_security_policy(state, &nonce, &framing),
        ))
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
        &state,
        Shell {
            module: (&manifest.js, &manifest.wasm),
            title: &format!("{} — overlay", html_escape(&show.title)),
            head: "<style>html,body{margin:0;background:transparent;overflow:hidden}</style>",
            mount_fn: "mount_overlay",
            show_id: &show.id,
            framing: Framing::Anyone,
            extra_script: "",
        },
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
    let framing = Framing::of_creator(&state, &show.creator_id).await?;
    Ok(shell(
        &state,
        Shell {
            module: (&manifest.js, &manifest.wasm),
            title: &format!("{} — live", html_escape(&show.title)),
            head: &format!("<style>html,body{{margin:0;background:#0b0b0f}}</style>{hls}"),
            mount_fn: "mount_watch",
            show_id: &show.id,
            framing,
            extra_script: "",
        },
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
    let mut res = shell(
        &state,
        Shell {
            module: (js, wasm),
            title: &format!("{} — studio", html_escape(&show.title)),
            head: r#"<meta name="referrer" content="no-referrer"><style>html,body{margin:0;background:#f4f5f7}</style>"#,
            mount_fn: "mount_studio",
            show_id: &show.id,
            framing: Framing::Nobody,
            extra_script: "",
        },
    );
    res.headers_mut().insert(
        actix_web::http::header::REFERRER_POLICY,
        actix_web::http::header::HeaderValue::from_static("no-referrer"),
    );
    Ok(res)
}

/// `GET /frame/{show}?parent=ORIGIN`: the widget alone, for `/embed.js` to
/// frame on another site. It runs on Dropcast's origin, so the buyer's
/// session and card live in this origin's storage, out of the host page's
/// reach; the host page can neither read them nor press Buy. It tells its
/// height to `parent` (and only there, and only if that is really the
/// framing page's origin) so the frame fits its content; it takes no
/// messages. Which sites may frame it is the creator's list.
pub async fn frame(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<FrameQuery>,
) -> Result<HttpResponse, ApiError> {
    let show = find_show(&state, &path).await?;
    let manifest = manifest(&state)?;
    let framing = Framing::of_creator(&state, &show.creator_id).await?;
    let parent = query
        .parent
        .as_deref()
        .and_then(|p| crate::domain::text::EmbedOrigins::origin(p).ok());
    let sizing = sizing_script(parent.as_deref());
    Ok(shell(
        &state,
        Shell {
            module: (&manifest.js, &manifest.wasm),
            title: &format!("{} — shop", html_escape(&show.title)),
            head: "<style>html,body{margin:0;background:transparent}</style>",
            mount_fn: "mount_widget",
            show_id: &show.id,
            framing,
            extra_script: &sizing,
        },
    ))
}

/// `GET /order/{order}?k=SIG`: the buyer's order page, opened from the
/// link in their mail (the page reads the order with the link's signature).
pub async fn order(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order_id = path.into_inner();
    if !crate::domain::ids::looks_like_id(&order_id) {
        return Err(ApiError::not_found(
            "order_not_found",
            "no order has this id",
        ));
    }
    let manifest = manifest(&state)?;
    let mut res = shell(
        &state,
        Shell {
            module: (&manifest.js, &manifest.wasm),
            title: "Your order",
            head: r#"<meta name="referrer" content="no-referrer"><style>html,body{margin:0;background:#f4f5f7}</style>"#,
            mount_fn: "mount_order",
            show_id: &order_id,
            framing: Framing::Nobody,
            extra_script: "",
        },
    );
    res.headers_mut().insert(
        actix_web::http::header::REFERRER_POLICY,
        actix_web::http::header::HeaderValue::from_static("no-referrer"),
    );
    Ok(res)
}

/// The script of a framed page that tells its height to `parent` (and only
/// there, and only if that is really the framing page's origin).
fn sizing_script(parent: Option<&str>) -> String {
    match parent {
        Some(parent) => format!(
            r#"const parent = {parent};
const ancestors = location.ancestorOrigins;
if (window.parent !== window && (!ancestors || ancestors[0] === parent)) {{
  let last = 0;
  // The shop bag is a modal dialog (the top layer, outside the root's
  // box): while it is open the frame is as tall as it too.
  const bag = document.querySelector("dialog");
  const send = () => {{
    let height = Math.ceil(document.getElementById("dropcast").getBoundingClientRect().height);
    if (bag && bag.open) height = Math.max(height, Math.ceil(bag.scrollHeight) + 32);
    if (height !== last) {{ last = height; window.parent.postMessage({{ type: "dropcast:size", height }}, parent); }}
  }};
  const watch = new ResizeObserver(send);
  watch.observe(document.getElementById("dropcast"));
  if (bag) watch.observe(bag);
  send();
}}"#,
            parent = serde_json::to_string(&parent).unwrap_or_default()
        ),
        None => String::new(),
    }
}

/// `GET /clip/{clip}`: a finished clip, playing, with its product's card and
/// Buy (orders placed here count for the clip), and Open Graph and Twitter
/// tags so a shared link unfolds with the title, the poster and the video.
/// `?embed=1&parent=ORIGIN` is the frame `/embed.js` makes of it.
pub async fn clip(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<FrameQuery>,
) -> Result<HttpResponse, ApiError> {
    let clip = crate::routes::clips::public_clip(&state, &path).await?;
    let manifest = manifest(&state)?;
    let show = find_show(&state, &clip.show_id).await?;
    let framing = Framing::of_creator(&state, &show.creator_id).await?;
    let title = match &clip.product {
        Some(p) => format!("{} — {}", p.title, clip.show_title),
        None => clip.show_title.clone(),
    };
    let description = match &clip.product {
        Some(p) => format!(
            "Watch the clip and shop {} from the live show {}.",
            p.title, clip.show_title
        ),
        None => format!("A clip from the live show {}.", clip.show_title),
    };
    let image = clip
        .poster_url
        .clone()
        .or_else(|| clip.product.as_ref().and_then(|p| p.image_url.clone()));
    let url = format!("{}/clip/{}", state.settings.public_base(), clip.id);
    let (width, height) = if clip.format == "vertical" {
        (1080, 1920)
    } else {
        (1280, 720)
    };
    let mut og = vec![
        ("og:type", "video.other".to_string()),
        ("og:site_name", "Dropcast".to_string()),
        ("og:title", title.clone()),
        ("og:description", description.clone()),
        ("og:url", url),
        ("og:video", clip.video_url.clone()),
        ("og:video:type", "video/mp4".to_string()),
        ("og:video:width", width.to_string()),
        ("og:video:height", height.to_string()),
    ];
    if let Some(image) = &image {
        og.push(("og:image", image.clone()));
    }
    let mut head = String::new();
    for (property, content) in og {
        head.push_str(&format!(
            r#"<meta property="{property}" content="{}">"#,
            html_escape(&content)
        ));
        head.push('\n');
    }
    let card = if image.is_some() {
        "summary_large_image"
    } else {
        "summary"
    };
    head.push_str(&format!(
        r#"<meta name="twitter:card" content="{card}"><meta name="twitter:title" content="{}"><meta name="description" content="{}">"#,
        html_escape(&title),
        html_escape(&description)
    ));
    let embedded = query.embed.as_deref() == Some("1");
    head.push_str(if embedded {
        "<style>html,body{margin:0;background:transparent}</style>"
    } else {
        "<style>html,body{margin:0;background:#0b0b0f}</style>"
    });
    let parent = query
        .parent
        .as_deref()
        .and_then(|p| crate::domain::text::EmbedOrigins::origin(p).ok());
    let sizing = if embedded {
        sizing_script(parent.as_deref())
    } else {
        String::new()
    };
    Ok(shell(
        &state,
        Shell {
            module: (&manifest.js, &manifest.wasm),
            title: &html_escape(&title),
            head: &head,
            mount_fn: "mount_clip",
            show_id: &clip.id,
            framing,
            extra_script: &sizing,
        },
    ))
}

#[derive(serde::Deserialize)]
pub struct FrameQuery {
    /// `1`: the page is framed by `/embed.js` (no page background).
    #[serde(default)]
    embed: Option<String>,
    /// The origin of the page that frames the widget.
    parent: Option<String>,
}

/// `GET /sw.js`: the service worker that shows announcement pushes (its
/// scope is the whole origin, so a subscription made on any page of ours
/// is the same registration). Revalidated on every load, as browsers check
/// for a new worker.
pub async fn service_worker() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("cache-control", "no-cache"))
        .body(include_str!("assets/sw.js"))
}

/// `GET /embed.js`: `<script src="…/embed.js" data-show="SHOW_ID"></script>`
/// on any site puts the widget right after the tag: an iframe of
/// [`frame`] on Dropcast's origin (the buyer's session and card stay there,
/// out of the host page's reach), inside a closed shadow root so the host
/// page's CSS cannot hide or restyle it. The frame's height follows its
/// content through `postMessage`, taken only from that frame and from
/// Dropcast's origin. The script is small and cached for five minutes.
pub async fn embed(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    manifest(&state)?;
    let base = state.settings.public_base();
    let origin = origin_of(&base).unwrap_or_else(|| base.clone());
    let body = format!(
        r#"(function () {{
  var me = document.currentScript;
  if (!me) return;
  var base = {base}, origin = {origin};
  var show = me.getAttribute("data-show") || "";
  var clip = me.getAttribute("data-clip") || "";
  var host = document.createElement("div");
  host.className = "dropcast-widget";
  me.parentNode.insertBefore(host, me.nextSibling);
  var root = host.attachShadow({{ mode: "closed" }});
  var style = document.createElement("style");
  style.textContent = ":host{{all:initial;display:block}}iframe{{all:initial;display:block;width:100%;height:180px;border:0;color-scheme:normal}}";
  var frame = document.createElement("iframe");
  frame.title = clip ? "Shop this clip" : "Shop this show";
  frame.setAttribute("allow", "payment; autoplay");
  frame.src = clip
    ? base + "/clip/" + encodeURIComponent(clip) + "?embed=1&parent=" + encodeURIComponent(location.origin)
    : base + "/frame/" + encodeURIComponent(show) + "?parent=" + encodeURIComponent(location.origin);
  root.appendChild(style);
  root.appendChild(frame);
  window.addEventListener("message", function (e) {{
    if (e.origin !== origin || e.source !== frame.contentWindow) return;
    var d = e.data;
    if (d && d.type === "dropcast:size" && typeof d.height === "number" && d.height >= 0 && d.height < 5000) {{
      frame.style.height = Math.ceil(d.height) + "px";
    }}
  }});
}})();
"#,
        base = serde_json::to_string(&base).unwrap_or_default(),
        origin = serde_json::to_string(&origin).unwrap_or_default(),
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
    fn gzip_is_sent_only_to_who_takes_it() {
        let ask = |accept: Option<&str>| {
            let mut req = actix_web::test::TestRequest::default();
            if let Some(a) = accept {
                req = req.insert_header(("accept-encoding", a));
            }
            takes_gzip(&req.to_http_request())
        };
        assert!(ask(Some("gzip, deflate, br, zstd")));
        assert!(ask(Some("br;q=1.0, GZIP;q=0.5")));
        assert!(ask(Some("*")));
        assert!(!ask(Some("gzip;q=0")));
        assert!(!ask(Some("gzip; q=0.0, br")));
        assert!(!ask(Some("br, deflate")));
        assert!(!ask(None));
    }

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
