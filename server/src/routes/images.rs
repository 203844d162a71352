//! `GET /images/{file}`: product images, every size as its own file
//! (`img_…-640.jpg`). A file's name never changes what it shows (a new
//! upload is a new id), so it is cached for a year. Each node answers
//! from its data dir and, for an image uploaded through another node,
//! reads it from the database once and keeps it there.

use std::path::{Path, PathBuf};

use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::state::AppState;

fn image_path(data_dir: &Path, file: &str) -> PathBuf {
    data_dir.join("images").join(file)
}

/// Writes a copy of an image's file under the data dir (by a temporary
/// name, then renamed, so a reader never sees half of it). A copy that
/// cannot be written is only a cache missed.
pub async fn keep(data_dir: &Path, file: &str, bytes: &[u8]) {
    let path = image_path(data_dir, file);
    let tmp = path.with_extension(format!("tmp{}", rand::random::<u32>()));
    let written = async {
        tokio::fs::create_dir_all(path.parent().expect("a parent")).await?;
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &path).await
    }
    .await;
    if let Err(e) = written {
        tracing::warn!(%file, error = %e, "cannot keep a copy of an image");
        let _ = tokio::fs::remove_file(&tmp).await;
    }
}

pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::not_found("image_not_found", "no image has this name");
    // The name is checked to be one this server makes before it reaches a path.
    let (id, size) = crate::images::parse_file_name(&path).ok_or_else(not_found)?;
    let file = crate::images::file_name(&id, size);
    let bytes = match tokio::fs::read(image_path(&state.settings.data_dir, &file)).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let bytes = crate::store::images::image_bytes(&state.pool, &file)
                .await?
                .ok_or_else(not_found)?;
            keep(&state.settings.data_dir, &file, &bytes).await;
            bytes
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("image/jpeg")
        .insert_header(("cache-control", "public, max-age=31536000, immutable"))
        .insert_header(("access-control-allow-origin", "*"))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(bytes))
}
