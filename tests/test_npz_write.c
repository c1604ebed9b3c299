/* .npz writer: the zip structure (local headers, central directory, end
 * record, CRC-32 and sizes through zlib, stored and deflated members),
 * the .npy v1.0 header, and a walk over the pickle opcodes that checks the
 * stack discipline and that the int16 payloads are the sketches, in order;
 * plain arrays (sb_npy_encode) read back by our .npy reader.
 * NumPy itself reads these files in tools/check_synth.py. Host only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "io/npy.h"
#include "io/npz_write.h"
#include "sketchbert/sketchbert.h"
#include "test_util.h"

static uint32_t rd(const uint8_t *p, int n) { /* n little-endian bytes */
    uint32_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint8_t *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)n + 1);
    if (d && fread(d, 1, (size_t)n, f) != (size_t)n) free(d), d = NULL;
    fclose(f);
    *size = (size_t)n;
    return d;
}

// ---- test data: three splits of sketches

typedef struct { const char *name; int16_t *points; size_t *starts; size_t count; } split;

/* count sketches; sketch i has (i * 7) % 61 points (0 included, some over
 * 42 so their data needs BINSTRING), values of both signs. */
static split make_split(const char *name, size_t count) {
    split s = {name, NULL, calloc(count + 1, sizeof(size_t)), count};
    for (size_t i = 0; i < count; i++) s.starts[i + 1] = s.starts[i] + (i * 7) % 61;
    s.points = malloc((s.starts[count] * 3 + 1) * sizeof *s.points);
    for (size_t j = 0; j < s.starts[count]; j++) {
        s.points[3 * j] = (int16_t)((int)(t_rand_u32() % 4001) - 2000);
        s.points[3 * j + 1] = (int16_t)((int)(t_rand_u32() % 65536) - 32768);
        s.points[3 * j + 2] = (int16_t)(t_rand_u32() % 2);
    }
    return s;
}

// ---- pickle walk

/* Walks the opcodes; checks the stack never underflows, memo reads hit
 * written slots, STOP ends the data with one object; compares each string
 * that follows NEWFALSE (an array's raw data) with the next sketch. */
static int walk_pickle(const uint8_t *p, size_t n, const split *s) {
    int depth = 0, marks[16], n_marks = 0, memo[256] = {0};
    size_t pos = 0, sketch = 0;
    int prev = 0;
#define NEED(k) do { if (depth - (n_marks ? marks[n_marks - 1] : 0) < (k)) return printf("  stack underflow at %zu\n", pos), 0; } while (0)
    if (n < 3 || p[0] != 0x80 || p[1] != 2) return printf("  no PROTO 2\n"), 0;
    pos = 2;
    while (pos < n) {
        int op = p[pos++];
        size_t len;
        switch (op) {
        case 'c':
            for (int line = 0; line < 2; line++) {
                while (pos < n && p[pos] != '\n') pos++;
                pos++;
            }
            depth++;
            break;
        case 'q': NEED(1); memo[p[pos++]] = 1; break;
        case 'h': if (!memo[p[pos++]]) return printf("  BINGET of an unset slot\n"), 0; depth++; break;
        case 'K': pos += 1, depth++; break;
        case 'M': pos += 2, depth++; break;
        case 'J': pos += 4, depth++; break;
        case 'N': case 0x89: case ']': depth++; break;
        case 0x85: NEED(1); break;
        case 0x86: NEED(2); depth -= 1; break;
        case 0x87: NEED(3); depth -= 2; break;
        case 'R': case 'b': NEED(2); depth -= 1; break;
        case '(': if (n_marks == 16) return 0; marks[n_marks++] = depth; break;
        case 't': if (!n_marks) return 0; depth = marks[--n_marks] + 1; break;
        case 'e': if (!n_marks || marks[n_marks - 1] < 1) return 0; depth = marks[--n_marks]; break;
        case 'U': case 'T':
            len = op == 'U' ? p[pos] : rd(p + pos, 4);
            pos += op == 'U' ? 1 : 4;
            if (pos + len > n) return printf("  string past the end\n"), 0;
            if (prev == 0x89) { /* raw data of sketch `sketch` */
                if (sketch >= s->count) return printf("  more arrays than sketches\n"), 0;
                size_t rows = s->starts[sketch + 1] - s->starts[sketch];
                if (len != rows * 6) return printf("  sketch %zu: %zu data bytes\n", sketch, len), 0;
                for (size_t k = 0; k < rows * 3; k++)
                    if ((int16_t)rd(p + pos + 2 * k, 2) != s->points[s->starts[sketch] * 3 + k])
                        return printf("  sketch %zu value %zu differs\n", sketch, k), 0;
                sketch++;
            }
            pos += len, depth++;
            break;
        case '.':
            if (pos != n || depth != 1 || n_marks) return printf("  STOP at %zu of %zu, depth %d\n", pos, n, depth), 0;
            if (sketch != s->count) return printf("  %zu arrays for %zu sketches\n", sketch, s->count), 0;
            return 1;
        default: return printf("  unexpected opcode 0x%02x at %zu\n", op, pos - 1), 0;
        }
        prev = op;
    }
#undef NEED
    return printf("  no STOP\n"), 0;
}

