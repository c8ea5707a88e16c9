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

/// A baseline JPEG of `width`×`height` whose 8×8 blocks are flat (DC only, Annex K's DC table
/// and an AC table with end-of-block as "0"): tens of megapixels in a few hundred kilobytes.
/// `level(bx, by)` is each luma block's level (-1024..1016); colour is 4:2:0 with neutral
/// chroma. `orientation` adds an EXIF block with that tag.
pub fn jpeg_flat(
    width: u16,
    height: u16,
    color: bool,
    orientation: Option<u16>,
    level: impl Fn(u32, u32) -> i32,
) -> Vec<u8> {
    const DC_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
    const AC_BITS: [u8; 16] = [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    fn segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
        out.extend_from_slice(&[0xFF, marker]);
        out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(body);
    }
    // Canonical codes of the DC table: category → (code, length).
    let mut dc = [(0u32, 0u32); 12];
    let (mut code, mut k) = (0u32, 0usize);
    for (i, &n) in DC_BITS.iter().enumerate() {
        for _ in 0..n {
            dc[k] = (code, i as u32 + 1);
            code += 1;
            k += 1;
        }
        code <<= 1;
    }
    let mut out = vec![0xFF, 0xD8];
    if let Some(o) = orientation {
        let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
        exif.extend_from_slice(&o.to_be_bytes());
        exif.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        segment(&mut out, 0xE1, &exif);
    }
    let mut dqt = vec![0u8];
    dqt.extend_from_slice(&[1; 64]);
    segment(&mut out, 0xDB, &dqt);
    let comps: &[(u8, u8)] = if color { &[(1, 0x22), (2, 0x11), (3, 0x11)] } else { &[(1, 0x11)] };
    let mut sof = vec![8];
    sof.extend_from_slice(&height.to_be_bytes());
    sof.extend_from_slice(&width.to_be_bytes());
    sof.push(comps.len() as u8);
    for &(id, s) in comps {
        sof.extend_from_slice(&[id, s, 0]);
    }
    segment(&mut out, 0xC0, &sof);
    let mut dht = vec![0x00];
    dht.extend_from_slice(&DC_BITS);
    dht.extend(0u8..12);
    segment(&mut out, 0xC4, &dht);
    let mut dht = vec![0x10];
    dht.extend_from_slice(&AC_BITS);
    dht.extend_from_slice(&[0x00, 0x01]);
    segment(&mut out, 0xC4, &dht);
    let mut sos = vec![comps.len() as u8];
    for &(id, _) in comps {
        sos.extend_from_slice(&[id, 0x00]);
    }
    sos.extend_from_slice(&[0, 63, 0]);
    segment(&mut out, 0xDA, &sos);
    let (mut acc, mut n) = (0u64, 0u32);
    let mut put = |out: &mut Vec<u8>, value: u32, len: u32| {
        acc = (acc << len) | u64::from(value & ((1 << len) - 1));
        n += len;
        while n >= 8 {
            n -= 8;
            let byte = (acc >> n) as u8;
            out.push(byte);
            if byte == 0xFF {
                out.push(0);
            }
        }
    };
    let mcu = if color { 16 } else { 8 };
    let (mw, mh) = (u32::from(width).div_ceil(mcu), u32::from(height).div_ceil(mcu));
    let mut prev = [0i32; 3];
    let mut block = |out: &mut Vec<u8>, c: usize, v: i32| {
        let diff = v - prev[c];
        prev[c] = v;
        let size = 32 - diff.unsigned_abs().leading_zeros();
        put(out, dc[size as usize].0, dc[size as usize].1);
        if size > 0 {
            let bits = if diff > 0 { diff } else { diff + (1 << size) - 1 };
            put(out, bits as u32, size);
        }
        put(out, 0, 1); // end of block
    };
    for my in 0..mh {
        for mx in 0..mw {
            let per_side = if color { 2 } else { 1 };
            for i in 0..per_side * per_side {
                block(&mut out, 0, level(mx * per_side + i % per_side, my * per_side + i / per_side));
            }
            if color {
                block(&mut out, 1, 0);
                block(&mut out, 2, 0);
            }
        }
    }
    // Pad the last byte with ones, as the standard asks.
    put(&mut out, 0x7F, 7);
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// A PNG of zeros compressed row by row: a 12000×12000 grey one is about 140 KB.
pub fn png_zeros(width: u32, height: u32, channels: u8) -> Vec<u8> {
    let color = match channels {
        1 => png::ColorType::Grayscale,
        3 => png::ColorType::Rgb,
        _ => png::ColorType::Rgba,
    };
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(color);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().unwrap();
        let mut stream = writer.stream_writer().unwrap();
        let row = vec![0u8; width as usize * usize::from(channels)];
        for _ in 0..height {
            std::io::Write::write_all(&mut stream, &row).unwrap();
        }
        stream.finish().unwrap();
    }
    out
}

/// A lossless WebP whose five prefix codes hold one symbol each, so every pixel takes no bits:
/// a few dozen bytes whatever the size.
pub fn webp_flat(width: u32, height: u32) -> Vec<u8> {
    let mut fields: Vec<(u64, u32)> =
        vec![(0x2F, 8), (u64::from(width - 1), 14), (u64::from(height - 1), 14), (0, 1), (0, 3)];
    // No transform, no colour cache, no meta prefix codes.
    fields.extend([(0, 1), (0, 1), (0, 1)]);
    for symbol in [0x10, 0x80, 0x40, 0xFF, 0] {
        // A simple code with one 8-bit symbol: green, red, blue, alpha, distance.
        fields.extend([(1, 1), (0, 1), (1, 1), (symbol, 8)]);
    }
    let (mut acc, mut n) = (0u128, 0u32);
    for (v, len) in fields {
        acc |= u128::from(v) << n;
        n += len;
    }
    let mut data = acc.to_le_bytes()[..n.div_ceil(8) as usize].to_vec();
    data.extend_from_slice(&[0; 4]);
    if data.len() % 2 == 1 {
        data.push(0);
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(4 + 8 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WEBPVP8L");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}
