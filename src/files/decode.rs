//! Decoding photos within a memory budget. A photo's header says how large it is before any
//! pixel is decoded, so a decompression bomb — a few hundred kilobytes declaring 144 million
//! pixels — is refused there. Below the cap the decoder shrinks while it decodes, so its
//! largest buffer is about the size we keep rather than the size declared: JPEG through the
//! decoder's own DCT scaling (1/2, 1/4, 1/8), PNG row by row into a box-filtered image. WebP
//! and interlaced PNG can only be decoded whole, so they must fit the budget whole.
//!
//! The budget, 56 MiB for one decode, is what a 12 MP phone photo (4000×3000, the most common
//! size) needs decoded at full size — 36 MB of pixels and 18 MB of colour planes — and what a
//! 48 or 50 MP photo needs decoded at half size. Photos decode one at a time
//! (`files::stage`), so this is the most any upload adds to the process.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageBuffer, ImageDecoder, ImageReader};

use super::inspect::Rejected;

/// Decoder memory one photo may take.
pub const BUDGET: u64 = 56 << 20;
/// JPEGs declaring more pixels are refused from the header. The largest phone photos are
/// 108 MP (12000×9000); DCT scaling keeps their memory in the budget, and this bounds the time.
pub const MAX_JPEG_PIXELS: u64 = 120_000_000;
/// PNGs are screenshots, drawings and scans: an 8K screen is 33 MP.
pub const MAX_PNG_PIXELS: u64 = 40_000_000;

/// Pixels as decoded (at most `max_side` on each side) and how EXIF says to turn them.
pub struct Decoded {
    pub image: DynamicImage,
    pub orientation: Orientation,
}

/// A JPEG decoded at the largest DCT scale that fits `max_side` and the budget.
pub fn jpeg(raw: &[u8], max_side: u32) -> Result<Decoded, Rejected> {
    let mut decoder = jpeg_decoder::Decoder::new(raw);
    decoder.read_info().map_err(|_| Rejected::Broken)?;
    let info = decoder.info().ok_or(Rejected::Broken)?;
    let (width, height) = (u64::from(info.width), u64::from(info.height));
    if width == 0 || height == 0 {
        return Err(Rejected::Broken);
    }
    if width * height > MAX_JPEG_PIXELS {
        return Err(Rejected::TooManyPixels);
    }
    let sampling = jpeg_sampling(raw).ok_or(Rejected::Broken)?;
    let out_channels = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => 1,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        // Converted to RGB after decoding, beside the CMYK pixels.
        jpeg_decoder::PixelFormat::CMYK32 => 4 + 3,
        jpeg_decoder::PixelFormat::L16 => return Err(Rejected::Unsupported),
    };
    let progressive = info.coding_process == jpeg_decoder::CodingProcess::DctProgressive;
    let denominator = [1u64, 2, 4, 8]
        .into_iter()
        .find(|&d| {
            let side = width.div_ceil(d).max(height.div_ceil(d));
            side <= u64::from(max_side) && jpeg_memory(width, height, d, out_channels, &sampling, progressive) <= BUDGET
        })
        .ok_or(Rejected::TooManyPixels)?;
    let (w, h) = decoder
        .scale(width.div_ceil(denominator) as u16, height.div_ceil(denominator) as u16)
        .map_err(|_| Rejected::Broken)?;
    decoder.set_max_decoding_buffer_size(BUDGET as usize);
    let pixels = decoder.decode().map_err(|_| Rejected::Broken)?;
    let orientation = decoder.exif_data().and_then(Orientation::from_exif_chunk).unwrap_or(Orientation::NoTransforms);
    let (w, h) = (u32::from(w), u32::from(h));
    let image = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        jpeg_decoder::PixelFormat::RGB24 => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
        _ => ImageBuffer::from_raw(w, h, cmyk_to_rgb(&pixels)).map(DynamicImage::ImageRgb8),
    }
    .ok_or(Rejected::Broken)?;
    Ok(Decoded { image, orientation })
}

/// Bytes the JPEG decoder holds at scale 1/`d`: the colour planes and the interleaved
/// output (both at the scaled size), and for a progressive JPEG every coefficient of the whole
/// image (two bytes a sample, whatever the scale).
fn jpeg_memory(width: u64, height: u64, d: u64, out_channels: u64, sampling: &[(u64, u64)], progressive: bool) -> u64 {
    let (hmax, vmax) = sampling.iter().fold((1, 1), |(h, v), &(sh, sv)| (h.max(sh), v.max(sv)));
    // Planes are padded to whole 8×8 blocks of a whole MCU.
    let (mcu_w, mcu_h) = (8 * hmax, 8 * vmax);
    let (padded_w, padded_h) = (width.next_multiple_of(mcu_w), height.next_multiple_of(mcu_h));
    let plane = |&(h, v): &(u64, u64)| (padded_w * h / hmax) * (padded_h * v / vmax);
    let full: u64 = sampling.iter().map(plane).sum();
    let scaled = full / (d * d);
    let output = width.div_ceil(d) * height.div_ceil(d) * out_channels;
    let coefficients = if progressive { full * 2 } else { 0 };
    scaled + output + coefficients
}

/// Each component's sampling factors (horizontal, vertical), from the frame header.
fn jpeg_sampling(raw: &[u8]) -> Option<Vec<(u64, u64)>> {
    let mut i = 2;
    loop {
        // Markers may be preceded by any number of fill bytes.
        while *raw.get(i)? != 0xFF {
            i += 1;
        }
        while *raw.get(i)? == 0xFF {
            i += 1;
        }
        let marker = *raw.get(i)?;
        i += 1;
        if matches!(marker, 0x01 | 0xD0..=0xD9) {
            continue;
        }
        let len = usize::from(u16::from_be_bytes([*raw.get(i)?, *raw.get(i + 1)?]));
        // SOF0–SOF15, except DHT (C4), JPG (C8) and DAC (CC), which share the range.
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let count = usize::from(*raw.get(i + 7)?);
            let components = raw.get(i + 8..i + 8 + 3 * count)?;
            return Some(
                components.chunks(3).map(|c| (u64::from(c[1] >> 4).max(1), u64::from(c[1] & 15).max(1))).collect(),
            );
        }
        i += len;
    }
}