/* The .npy header, then the pickle. */
static int check_npy(const uint8_t *d, size_t n, const split *s) {
    if (n < 10 || memcmp(d, "\x93NUMPY\x01\x00", 8) != 0) return printf("  bad .npy magic/version\n"), 0;
    size_t hlen = rd(d + 8, 2);
    if ((10 + hlen) % 64 != 0 || 10 + hlen > n || d[9 + hlen] != '\n') return printf("  bad .npy header size\n"), 0;
    char want[64], header[256] = {0};
    memcpy(header, d + 10, hlen < 255 ? hlen : 255);
    snprintf(want, sizeof want, "'shape': (%zu,)", s->count);
    if (!strstr(header, "'descr': '|O'") || !strstr(header, "'fortran_order': False") || !strstr(header, want))
        return printf("  header %s\n", header), 0;
    return walk_pickle(d + 10 + hlen, n - 10 - hlen, s);
}

// ---- zip structure

static int check_zip(const char *path, const split *splits, int n_splits, int deflated) {
    size_t n;
    uint8_t *z = slurp(path, &n);
    if (!z || n < 22) return printf("  cannot read %s\n", path), free(z), 0;
    const uint8_t *eocd = z + n - 22;
    int ok = rd(eocd, 4) == 0x06054b50 && rd(eocd + 8, 2) == (uint32_t)n_splits && rd(eocd + 10, 2) == (uint32_t)n_splits;
    size_t cd_size = rd(eocd + 12, 4), cd_off = rd(eocd + 16, 4);
    ok = ok && cd_off + cd_size == n - 22;
    if (!ok) printf("  bad end of central directory record\n");
    const uint8_t *c = z + cd_off;
    for (int i = 0; ok && i < n_splits; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.npy", splits[i].name);
        size_t name_len = rd(c + 28, 2), off = rd(c + 42, 4);
        uint32_t crc = rd(c + 16, 4), csize = rd(c + 20, 4), usize = rd(c + 24, 4), method = rd(c + 10, 2);
        ok = rd(c, 4) == 0x02014b50 && name_len == strlen(name) && memcmp(c + 46, name, name_len) == 0 &&
             method == (deflated ? 8u : 0u) && rd(c + 30, 2) == 0 && rd(c + 32, 2) == 0;
        const uint8_t *l = z + off; /* local header repeats the fields */
        ok = ok && off + 30 + name_len + csize <= cd_off && rd(l, 4) == 0x04034b50 && rd(l + 8, 2) == method &&
             rd(l + 14, 4) == crc && rd(l + 18, 4) == csize && rd(l + 22, 4) == usize &&
             rd(l + 26, 2) == name_len && rd(l + 28, 2) == 0 && memcmp(l + 30, name, name_len) == 0;
        if (!ok) {
            printf("  member %s: central and local headers disagree\n", name);
            break;
        }
        uint8_t *data = malloc(usize + 1);
        const uint8_t *packed = l + 30 + name_len;
        if (method == 0) {
            ok = csize == usize;
            memcpy(data, packed, usize);
        } else {
            z_stream zs = {0};
            inflateInit2(&zs, -15);
            zs.next_in = (Bytef *)packed, zs.avail_in = csize, zs.next_out = data, zs.avail_out = usize + 1;
            ok = inflate(&zs, Z_FINISH) == Z_STREAM_END && zs.total_out == usize && zs.total_in == csize;
            inflateEnd(&zs);
        }
        ok = ok && crc32(crc32(0L, Z_NULL, 0), data, usize) == crc;
        if (!ok) printf("  member %s: data does not match its size or CRC-32\n", name);
        ok = ok && check_npy(data, usize, &splits[i]);
        free(data);
        c += 46 + name_len;
    }
    free(z);
    return ok;
}

