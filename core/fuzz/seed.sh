#!/usr/bin/env bash
# Builds the seed corpus of the fuzz targets in core/fuzz/corpus/<target>/ (gitignored).
#
#   bash core/fuzz/seed.sh            # from anywhere
#
# transform: small sample images, plus tiny re-encodings of bigger samples made with the
# refract CLI (target/release/refract) when it has been built; without it only the small
# samples are copied. Each image is stored once per spec of fuzz_targets/transform.rs, with
# that spec's index as the first byte (the target's spec selector).
# spec_parse: a handful of spec strings in both grammars.
# url_resolve: request paths and queries (NUL between them), keys with odd characters.
set -euo pipefail

FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$FUZZ_DIR/../.." && pwd)"
SAMPLES="$ROOT/samples"
REFRACT="${REFRACT:-$ROOT/target/release/refract}"
CORPUS="$FUZZ_DIR/corpus"

# Number of entries in `const SPECS` of the transform target.
NSPECS="$(awk '/^const SPECS/{on=1; next} on && /^\];/{exit} on && /^ *"/{n++} END{print n+0}' \
    "$FUZZ_DIR/fuzz_targets/transform.rs")"
if [ "$NSPECS" -lt 1 ]; then
    echo "seed.sh: could not count the specs in fuzz_targets/transform.rs" >&2
    exit 1
fi

mkdir -p "$CORPUS/transform" "$CORPUS/spec_parse" "$CORPUS/url_resolve" "$CORPUS/progressive"
images="$(mktemp -d)"
trap 'rm -rf "$images"' EXIT