/// Adobe's CMYK JPEGs store inverted inks.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(cmyk.len() / 4 * 3);
    for p in cmyk.chunks_exact(4) {
        let k = u16::from(p[3]);
        rgb.extend(p[..3].iter().map(|&c| (u16::from(c) * k / 255) as u8));
    }
    rgb
}

/// A PNG decoded row by row, each block of `k`×`k` pixels averaged into one, with `k` the
/// smallest that fits `max_side` and the budget.
pub fn png(raw: &[u8], max_side: u32) -> Result<Decoded, Rejected> {
    let mut decoder = png::Decoder::new(Cursor::new(raw));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(png_error)?;
    let info = reader.info();
    let (width, height) = (u64::from(info.width), u64::from(info.height));
    if width * height > MAX_PNG_PIXELS {
        return Err(Rejected::TooManyPixels);
    }
    let interlaced = info.interlaced;
    let orientation =
        info.exif_metadata.as_deref().and_then(Orientation::from_exif_chunk).unwrap_or(Orientation::NoTransforms);
    let channels = reader.output_color_type().0.samples() as u64;
    // An interlaced PNG comes in seven passes over the whole image: it is decoded whole first.
    let whole = if interlaced { width * height * channels } else { 0 };
    let k = (1u64..)
        .take_while(|&k| k <= width.max(height))
        .find(|&k| {
            let (w, h) = (width.div_ceil(k), height.div_ceil(k));
            w.max(h) <= u64::from(max_side) && whole + w * h * channels <= BUDGET
        })
        .ok_or(Rejected::TooManyPixels)?;
    let mut shrink = Shrink::new(width as usize, channels as usize, k as usize, height.div_ceil(k) as usize);
    if interlaced {
        let mut all = vec![0; reader.output_buffer_size().ok_or(Rejected::TooManyPixels)?];
        let frame = reader.next_frame(&mut all).map_err(png_error)?;
        for row in all.chunks_exact(frame.line_size).take(height as usize) {
            shrink.push(row);
        }
    } else {
        while let Some(row) = reader.next_row().map_err(png_error)? {
            shrink.push(row.data());
        }
    }
    let (w, h, pixels) = shrink.finish();
    let image = match channels {
        1 => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        2 => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageLumaA8),
        3 => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
        _ => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageRgba8),
    }
    .ok_or(Rejected::Broken)?;
    Ok(Decoded { image, orientation })
}

fn png_error(e: png::DecodingError) -> Rejected {
    match e {
        png::DecodingError::LimitsExceeded => Rejected::TooManyPixels,
        _ => Rejected::Broken,
    }
}

/// Averages `k`×`k` blocks of 8-bit pixels as rows arrive (a box filter).
struct Shrink {
    width: usize,
    channels: usize,
    k: usize,
    sums: Vec<u32>,
    rows: usize,
    out: Vec<u8>,
}

impl Shrink {
    fn new(width: usize, channels: usize, k: usize, out_rows: usize) -> Shrink {
        let out_width = width.div_ceil(k);
        Shrink {
            width,
            channels,
            k,
            sums: vec![0; out_width * channels],
            rows: 0,
            out: Vec::with_capacity(out_width * channels * out_rows),
        }
    }

    fn push(&mut self, row: &[u8]) {
        let (c, k) = (self.channels, self.k);
        for (x, px) in row[..self.width * c].chunks_exact(c).enumerate() {
            let sum = &mut self.sums[x / k * c..][..c];
            for (s, &v) in sum.iter_mut().zip(px) {
                *s += u32::from(v);
            }
        }
        self.rows += 1;
        if self.rows == k {
            self.emit();
        }
    }

    fn emit(&mut self) {
        let (c, k) = (self.channels, self.k);
        for (ox, sum) in self.sums.chunks_exact_mut(c).enumerate() {
            // The last column of blocks may be narrower.
            let cols = (self.width - ox * k).min(k) as u32;
            let n = cols * self.rows as u32;
            self.out.extend(sum.iter().map(|&s| ((s + n / 2) / n) as u8));
            sum.fill(0);
        }
        self.rows = 0;
    }

    fn finish(mut self) -> (u32, u32, Vec<u8>) {
        if self.rows > 0 {
            self.emit();
        }
        let w = self.width.div_ceil(self.k);
        let h = self.out.len() / (w * self.channels).max(1);
        (w as u32, h as u32, self.out)
    }
}

/// A WebP decoded whole (the format has no partial decoding here), if that fits the budget;
/// then scaled down by area.
pub fn webp(raw: &[u8], max_side: u32) -> Result<Decoded, Rejected> {
    let mut reader = ImageReader::with_format(Cursor::new(raw), image::ImageFormat::WebP);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(BUDGET);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    // Eight bytes a pixel: RGBA, lossy WebP's YUV planes while it decodes, and the RGB copy
    // the JPEG encoder reads.
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) * 8 > BUDGET {
        return Err(Rejected::TooManyPixels);
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    if image.width().max(image.height()) > max_side {
        image = image.thumbnail(max_side, max_side);
    }
    Ok(Decoded { image, orientation })
}

fn decode_error(e: image::ImageError) -> Rejected {
    match e {
        image::ImageError::Limits(_) => Rejected::TooManyPixels,
        _ => Rejected::Broken,
    }
}
