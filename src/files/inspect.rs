//! What an upload really is, decided by its content: photos are decoded under pixel and memory
//! limits (a decompression bomb stops at the header), turned upright, and re-encoded, which drops
//! every metadata block (EXIF location, maker notes); PDFs are kept as they are. Everything else
//! is refused, whatever its name says.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

/// Longest side of a photo we keep; larger camera photos are scaled down.
const MAX_SIDE: u32 = 4096;
/// Longest side of a thumbnail.
const THUMB_SIDE: u32 = 320;
/// Refuse to decode anything wider or taller than this (a 60000×60000 PNG of zeros is a few KB).
const MAX_DECODE_SIDE: u32 = 12_000;
/// Memory the decoder may take for one image.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Photo,
    Document,
}

/// A file ready to store.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub kind: Kind,
    pub media_type: &'static str,
    pub extension: &'static str,
    pub bytes: Vec<u8>,
    pub thumb: Option<Vec<u8>>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub sha256: String,
}

/// Why an upload was refused; each has a message code and an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    Empty,
    TooLarge,
    /// Not a photo or a PDF, whatever the name says (an HTML page named .jpg).
    Unsupported,
    /// HEIC/HEIF: this build has no decoder for it.
    Heic,
    /// Declares more pixels than we decode.
    TooManyPixels,
    /// Claims to be a photo but does not decode.
    Broken,
}

impl Rejected {
    pub fn code(self) -> &'static str {
        match self {
            Rejected::Empty => "file.empty",
            Rejected::TooLarge => "file.too_large",
            Rejected::Unsupported => "file.unsupported",
            Rejected::Heic => "file.heic",
            Rejected::TooManyPixels => "file.too_many_pixels",
            Rejected::Broken => "file.broken",
        }
    }
    pub fn status(self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            Rejected::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejected::Unsupported | Rejected::Heic => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Rejected::Empty | Rejected::TooManyPixels | Rejected::Broken => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

/// Decides what `raw` is and prepares it for storage. CPU-bound: call it off the async runtime.
pub fn prepare(raw: &[u8], max_bytes: usize) -> Result<Prepared, Rejected> {
    if raw.is_empty() {
        return Err(Rejected::Empty);
    }
    if raw.len() > max_bytes {
        return Err(Rejected::TooLarge);
    }
    let sniffed = infer::get(raw).map(|t| t.mime_type());
    match sniffed {
        Some("image/jpeg") => photo(raw, ImageFormat::Jpeg),
        Some("image/png") => photo(raw, ImageFormat::Png),
        Some("image/webp") => photo(raw, ImageFormat::WebP),
        Some("image/heif" | "image/heic" | "image/avif") => Err(Rejected::Heic),
        Some("application/pdf") => document(raw),
        _ => Err(Rejected::Unsupported),
    }
}

fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn document(raw: &[u8]) -> Result<Prepared, Rejected> {
    // `infer` looks at the first bytes only; a PDF also ends with its trailer.
    let tail = &raw[raw.len().saturating_sub(1024)..];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err(Rejected::Broken);
    }
    Ok(Prepared {
        kind: Kind::Document,
        media_type: "application/pdf",
        extension: "pdf",
        bytes: raw.to_vec(),
        thumb: None,
        width: None,
        height: None,
        sha256: digest(raw),
    })
}

