//! Product images: an upload checked, decoded and resized to the sizes the
//! pages use, each re-encoded as a JPEG (nothing of the upload but its
//! pixels is kept: no metadata, no location). Knows nothing of HTTP or the
//! database; the route stores what [`prepare`] makes.
//!
//! What is refused, before any pixel is decoded where it can be: more than
//! [`MAX_UPLOAD_BYTES`]; anything but PNG, JPEG or WebP (by its first bytes,
//! whatever the request says it is); a picture wider or taller than
//! [`MAX_SIDE`] or one that would take more memory to decode than
//! [`MAX_DECODE_BYTES`] (a small file can claim a huge picture).

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};

/// The largest upload taken.
pub const MAX_UPLOAD_BYTES: usize = 8 * 1024 * 1024;
/// The longest side of a picture taken.
pub const MAX_SIDE: u32 = 8000;
/// Memory a decode may take.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
/// JPEG quality of every size.
const QUALITY: u8 = 85;

/// A size the pages use: the longest side in pixels and the suffix of its
/// file (`img_…-640.jpg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub side: u32,
    pub name: &'static str,
}

/// The product card, the overlay and link previews (large), the shop bag's
/// rows and thumbnails (small).
pub const LARGE: Size = Size {
    side: 640,
    name: "640",
};
pub const SMALL: Size = Size {
    side: 160,
    name: "160",
};
pub const SIZES: [Size; 2] = [LARGE, SMALL];

/// One size of an image, ready to store and serve.
#[derive(Debug, Clone)]
pub struct Variant {
    pub size: Size,
    pub width: u32,
    pub height: u32,
    /// A baseline JPEG.
    pub jpeg: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    #[error("an image is at most {} MB", MAX_UPLOAD_BYTES / 1024 / 1024)]
    TooLarge,
    #[error("send a PNG, JPEG or WebP image")]
    NotAnImage,
    #[error("the image is at most {MAX_SIDE} pixels on a side")]
    TooManyPixels,
    #[error("the image cannot be read: {0}")]
    Unreadable(String),
}

/// The format of `bytes` by its signature, if it is one taken.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(ImageFormat::WebP)
    } else {
        None
    }
}

/// Checks and decodes an upload, and makes every [`SIZES`] of it. CPU
/// work: run it off the async threads.
pub fn prepare(bytes: &[u8]) -> Result<Vec<Variant>, ImageError> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(ImageError::TooLarge);
    }
    let format = sniff(bytes).ok_or(ImageError::NotAnImage)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let picture = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => ImageError::TooManyPixels,
        other => ImageError::Unreadable(other.to_string()),
    })?;
    let picture = flatten(picture);
    SIZES
        .iter()
        .map(|&size| {
            let fitted = if picture.width().max(picture.height()) > size.side {
                picture.resize(
                    size.side,
                    size.side,
                    image::imageops::FilterType::CatmullRom,
                )
            } else {
                picture.clone()
            };
            let mut jpeg = Vec::new();
            JpegEncoder::new_with_quality(&mut jpeg, QUALITY)
                .encode_image(&fitted)
                .map_err(|e| ImageError::Unreadable(e.to_string()))?;
            Ok(Variant {
                size,
                width: fitted.width(),
                height: fitted.height(),
                jpeg,
            })
        })
        .collect()
}

/// RGB, with any transparency laid over white (JPEG has no alpha; product
/// shots are cut out on white).
fn flatten(picture: DynamicImage) -> DynamicImage {
    if !picture.color().has_alpha() {
        return DynamicImage::ImageRgb8(picture.into_rgb8());
    }
    let rgba = picture.into_rgba8();
    let mut rgb = image::RgbImage::new(rgba.width(), rgba.height());
    for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(px[3]);
        for c in 0..3 {
            out[c] = ((u16::from(px[c]) * a + 255 * (255 - a)) / 255) as u8;
        }
    }
    DynamicImage::ImageRgb8(rgb)
}