/* Plain arrays: a (2, 3) float32 and a (5,) int32 read back by io/npy.c,
 * data 64-byte aligned; a string array's header. */
static void check_plain_arrays(void) {
    const float f[6] = {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, -7.0f};
    const int32_t l[5] = {0, 2, -1, 1, 2};
    uint8_t *buf;
    size_t size;
    sb_npy a;
    float back[6];
    int ok = sb_npy_encode("<f4", (int64_t[]){2, 3}, 2, f, sizeof f, &buf, &size) == 0 &&
             sb_npy_parse(&a, "f.npy", buf, size) == 0 && a.dtype == SB_NPY_F32 && a.ndim == 2 && a.shape[0] == 2 &&
             a.shape[1] == 3 && (a.data - buf) % 64 == 0 && sb_npy_to_f32(&a, "f.npy", back) == 0 &&
             !memcmp(back, f, sizeof f);
    t_check_true("a (2, 3) float32 array reads back", ok);
    free(buf);
    ok = sb_npy_encode("<i4", (int64_t[]){5}, 1, l, sizeof l, &buf, &size) == 0 &&
         sb_npy_parse(&a, "l.npy", buf, size) == 0 && a.dtype == SB_NPY_I32 && a.ndim == 1 && a.shape[0] == 5 &&
         a.data_size == sizeof l && !memcmp(a.data, l, sizeof l);
    t_check_true("a (5,) int32 array reads back", ok);
    free(buf);
    const char want[] = "{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }";
    ok = sb_npy_encode("<U3", (int64_t[]){2}, 1, (uint32_t[6]){'a', 'b', 'c', 'd', 0, 0}, 24, &buf, &size) == 0 &&
         size == 128 + 24 && !memcmp(buf + 10, want, sizeof want - 1);
    t_check_true("a string array's header", ok);
    free(buf);
    t_check_error("no dimensions", sb_npy_encode("<f4", NULL, 0, f, 0, &buf, &size), "0 dimensions");
}

int main(void) {
    check_plain_arrays();
    printf("# test_npz_write\n");
    char dir[] = "/tmp/sb_test_npz_XXXXXX";
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    split splits[3] = {make_split("train", 1203), make_split("valid", 0), make_split("test", 5)};
    for (int deflated = 0; deflated <= 1; deflated++) {
        char path[128], tmp[140], what[160];
        snprintf(path, sizeof path, "%s/class%d.npz", dir, deflated);
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        sb_npz_writer *w;
        int rc = sb_npz_writer_open(&w, path, deflated);
        for (int i = 0; !rc && i < 3; i++)
            rc = sb_npz_writer_add_sketches(w, splits[i].name, splits[i].points, splits[i].starts, splits[i].count);
        int tmp_before = access(tmp, F_OK) == 0, final_before = access(path, F_OK) == 0;
        if (!rc) rc = sb_npz_writer_close(w);
        snprintf(what, sizeof what, "%s archive written", deflated ? "deflated" : "stored");
        if (!t_check_true(what, rc == 0)) printf("  %s\n", sb_last_error());
        snprintf(what, sizeof what, "%s: written under .tmp, renamed on close", deflated ? "deflated" : "stored");
        t_check_true(what, tmp_before && !final_before && access(tmp, F_OK) != 0 && access(path, F_OK) == 0);
        snprintf(what, sizeof what, "%s: zip headers, CRC-32, .npy header and pickled sketches",
                 deflated ? "deflated" : "stored");
        t_check_true(what, check_zip(path, splits, 3, deflated));
        remove(path);
    }

    char path[128], tmp[140];
    snprintf(path, sizeof path, "%s/aborted.npz", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    sb_npz_writer *w;
    if (sb_npz_writer_open(&w, path, 1) == 0) {
        size_t bad_starts[2] = {5, 2};
        t_check_error("sketch with end before start rejected",
                      sb_npz_writer_add_sketches(w, "train", splits[0].points, bad_starts, 1), "bad bounds");
        sb_npz_writer_abort(w);
    }
    t_check_true("abort leaves no file", access(tmp, F_OK) != 0 && access(path, F_OK) != 0);
    t_check_error("unwritable directory rejected", sb_npz_writer_open(&w, "/nonexistent-dir/x.npz", 0),
                  "cannot create /nonexistent-dir/x.npz.tmp");
    rmdir(dir);
    for (int i = 0; i < 3; i++) free(splits[i].points), free(splits[i].starts);
    return t_finish(NULL);
}
