//! What an upload really is, decided by its content: photos are decoded within a memory budget
//! (a decompression bomb stops at its header, see [`super::decode`]), turned upright, and
//! re-encoded, which drops every metadata block (EXIF location, maker notes); PDFs are kept as
//! they are. Everything else is refused, whatever its name says.

use image::metadata::Orientation;
use image::{DynamicImage, GenericImageView, ImageBuffer, Pixel, PixelWithColorType};
use sha2::{Digest, Sha256};

use super::decode;

/// Longest side of a photo we keep; larger camera photos are decoded smaller.
const MAX_SIDE: u32 = 4096;
/// Longest side of a thumbnail.
const THUMB_SIDE: u32 = 320;

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
        Some("image/jpeg") => photo(raw, Format::Jpeg),
        Some("image/png") => photo(raw, Format::Png),
        Some("image/webp") => photo(raw, Format::WebP),
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

fn photo(raw: &[u8], format: Format) -> Result<Prepared, Rejected> {
    let decode::Decoded { image, orientation } = match format {
        Format::Jpeg => decode::jpeg(raw, MAX_SIDE),
        Format::Png => decode::png(raw, MAX_SIDE),
        Format::WebP => decode::webp(raw, MAX_SIDE),
    }?;
    // Screenshots and drawings keep PNG (sharp text, transparency); camera photos are JPEG.
    let keep_png = format == Format::Png;
    let (bytes, thumb, (width, height)) = if keep_png {
        let mut image = image;
        image.apply_orientation(orientation);
        let thumb = image.thumbnail(THUMB_SIDE, THUMB_SIDE).into_rgb8();
        (encode_png(&image)?, encode_jpeg(&thumb, 75, THUMB_SIDE)?, image.dimensions())
    } else {
        match image {
            DynamicImage::ImageLuma8(grey) => upright_jpeg(&grey, orientation)?,
            other => upright_jpeg(&other.into_rgb8(), orientation)?,
        }
    };
    Ok(Prepared {
        kind: Kind::Photo,
        media_type: if keep_png { "image/png" } else { "image/jpeg" },
        extension: if keep_png { "png" } else { "jpg" },
        sha256: digest(&bytes),
        width: Some(width),
        height: Some(height),
        bytes,
        thumb: Some(thumb),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jpeg,
    Png,
    WebP,
}

/// An image seen as its EXIF orientation says, pixel by pixel.
struct Upright<'a, P: Pixel> {
    image: &'a ImageBuffer<P, Vec<P::Subpixel>>,
    orientation: Orientation,
}

impl<P: Pixel> GenericImageView for Upright<'_, P> {
    type Pixel = P;

    fn dimensions(&self) -> (u32, u32) {
        let (w, h) = self.image.dimensions();
        use Orientation::*;
        match self.orientation {
            Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH => (h, w),
            _ => (w, h),
        }
    }

    fn get_pixel(&self, x: u32, y: u32) -> P {
        let (w, h) = self.image.dimensions();
        use Orientation::*;
        // Where the upright (x, y) sits in the stored pixels.
        let (sx, sy) = match self.orientation {
            NoTransforms => (x, y),
            Rotate90 => (y, h - 1 - x),
            Rotate180 => (w - 1 - x, h - 1 - y),
            Rotate270 => (w - 1 - y, x),
            FlipHorizontal => (w - 1 - x, y),
            FlipVertical => (x, h - 1 - y),
            Rotate90FlipH => (y, x),
            Rotate270FlipH => (w - 1 - y, h - 1 - x),
        };
        *self.image.get_pixel(sx, sy)
    }
}

/// The photo and its thumbnail as JPEGs, and its upright size. The camera's rotation lives in
/// EXIF, which re-encoding drops: the pixels are read through it rather than turned in a copy.
type Encoded = (Vec<u8>, Vec<u8>, (u32, u32));

fn upright_jpeg<P>(image: &ImageBuffer<P, Vec<u8>>, orientation: Orientation) -> Result<Encoded, Rejected>
where
    P: PixelWithColorType<Subpixel = u8> + 'static,
{
    let upright = Upright { image, orientation };
    Ok((encode_jpeg(&upright, 85, MAX_SIDE)?, encode_jpeg(&upright, 75, THUMB_SIDE)?, upright.dimensions()))
}

/// JPEG of `image`, scaled down by area to at most `side` on its longer side.
fn encode_jpeg<I, P>(image: &I, quality: u8, side: u32) -> Result<Vec<u8>, Rejected>
where
    I: GenericImageView<Pixel = P>,
    P: PixelWithColorType<Subpixel = u8> + 'static,
{
    let mut out = Vec::new();
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    let (w, h) = image.dimensions();
    let written = if w.max(h) > side {
        let scale = f64::from(side) / f64::from(w.max(h));
        let (tw, th) = (((f64::from(w) * scale).round() as u32).max(1), ((f64::from(h) * scale).round() as u32).max(1));
        encoder.encode_image(&image::imageops::thumbnail(image, tw, th))
    } else {
        encoder.encode_image(image)
    };
    written.map_err(|_| Rejected::Broken)?;
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
        assert!(p.width.unwrap() <= MAX_SIDE && p.width.unwrap() > MAX_SIDE / 2, "{:?}", p.width);
    }

    #[test]
    fn bombs_are_refused_from_their_header() {
        use crate::files::samples::{jpeg_flat, png_zeros, webp_flat};
        // 144 MP of grey in 140 KB; 144 MP of flat JPEG blocks; 81 MP of WebP in 48 bytes.
        assert_eq!(prepare(&png_zeros(12_000, 12_000, 1), 1 << 26).unwrap_err(), Rejected::TooManyPixels);
        assert_eq!(
            prepare(&jpeg_flat(12_000, 12_000, true, None, |_, _| 0), 1 << 26).unwrap_err(),
            Rejected::TooManyPixels
        );
        assert_eq!(prepare(&webp_flat(9_000, 9_000), 1 << 26).unwrap_err(), Rejected::TooManyPixels);
    }

    #[test]
    fn phone_photos_decode_at_the_size_kept_and_upright() {
        use crate::files::samples::jpeg_flat;
        // A 48 MP portrait photo (stored landscape, EXIF orientation 6): decoded at half size.
        let raw = jpeg_flat(8000, 6000, true, Some(6), |x, y| ((x * 3 + y * 2) % 400) as i32 - 200);
        let p = prepare(&raw, 1 << 26).unwrap();
        assert_eq!((p.width, p.height), (Some(3000), Some(4000)));
        let stored = image::load_from_memory(&p.bytes).unwrap();
        assert_eq!((stored.width(), stored.height()), (3000, 4000));
        // A 12 MP one keeps every pixel.
        let raw = jpeg_flat(4000, 3000, true, None, |x, _| (x % 200) as i32 - 100);
        assert_eq!(prepare(&raw, 1 << 26).map(|p| (p.width, p.height)), Ok((Some(4000), Some(3000))));
        // A large PNG is averaged down row by row.
        let p = prepare(&crate::files::samples::png_zeros(8192, 2048, 4), 1 << 26).unwrap();
        assert_eq!((p.media_type, p.width, p.height), ("image/png", Some(4096), Some(1024)));
    }
}