/// The file name of one size of an image (`img_x-640.jpg`).
pub fn file_name(image_id: &str, size: Size) -> String {
    format!("{image_id}-{}.jpg", size.name)
}

/// The image id and size a served file name names, if it is one.
pub fn parse_file_name(file: &str) -> Option<(String, Size)> {
    let stem = file.strip_suffix(".jpg")?;
    let (id, size) = stem.rsplit_once('-')?;
    let size = SIZES.into_iter().find(|s| s.name == size)?;
    crate::domain::ids::looks_like_id(id).then(|| (id.to_string(), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(picture: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        picture.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn every_taken_format_is_resized_to_each_size() {
        let picture = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(1200, 800, |x, y| {
            image::Rgba([
                (x % 256) as u8,
                (y % 256) as u8,
                90,
                if x < 600 { 255 } else { 0 },
            ])
        }));
        for format in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::WebP] {
            let bytes = match format {
                ImageFormat::Jpeg => encoded(DynamicImage::ImageRgb8(picture.to_rgb8()), format),
                _ => encoded(picture.clone(), format),
            };
            assert_eq!(sniff(&bytes), Some(format));
            let variants = prepare(&bytes).unwrap();
            let sides: Vec<_> = variants.iter().map(|v| (v.width, v.height)).collect();
            assert_eq!(sides, [(640, 427), (160, 107)], "{format:?}");
            for v in &variants {
                assert!(v.jpeg.starts_with(&[0xff, 0xd8, 0xff]));
                let back = image::load_from_memory(&v.jpeg).unwrap();
                assert_eq!((back.width(), back.height()), (v.width, v.height));
            }
        }
        // The transparent half is white, not black.
        let png = encoded(picture, ImageFormat::Png);
        let large = image::load_from_memory(&prepare(&png).unwrap()[0].jpeg)
            .unwrap()
            .to_rgb8();
        assert!(large.get_pixel(600, 200).0.iter().all(|&c| c > 240));
    }

    #[test]
    fn a_small_picture_is_not_blown_up() {
        let png = encoded(
            DynamicImage::ImageRgb8(image::RgbImage::new(100, 50)),
            ImageFormat::Png,
        );
        let v = prepare(&png).unwrap();
        assert_eq!((v[0].width, v[0].height, v[1].width), (100, 50, 100));
    }

    #[test]
    fn what_is_refused() {
        assert_eq!(prepare(b"GIF89a....").unwrap_err(), ImageError::NotAnImage);
        assert_eq!(prepare(b"<svg></svg>").unwrap_err(), ImageError::NotAnImage);
        assert_eq!(
            prepare(&vec![0xff; MAX_UPLOAD_BYTES + 1]).unwrap_err(),
            ImageError::TooLarge
        );
        // A PNG that says it is 9000 pixels wide.
        let mut png = encoded(
            DynamicImage::ImageRgb8(image::RgbImage::new(9000, 1)),
            ImageFormat::Png,
        );
        assert_eq!(prepare(&png).unwrap_err(), ImageError::TooManyPixels);
        // A cut-off file.
        png.truncate(60);
        assert!(matches!(
            prepare(&png).unwrap_err(),
            ImageError::Unreadable(_) | ImageError::TooManyPixels
        ));
        let jpeg_head = [0xff, 0xd8, 0xff, 0xe0, 0, 0];
        assert!(matches!(
            prepare(&jpeg_head).unwrap_err(),
            ImageError::Unreadable(_)
        ));
    }

    #[test]
    fn file_names() {
        assert_eq!(file_name("img_abc", LARGE), "img_abc-640.jpg");
        assert_eq!(
            parse_file_name("img_abc-160.jpg"),
            Some(("img_abc".into(), SMALL))
        );
        assert_eq!(parse_file_name("img_abc-999.jpg"), None);
        assert_eq!(parse_file_name("../x-640.jpg"), None);
        assert_eq!(parse_file_name("img_abc-640.png"), None);
    }
}
