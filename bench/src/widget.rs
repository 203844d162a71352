//! The pages' weight: the wasm module and its JS glue as built by
//! `scripts/build_widget.sh`, raw and gzipped (`gzip -9`, what a server or
//! CDN would send).

use std::path::Path;
use std::process::Command;

use serde_json::json;

type Error = Box<dyn std::error::Error>;

fn gzipped(path: &Path) -> Result<u64, Error> {
    let out = Command::new("gzip").args(["-9", "-c"]).arg(path).output()?;
    if !out.status.success() {
        return Err(format!("gzip failed on {path:?}").into());
    }
    Ok(out.stdout.len() as u64)
}

pub fn run() -> Result<(), Error> {
    let dist = crate::root().join("target").join("widget").join("dist");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dist.join("manifest.json"))
            .map_err(|_| "no target/widget/dist/manifest.json: run scripts/build_widget.sh")?,
    )?;
    let file = |key: &str| dist.join(manifest[key].as_str().unwrap_or_default());
    let (js, wasm) = (file("js"), file("wasm"));
    // The studio's module, when built (creators and editors load it, viewers never).
    let studio = match (
        manifest["studio_js"].as_str(),
        manifest["studio_wasm"].as_str(),
    ) {
        (Some(_), Some(_)) => {
            let (sjs, swasm) = (file("studio_js"), file("studio_wasm"));
            Some(gzipped(&sjs)? + gzipped(&swasm)?)
        }
        _ => None,
    };
    let result = json!({
        "studio_gzip": studio,
        "machine": crate::machine::describe(),
        "js_bytes": std::fs::metadata(&js)?.len(),
        "wasm_bytes": std::fs::metadata(&wasm)?.len(),
        "js_gzip": gzipped(&js)?,
        "wasm_gzip": gzipped(&wasm)?,
    });
    crate::save("widget", &result)
}
