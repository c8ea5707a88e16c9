"""Item 9 of issue 21: image bombs. Small files that declare huge images — a 12000×12000 PNG of
zeros, baseline JPEGs of 12000×12000 and 9000×9000 whose blocks are all flat, a 9000×9000
lossless WebP whose every pixel costs no bits, and one declaring 60000×60000 — posted ten at a
time to /api/v1/hazards (as a grid worker) and as Open311 `media`. Every answer must be a 4xx,
the server must stay under its memory budget, and an ordinary large phone photo (a 48 MP JPEG,
portrait, EXIF orientation 6) must still be stored.
Usage: check_image_bomb.py BINARY sqlite|postgres [parallel]"""

import struct
import sys
import threading
import time
import zlib

from server import Server, median, multipart, report

# Growth over the server's own memory before each phase, in MB. Decodes run one at a time
# within decode::BUDGET (56 MiB); ten posts' bodies are under 5 MB.
BOMB_GROWTH_MB = 70
# One 48 MP photo: its decode at half size (4000×3000 RGB, 36 MB), the rotated copy EXIF 6
# asks for (36 MB), the thumbnail and the re-encoded file, and its upload held in memory.
PHOTO_GROWTH_MB = 110
PARALLEL = 10


# ---- files ---------------------------------------------------------------------------------

def png_zeros(width, height, gray=True):
    """A valid PNG of zeros, compressed row by row (a 12000×12000 grey one is ~140 KB)."""
    channels = 1 if gray else 3
    comp = zlib.compressobj(9)
    row = b"\0" * (1 + width * channels)
    data = bytearray()
    for _ in range(height):
        data += comp.compress(row)
    data += comp.flush()

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0 if gray else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", bytes(data)) + chunk(b"IEND", b"")


class _Bits:
    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value, length):
        self.acc = (self.acc << length) | (value & ((1 << length) - 1))
        self.n += length
        while self.n >= 8:
            self.n -= 8
            byte = (self.acc >> self.n) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0)  # byte stuffing
        self.acc &= (1 << self.n) - 1

    def flush(self):
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)
        return bytes(self.out)


# Annex K's luminance DC table; an AC table holding only end-of-block ("0") and one filler.
_DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
_DC_VALS = list(range(12))
_AC_BITS = [1, 1] + [0] * 14
_AC_VALS = [0x00, 0x01]


