//! Sample uploads for tests and benchmarks: a camera JPEG with GPS in its EXIF block, and a
//! decompression bomb. Not used by the application itself.

use image::DynamicImage;

/// A small JPEG with an EXIF block carrying GPS coordinates, as a phone camera writes it.
pub fn jpeg_with_gps(width: u32, height: u32) -> Vec<u8> {
    let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, 128])
    }));
    let mut plain = Vec::new();
    img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 90)).unwrap();
    with_exif(&plain, b"GPSLatitude 40.0764 GPSLongitude 113.3001")
}

/// Inserts an APP1 "Exif" segment right after the SOI marker.
pub fn with_exif(jpeg: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut seg = b"Exif\0\0".to_vec();
    seg.extend_from_slice(payload);
    let len = (seg.len() + 2) as u16;
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&seg);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A PNG whose header claims 60000×60000 pixels: the body never gets decoded.
pub fn png_bomb() -> Vec<u8> {
    let img = image::GrayImage::new(8, 8);
    let mut png = Vec::new();
    DynamicImage::ImageLuma8(img).write_with_encoder(image::codecs::png::PngEncoder::new(&mut png)).unwrap();
    // IHDR starts at byte 8 (length 4, type 4): width at 16..20, height at 20..24, CRC at 29..33.
    png[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