fn photo(raw: &[u8], format: ImageFormat) -> Result<Prepared, Rejected> {
    let mut reader = ImageReader::with_format(Cursor::new(raw), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    // The camera's rotation lives in EXIF, which re-encoding drops: apply it to the pixels first.
    img.apply_orientation(orientation);
    if img.width().max(img.height()) > MAX_SIDE {
        img = img.resize(MAX_SIDE, MAX_SIDE, image::imageops::FilterType::Lanczos3);
    }
    // Screenshots and drawings keep PNG (sharp text, transparency); camera photos are JPEG.
    let keep_png = format == ImageFormat::Png;
    let bytes = if keep_png { encode_png(&img)? } else { encode_jpeg(&img, 85)? };
    let thumb = encode_jpeg(&img.thumbnail(THUMB_SIDE, THUMB_SIDE), 75)?;
    Ok(Prepared {
        kind: Kind::Photo,
        media_type: if keep_png { "image/png" } else { "image/jpeg" },
        extension: if keep_png { "png" } else { "jpg" },
        sha256: digest(&bytes),
        width: Some(img.width()),
        height: Some(img.height()),
        bytes,
        thumb: Some(thumb),
    })
}

fn decode_error(e: image::ImageError) -> Rejected {
    match e {
        image::ImageError::Limits(_) => Rejected::TooManyPixels,
        _ => Rejected::Broken,
    }
}

fn encode_jpeg(img: &DynamicImage, quality: u8) -> Result<Vec<u8>, Rejected> {
    let mut out = Vec::new();
    // JPEG has no alpha: flatten to RGB.
    let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
    rgb.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality))
        .map_err(|_| Rejected::Broken)?;
    Ok(out)
}

fn encode_png(img: &DynamicImage) -> Result<Vec<u8>, Rejected> {
    let mut out = Vec::new();
    img.write_with_encoder(image::codecs::png::PngEncoder::new(&mut out)).map_err(|_| Rejected::Broken)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::samples::{jpeg_with_gps, png_bomb};

    #[test]
    fn photo_is_reencoded_without_exif_and_gets_a_thumbnail() {
        let raw = jpeg_with_gps(800, 600);
        assert!(raw.windows(4).any(|w| w == b"Exif"));
        let p = prepare(&raw, 1 << 20).unwrap();
        assert_eq!(p.media_type, "image/jpeg");
        assert!(!p.bytes.windows(4).any(|w| w == b"Exif"), "EXIF block must be gone");
        assert!(!p.bytes.windows(11).any(|w| w == b"GPSLatitude"));
        assert_eq!((p.width, p.height), (Some(800), Some(600)));
        let thumb = image::load_from_memory(p.thumb.as_ref().unwrap()).unwrap();
        assert_eq!(thumb.width().max(thumb.height()), THUMB_SIDE);
    }

    #[test]
    fn content_decides_not_the_name() {
        assert_eq!(prepare(b"<html><script>alert(1)</script></html>", 1 << 20).unwrap_err(), Rejected::Unsupported);
        assert_eq!(prepare(b"", 1 << 20).unwrap_err(), Rejected::Empty);
        // A JPEG header with garbage after it.
        let mut broken = jpeg_with_gps(16, 16)[..40].to_vec();
        broken.extend_from_slice(&[0u8; 64]);
        assert_eq!(prepare(&broken, 1 << 20).unwrap_err(), Rejected::Broken);
    }

    #[test]
    fn size_limit_and_decompression_bomb() {
        let raw = jpeg_with_gps(64, 64);
        assert_eq!(prepare(&raw, raw.len() - 1).unwrap_err(), Rejected::TooLarge);
        let bomb = png_bomb();
        assert!(bomb.len() < 200);
        assert_eq!(prepare(&bomb, 1 << 20).unwrap_err(), Rejected::TooManyPixels);
    }

    #[test]
    fn pdf_kept_as_is_and_png_stays_png() {
        let pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".to_vec();
        let p = prepare(&pdf, 1 << 20).unwrap();
        assert_eq!((p.kind, p.media_type, p.bytes.clone()), (Kind::Document, "application/pdf", pdf));
        assert_eq!(prepare(b"%PDF-1.4 truncated", 1 << 20).unwrap_err(), Rejected::Broken);
        let mut png = Vec::new();
        DynamicImage::ImageRgba8(image::RgbaImage::new(20, 10))
            .write_with_encoder(image::codecs::png::PngEncoder::new(&mut png))
            .unwrap();
        let p = prepare(&png, 1 << 20).unwrap();
        assert_eq!((p.media_type, p.width, p.height), ("image/png", Some(20), Some(10)));
    }

    #[test]
    fn big_photos_are_scaled_down() {
        let raw = jpeg_with_gps(MAX_SIDE + 100, 50);
        let p = prepare(&raw, 1 << 26).unwrap();
        assert_eq!(p.width, Some(MAX_SIDE));
    }
}