def _codes(bits, vals):
    codes, code, k = {}, 0, 0
    for length in range(1, 17):
        for _ in range(bits[length - 1]):
            codes[vals[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


def _segment(marker, body):
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def jpeg_flat(width, height, color=True, dc=None, orientation=None):
    """A baseline JPEG whose 8×8 blocks are flat (DC only); `dc(mx, my)` gives each luma MCU's
    level so a photo-sized one has content. 4:2:0 when `color`."""
    dc_codes, ac_codes = _codes(_DC_BITS, _DC_VALS), _codes(_AC_BITS, _AC_VALS)
    eob = ac_codes[0]
    out = bytearray(b"\xff\xd8")
    if orientation:
        tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
        tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
        out += _segment(0xE1, b"Exif\x00\x00" + tiff)
    out += _segment(0xDB, b"\x00" + bytes([1] * 64))
    comps = [(1, 0x22 if color else 0x11), (2, 0x11), (3, 0x11)] if color else [(1, 0x11)]
    sof = struct.pack(">BHHB", 8, height, width, len(comps)) + b"".join(bytes([i, s, 0]) for i, s in comps)
    out += _segment(0xC0, sof)
    out += _segment(0xC4, b"\x00" + bytes(_DC_BITS) + bytes(_DC_VALS))
    out += _segment(0xC4, b"\x10" + bytes(_AC_BITS) + bytes(_AC_VALS))
    out += _segment(0xDA, bytes([len(comps)]) + b"".join(bytes([i, 0x00]) for i, _ in comps) + b"\x00\x3f\x00")
    bits = _Bits()
    mcu = 16 if color else 8
    mw, mh = (width + mcu - 1) // mcu, (height + mcu - 1) // mcu
    prev = [0, 0, 0]

    def block(comp, level):
        diff = level - prev[comp]
        prev[comp] = level
        size = abs(diff).bit_length()
        code, length = dc_codes[size]
        bits.put(code, length)
        if size:
            bits.put(diff if diff > 0 else diff + (1 << size) - 1, size)
        bits.put(*eob)

    if dc is None:
        # Every block is DC category 0 ("00") and end-of-block ("0"): the scan is zero bits.
        blocks = mw * mh * (6 if color else 1)
        out += bytes((blocks * 3 + 7) // 8)
    else:
        for my in range(mh):
            for mx in range(mw):
                level = dc(mx, my)
                for _ in range(4 if color else 1):
                    block(0, level)
                if color:
                    block(1, (mx % 64) - 32)
                    block(2, (my % 64) - 32)
        out += bits.flush()
    out += b"\xff\xd9"
    return bytes(out)


def webp_lossless_flat(width, height):
    """A lossless WebP whose five prefix codes each hold one symbol: every pixel takes 0 bits,
    so the file is a few dozen bytes whatever its size."""
    acc, n = 0, 0
    fields = [(0x2F, 8), (width - 1, 14), (height - 1, 14), (0, 1), (0, 3),
              (0, 1),  # no transform
              (0, 1),  # no colour cache
              (0, 1)]  # no meta prefix codes
    for symbol in (0x10, 0x80, 0x40, 0xFF, 0):  # green, red, blue, alpha, distance
        fields += [(1, 1), (0, 1), (1, 1), (symbol, 8)]  # simple code, one 8-bit symbol
    for value, length in fields:
        acc |= value << n
        n += length
    data = acc.to_bytes((n + 7) // 8, "little") + b"\0" * 4
    body = b"VP8L" + struct.pack("<I", len(data)) + data
    if len(body) % 2:
        body += b"\0"
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def photo_48mp():
    """An 8000×6000 portrait phone photo: smooth gradients, EXIF orientation 6 (rotate 90°)."""
    return jpeg_flat(8000, 6000, color=True, orientation=6,
                     dc=lambda mx, my: ((mx * 3 + my * 2) % 400) - 200)


# ---- attack --------------------------------------------------------------------------------

def post_hazard(srv, grid, place, name, data):
    ctype, body = multipart(
        {"category": "fire", "risk_level": "general", "description": "楼道堆放杂物，见照片", "place_id": place},
        [("photos", name, data)])
    return grid.request("POST", "/api/v1/hazards", body,
                        {"Content-Type": ctype, "X-CSRF-Token": grid.csrf}, timeout=120)


def post_open311(srv, session, name, data):
    ctype, body = multipart(
        {"api_key": srv.api_key, "service_code": "street_light", "lat": "40.09", "long": "113.30",
         "description": "路灯不亮，见照片"},
        [("media", name, data)])
    return session.request("POST", "/open311/v2/requests.json", body, {"Content-Type": ctype}, timeout=120)


def volley(jobs):
    """Runs every job at once; returns [(status, seconds)] in order."""
    results = [None] * len(jobs)

    def run(i, job):
        t = time.time()
        try:
            status = job().status
        except OSError as e:
            status = f"error:{e.__class__.__name__}"
        results[i] = (status, time.time() - t)

    threads = [threading.Thread(target=run, args=(i, j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main():
    binary, backend = sys.argv[1], sys.argv[2]
    parallel = int(sys.argv[3]) if len(sys.argv) > 3 else PARALLEL
    bombs = {
        "png_gray_12000": png_zeros(12000, 12000),
        "png_rgb_9000": png_zeros(9000, 9000, gray=False),
        "jpeg_gray_12000": jpeg_flat(12000, 12000, color=False),
        "jpeg_color_12000": jpeg_flat(12000, 12000),
        "webp_9000": webp_lossless_flat(9000, 9000),
        "jpeg_60000": jpeg_flat(60000, 60000, color=False)[:4096],
    }
    ext = {"png": "png", "jpe": "jpg", "web": "webp"}
    photo = photo_48mp()
    with Server(binary, backend) as srv:
        grid = srv.login("grid_worker")
        places = grid.get("/api/v1/places?kind=grid&limit=5").json()
        place = next(p["id"] for p in places["items"])
        anon = type(grid)(srv.base)
        base_rss = srv.rss_mb()
        srv.reset_peak_rss()
        answers, seconds, fails = {}, [], []
        for name, data in bombs.items():
            filename = f"{name}.{ext[name[:3]]}"
            for target, post in (("hazards", lambda: post_hazard(srv, grid, place, filename, data)),
                                 ("open311", lambda: post_open311(srv, anon, filename, data))):
                results = volley([post] * parallel)
                statuses = sorted({str(s) for s, _ in results})
                answers[f"{name}@{target}"] = "/".join(statuses)
                seconds += [t for _, t in results]
                if not all(isinstance(s, int) and 400 <= s < 500 for s, _ in results):
                    fails.append(f"{name}@{target}:{'/'.join(statuses)}")
                if not srv.healthy(timeout=30):
                    fails.append(f"server down after {name}@{target}")
                    break
        bomb_peak = srv.peak_rss_mb()
        # An ordinary phone photo still goes through, alone and with bombs beside it. Each
        # phase's peak is its own: the one figure for the whole run mixed what the bombs cost
        # with what one legitimate 48 MP photo costs (and the idle base, which varies).
        srv.reset_peak_rss()
        before_photo = srv.rss_mb()
        t = time.time()
        alone = post_hazard(srv, grid, place, "IMG_20261206_0931.jpg", photo)
        photo_s = time.time() - t
        photo_peak = srv.peak_rss_mb()
        srv.reset_peak_rss()
        before_mixed = srv.rss_mb()
        mixed = volley([lambda: post_hazard(srv, grid, place, "IMG_20261206_0932.jpg", photo)]
                       + [lambda: post_hazard(srv, grid, place, "b.png", bombs["png_gray_12000"])] * (parallel - 1))
        mixed_peak = srv.peak_rss_mb()
        stored = None
        if alone.status == 201:
            hazard = grid.get(alone.headers.get("Location") or f"/api/v1/hazards/{alone.json()['id']}").json()
            stored = len(hazard.get("files", []))
        if alone.status != 201 or stored != 1:
            fails.append(f"48MP photo: {alone.status} {alone.body[:200]}")
        if mixed[0][0] != 201:
            fails.append(f"48MP photo beside bombs: {mixed[0][0]}")
        # Bombs: what they add over the idle server is bounded by one decode's budget (decodes
        # run one at a time) plus the bodies in flight. A photo: one decode, its rotation and
        # thumbnail, and its upload, over what the server held when it came.
        if bomb_peak - base_rss > BOMB_GROWTH_MB:
            fails.append(f"bombs added {bomb_peak - base_rss:.0f} MB, over {BOMB_GROWTH_MB} MB")
        for phase, peak_mb, start in (("photo", photo_peak, before_photo), ("photo beside bombs", mixed_peak, before_mixed)):
            if peak_mb - start > PHOTO_GROWTH_MB:
                fails.append(f"{phase} added {peak_mb - start:.0f} MB, over {PHOTO_GROWTH_MB} MB")
        report(f"image_bomb[{backend}]", parallel=parallel, base_rss_mb=f"{base_rss:.0f}",
               bomb_peak_rss_mb=f"{bomb_peak:.0f}", photo_start_mb=f"{before_photo:.0f}",
               photo_peak_rss_mb=f"{photo_peak:.0f}", mixed_start_mb=f"{before_mixed:.0f}",
               mixed_peak_rss_mb=f"{mixed_peak:.0f}",
               bomb_answer_s_median=f"{median(seconds):.3f}", bomb_answer_s_max=f"{max(seconds):.3f}",
               photo_48mp=f"{alone.status}/{photo_s:.2f}s", photo_beside_bombs=mixed[0][0],
               answers=",".join(f"{k}:{v}" for k, v in answers.items()), ok=not fails)
        if fails:
            print("  " + "\n  ".join(fails))
            sys.exit(1)


if __name__ == "__main__":
    main()
