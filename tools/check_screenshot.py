#!/usr/bin/env python3
"""Checks a PNG screenshot of a page: its size, that it is not blank, and
that given colours (e.g. a chart's curve colour) appear in it.

Decodes the PNG with the standard library only (8-bit RGB or RGBA,
non-interlaced, as headless Chromium writes them).

usage: python3 tools/check_screenshot.py SHOT.png WIDTH HEIGHT [#rrggbb]...
Prints one line per check; exits 1 on any failure.
"""
import struct
import sys
import zlib


def decode(path):
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        raise ValueError(f'{path}: not a PNG file')
    pos, idat, head = 8, b'', None
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b'IHDR':
            head = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = head
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f'{path}: only 8-bit RGB/RGBA non-interlaced PNGs are read (got depth {depth}, type {ctype})')
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    path, want_w, want_h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    w, h, bpp, rows = decode(path)
    failed = 0

    def check(name, ok, detail):
        nonlocal failed
        print(('OK ' if ok else 'NOT OK ') + name + ('' if ok else ': ' + detail))
        failed += not ok

    check('screenshot size', (w, h) == (want_w, want_h), f'{w}x{h}, wanted {want_w}x{want_h}')
    pixels = {}
    for r in rows:
        for i in range(0, len(r), bpp):
            px = r[i:i + 3]
            pixels[px] = pixels.get(px, 0) + 1
    total = w * h
    white = pixels.get(b'\xff\xff\xff', 0)
    check('screenshot not blank (over 2% of pixels not white)', total - white > 0.02 * total,
          f'{total - white} of {total} pixels not white')
    for colour in sys.argv[4:]:
        rgb = bytes.fromhex(colour.lstrip('#'))
        check(f'colour {colour} drawn (at least 50 pixels)', pixels.get(rgb, 0) >= 50,
              f'{pixels.get(rgb, 0)} pixels')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
