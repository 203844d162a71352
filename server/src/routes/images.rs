//! `GET /images/{file}`: product pictures and show covers, every size as its own file
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

/// An uploaded picture, read (bounded), checked and resized: its sizes
/// and the file name of each, under one new image id.
pub struct Upload {
    pub id: String,
    pub variants: Vec<crate::images::Variant>,
    files: Vec<String>,
}

impl Upload {
    /// Reads the request body as a picture (see
    /// [`crate::routes::products::image_body`]) and makes its sizes off
    /// the async threads. Refusals are the API's image errors.
    pub async fn read(
        req: &actix_web::HttpRequest,
        payload: web::Payload,
    ) -> Result<Upload, ApiError> {
        let body = super::products::image_body(req, payload).await?;
        let variants = web::block(move || crate::images::prepare(&body))
            .await
            .map_err(|_| ApiError::internal())?
            .map_err(super::products::image_refused)?;
        let id = crate::domain::ids::new_id("img");
        let files = variants
            .iter()
            .map(|v| crate::images::file_name(&id, v.size))
            .collect();
        Ok(Upload {
            id,
            variants,
            files,
        })
    }

    /// The sizes as the store keeps them.
    pub fn stored(&self) -> Vec<crate::store::images::StoredVariant<'_>> {
        self.variants
            .iter()
            .zip(&self.files)
            .map(|(v, file)| crate::store::images::StoredVariant {
                file,
                width: i64::from(v.width),
                height: i64::from(v.height),
                jpeg: &v.jpeg,
            })
            .collect()
    }

    /// `{public}/images/{file}` of one size.
    pub fn url(&self, public_base: &str, size: crate::images::Size) -> String {
        format!(
            "{public_base}/images/{}",
            crate::images::file_name(&self.id, size)
        )
    }

    /// A copy of every size under this node's data dir.
    pub async fn keep_copies(&self, data_dir: &Path) {
        for (v, file) in self.variants.iter().zip(&self.files) {
            keep(data_dir, file, &v.jpeg).await;
        }
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