# Small samples, byte for byte.
for f in "$SAMPLES"/*.gif "$SAMPLES/logo-alpha.png" "$SAMPLES/palette-trns.png" "$SAMPLES/cat-small.jpg"; do
    [ -f "$f" ] && cp "$f" "$images/"
done

# Tiny re-encodings: output name, input sample, spec.
if [ -x "$REFRACT" ]; then
    while read -r out in spec; do
        [ -f "$SAMPLES/$in" ] || continue
        if ! "$REFRACT" transform "$SAMPLES/$in" "$images/$out" "$spec" 2>/dev/null; then
            echo "seed.sh: refract could not make $out from $in ($spec); skipped" >&2
            rm -f "$images/$out"
        fi
    done <<'LIST'
tiny-cat.jpg cat-small.jpg width=32,format=jpeg
tiny-cat-baseline.jpg cat-small.jpg width=32,format=baseline-jpeg,quality=60
tiny-cat.png cat-small.jpg width=24,format=png
tiny-cat.webp cat-small.jpg width=32,format=webp
tiny-cat.avif cat-small.jpg width=16,format=avif
tiny-logo.webp logo-alpha.png width=32,format=webp
tiny-logo.png logo-alpha.png width=32,format=png
tiny-alpha-lossless.webp alpha-lossless.webp width=32,format=webp
tiny-photo.webp photo.webp width=32,format=webp
tiny-photo16.png photo-16bit.png width=32,format=png
tiny-palette.png palette.png width=48,format=png
tiny-grayscale.jpg grayscale.jpg width=32,format=jpeg
tiny-cmyk.jpg cmyk.jpg width=32,format=jpeg
tiny-icc-p3.jpg icc-p3.jpg width=32,format=jpeg,metadata=keep
tiny-icc-adobergb.jpg icc-adobergb.jpg width=24,format=baseline-jpeg,metadata=keep
tiny-orientation-6.jpg orientation-6.jpg width=32,format=baseline-jpeg,metadata=keep
tiny-progressive.jpg progressive.jpg width=40,format=jpeg
LIST
else
    echo "seed.sh: $REFRACT not built; copying the small samples only" >&2
fi

# Inputs the CLI cannot make (it converts ICC to sRGB, applies EXIF orientation and writes
# 8-bit PNG): splice the samples' ICC and EXIF segments into the tiny JPEGs, and write small
# 16-bit PNGs. Needs python3; skipped without it.
if command -v python3 >/dev/null; then
    python3 - "$SAMPLES" "$images" <<'PY' || echo "seed.sh: python3 seeds failed; skipped" >&2
import os, struct, sys, zlib

samples, out = sys.argv[1], sys.argv[2]

def segments(jpeg):
    """The marker segments between SOI and SOS: (marker, whole segment bytes)."""
    i, segs = 2, []
    while i + 4 <= len(jpeg) and jpeg[i] == 0xFF and jpeg[i + 1] != 0xDA:
        n = struct.unpack(">H", jpeg[i + 2:i + 4])[0]
        segs.append((jpeg[i + 1], jpeg[i:i + 2 + n]))
        i += 2 + n
    return segs

def splice(base_name, donor_name, marker, out_name, patch=None):
    """Copies the donor sample's segments with `marker` in after the SOI of a tiny JPEG."""
    base_path, donor_path = os.path.join(out, base_name), os.path.join(samples, donor_name)
    if not (os.path.exists(base_path) and os.path.exists(donor_path)):
        return
    base, donor = open(base_path, "rb").read(), open(donor_path, "rb").read()
    extra = b"".join(seg for m, seg in segments(donor) if m == marker)
    if not extra:
        return
    if patch:
        extra = patch(extra)
    open(os.path.join(out, out_name), "wb").write(base[:2] + extra + base[2:])

splice("tiny-icc-p3.jpg", "icc-p3.jpg", 0xE2, "tiny-icc-p3-profile.jpg")
splice("tiny-icc-adobergb.jpg", "icc-adobergb.jpg", 0xE2, "tiny-icc-adobergb-profile.jpg")

def orientation(value):
    def patch(seg):
        tiff = seg.index(b"Exif\0\0") + 6
        big = seg[tiff:tiff + 2] == b"MM"
        tag = b"\x01\x12\x00\x03" if big else b"\x12\x01\x03\x00"
        at = seg.index(tag, tiff) + 8  # the value field of the Orientation entry
        return seg[:at] + struct.pack(">H" if big else "<H", value) + seg[at + 2:]
    return patch

for v in range(1, 9):
    splice("tiny-cat.jpg", "orientation-6.jpg", 0xE1, f"tiny-exif-orientation-{v}.jpg", orientation(v))

def png(name, width, height, color_type, bit_depth, channels):
    """A small gradient PNG, filter type 0 (none) on every row."""
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            for c in range(channels):
                v = ((x * 4099 + y * 7919 + c * 21841) * 37) % (1 << bit_depth)
                row += v.to_bytes(bit_depth // 8, "big")
        rows.append(bytes(row))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))
    open(os.path.join(out, name), "wb").write(data)

png("synth-rgb16.png", 13, 9, 2, 16, 3)
png("synth-rgba16.png", 9, 13, 6, 16, 4)
png("synth-gray16.png", 7, 5, 0, 16, 1)
png("synth-graya8.png", 11, 6, 4, 8, 2)
PY
fi

n=0
for img in "$images"/*; do
    name="$(basename "$img")"
    for ((i = 0; i < NSPECS; i++)); do
        { printf "\\x$(printf %02x "$i")"; cat "$img"; } > "$CORPUS/transform/$(printf %02d "$i")-$name"
        n=$((n + 1))
    done
done

# progressive: the small progressive JPEGs of core/tests/progressive.rs, each with every shrink
# selector (0: 1/2, 1: 1/4, 2: 1/8) as its first byte.
p=0
for img in "$ROOT"/core/tests/fixtures/progressive/*.jpg; do
    for i in 0 1 2; do
        { printf "\\x0$i"; cat "$img"; } > "$CORPUS/progressive/$i-$(basename "$img")"
        p=$((p + 1))
    done
done

# spec_parse: one string per file.
i=0
while IFS= read -r spec; do
    printf '%s' "$spec" > "$CORPUS/spec_parse/seed-$(printf %02d "$i")"
    i=$((i + 1))
done <<'LIST'
width=800,quality=75,format=auto
?width=800&height=600&fit=cover&gravity=auto&dpr=2
w=32,h=32,fit=pad,background=red
background=rgb(10,20,30),fit=contain,width=100,height=50
background=%23ff000080&fit=squeeze&width=10&height=10
rotate=270,flip=hv,trim=1;2;3;4
trim.left=5,trim.top=6,trim.width=70,trim.height=80
gravity=0.25x0.75,fit=crop,width=64,height=64
blur=250,sharpen=9.5,quality=medium-low,metadata=copyright,anim=false
format=baseline-jpeg&q=high&metadata=keep
width=50%25&format=json
g=left,fit=aspect-crop,width=10,height=20,dpr=0.5
LIST

# url_resolve: path, a NUL, query; one per file.
u=0
while IFS='|' read -r path query; do
    printf '%s\0%s' "$path" "$query" > "$CORPUS/url_resolve/seed-$(printf %02d "$u")"
    u=$((u + 1))
done <<'LIST'
/photos/cat.jpg|width=400&format=auto
/cdn-cgi/image/width=400,fit=cover/photos/my%20cat.jpg|sig=00
/a%7Eb/%E6%97%A5.jpg|preset=thumb&format=webp
/photos/cat.jpg|width=320&expires=1800000100&sig=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
/photos/cat.jpg|sig=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
/a/../b.jpg|width=1
/%2e%2e/etc/passwd|
/cdn-cgi/image/w=1/|
LIST

echo "seed.sh: $n transform seeds ($NSPECS specs), $i spec_parse, $u url_resolve and $p progressive seeds in $CORPUS"
