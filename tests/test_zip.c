/* Zip reader: members of an archive built here (stored and deflate) read
 * back exactly; truncated, corrupted, zip64, encrypted and oddly compressed
 * archives are rejected with a message naming file and member; every
 * member of the real npz archives extracts with a matching CRC-32. */
#include <dirent.h>
#include <string.h>

#include "io/zip.h"
#include "io_test_util.h"

static const char text_a[] = "stored member: hello zip\n";

/* An archive with a stored "a.txt" and a deflated "b.bin" of n bytes. */
static void build(buf *z, unsigned char *payload, size_t n) {
    for (size_t i = 0; i < n; i++) payload[i] = (unsigned char)(i * 7 % 251 + (i / 1000));
    zip_member m[2] = {{"a.txt", text_a, sizeof text_a - 1, 0}, {"b.bin", payload, n, 1}};
    zip_build(z, m, 2);
}

/* Opens a (possibly damaged) copy and extracts every member. */
static int open_and_extract(const buf *z) {
    sb_zip zip;
    SB_TRY(sb_zip_open_memory(&zip, "mem.zip", z->p, z->n));
    int rc = SB_OK;
    for (size_t i = 0; i < zip.n_entries && !rc; i++) {
        unsigned char *out;
        size_t size;
        rc = sb_zip_extract(&zip, &zip.entries[i], &out, &size);
        if (!rc) free(out);
    }
    sb_zip_close(&zip);
    return rc;
}

static size_t find_sig(const buf *z, uint32_t sig, size_t from) {
    for (size_t i = from; i + 4 <= z->n; i++)
        if ((uint32_t)(z->p[i] | z->p[i + 1] << 8 | z->p[i + 2] << 16 | (uint32_t)z->p[i + 3] << 24) == sig) return i;
    return (size_t)-1;
}

static void check_roundtrip(void) {
    enum { N = 100003 };
    unsigned char *payload = malloc(N);
    buf z = {0};
    build(&z, payload, N);
    sb_zip zip;
    int rc = sb_zip_open_memory(&zip, "mem.zip", z.p, z.n);
    t_check_true("archive opens", rc == 0);
    if (rc) return;
    t_check_true("two members listed in order", zip.n_entries == 2 && strcmp(zip.entries[0].name, "a.txt") == 0 &&
                                                    strcmp(zip.entries[1].name, "b.bin") == 0);
    t_check_true("find b.bin", sb_zip_find(&zip, "b.bin") == &zip.entries[1] && !sb_zip_find(&zip, "c"));
    unsigned char *out;
    size_t size;
    rc = sb_zip_extract(&zip, &zip.entries[0], &out, &size);
    t_check_true("stored member reads back", !rc && size == sizeof text_a - 1 && memcmp(out, text_a, size) == 0);
    if (!rc) free(out);
    rc = sb_zip_extract(&zip, &zip.entries[1], &out, &size);
    t_check_true("deflated member reads back", !rc && size == N && memcmp(out, payload, N) == 0);
    t_check_true("deflated member is compressed", zip.entries[1].method == 8 && zip.entries[1].comp_size < N);
    if (!rc) free(out);
    sb_zip_close(&zip);
    free(payload);
    buf_free(&z);
}

static void check_damage(void) {
    enum { N = 5000 };
    unsigned char payload[N];
    buf z = {0};
    build(&z, payload, N);
    size_t local_b = find_sig(&z, 0x04034b50, 1), cd = find_sig(&z, 0x02014b50, 0);
    size_t cd_b = find_sig(&z, 0x02014b50, cd + 1), eocd = find_sig(&z, 0x06054b50, 0);
    size_t data_a = 30 + 5; /* stored member data follows its header and name */

    buf d = {0};
    buf_put(&d, z.p, z.n / 2);
    t_check_error("truncated to half", open_and_extract(&d), "end-of-central-directory");
    d.n = z.n - 1;
    memcpy(d.p = realloc(d.p, z.n), z.p, z.n - 1);
    t_check_error("truncated by one byte", open_and_extract(&d), "mem.zip");
    d.n = 0;
    t_check_error("empty file", open_and_extract(&d), "not a zip");

    /* archive cut inside b.bin's data but with the directory kept */
    d.n = 0;
    buf_put(&d, z.p, local_b + 40);
    size_t shift = cd - (local_b + 40);
    buf_put(&d, z.p + cd, z.n - cd);
    size_t e = d.n - 22; /* directory offset now wrong by `shift` */
    uint32_t off = (uint32_t)(cd - shift);
    for (int i = 0; i < 4; i++) d.p[e + 16 + i] = (unsigned char)(off >> 8 * i);
    t_check_error("member data cut short", open_and_extract(&d), "b.bin");

    memcpy(d.p = realloc(d.p, z.n), z.p, d.n = z.n);
    d.p[data_a + 3] ^= 0x20;
    t_check_error("CRC mismatch (stored byte flipped)", open_and_extract(&d), "a.txt: CRC-32 mismatch");

    memcpy(d.p, z.p, z.n);
    d.p[local_b + 30 + 5 + 100] ^= 0x55;
    t_check_error("deflate data byte flipped", open_and_extract(&d), "member b.bin");

    memcpy(d.p, z.p, z.n);
    d.p[eocd + 10] = d.p[eocd + 11] = 0xFF;
    d.p[eocd + 8] = d.p[eocd + 9] = 0xFF;
    t_check_error("zip64 entry count marker", open_and_extract(&d), "zip64");

    memcpy(d.p, z.p, z.n);
    memset(d.p + cd_b + 24, 0xFF, 4);
    t_check_error("zip64 size marker in a member", open_and_extract(&d), "b.bin: zip64");

    memcpy(d.p, z.p, z.n);
    d.p[cd_b + 24 + 3] = 0x7F; /* declared size ~2 GiB for ~1 KiB of deflate */
    t_check_error("huge declared size", open_and_extract(&d), "impossible");

    memcpy(d.p, z.p, z.n);
    d.p[cd_b + 10] = 12, d.p[local_b + 8] = 12;
    t_check_error("unsupported method (bzip2)", open_and_extract(&d), "compression method 12");

    memcpy(d.p, z.p, z.n);
    d.p[cd + 8] |= 1;
    t_check_error("encrypted member", open_and_extract(&d), "a.txt is encrypted");

    memcpy(d.p, z.p, z.n);
    d.p[local_b] = 'X';
    t_check_error("corrupt local header", open_and_extract(&d), "b.bin: no local file header");

    memcpy(d.p, z.p, z.n);
    d.p[cd_b + 42] += 3; /* local header offset points into a.txt */
    t_check_error("wrong local header offset", open_and_extract(&d), "b.bin");

    memcpy(d.p, z.p, z.n);
    d.p[eocd + 12] += 10; /* directory size too large */
    t_check_error("directory size past its end record", open_and_extract(&d), "central directory");

    /* every truncation and every single-byte flip of the directory: an
     * error or a success, never a crash (meaningful under ASan) */
    int survived = 1;
    for (size_t n = 0; n < z.n; n += 7) {
        d.n = n;
        memcpy(d.p, z.p, n);
        if (open_and_extract(&d) == 0) survived = 0;
    }
    t_check_true("every truncation is an error", survived);
    int named = 1;
    for (size_t i = cd; i < z.n; i++) {
        memcpy(d.p, z.p, d.n = z.n);
        d.p[i] ^= 0xA5;
        if (open_and_extract(&d) != 0 && !strstr(sb_last_error(), "mem.zip")) named = 0;
    }
    t_check_true("directory byte flips: each failure names the file", named);

    sb_zip zip;
    t_check_error("missing file", sb_zip_open(&zip, "/nonexistent/x.zip"), "/nonexistent/x.zip: cannot open");
    buf_free(&d);
    buf_free(&z);
}

static void check_real_npz(void) {
    char dir[1024];
    if (!io_data_path(dir, sizeof dir, "other")) {
        printf("SKIP real npz archives: no shared data (SKETCHBERT_SHARED_DATA unset or missing)\n");
        return;
    }
    DIR *dp = opendir(dir);
    if (!dp) {
        t_check_true("shared data folder other/ opens", 0);
        return;
    }
    int files = 0;
    for (struct dirent *de; (de = readdir(dp));) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 4, ".npz") != 0) continue;
        char path[2048], what[2200];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        sb_zip zip;
        int rc = sb_zip_open(&zip, path);
        int ok = !rc && zip.n_entries == 3 && sb_zip_find(&zip, "train.npy") && sb_zip_find(&zip, "valid.npy") &&
                 sb_zip_find(&zip, "test.npy");
        for (size_t i = 0; !rc && i < zip.n_entries; i++) {
            unsigned char *out;
            size_t size;
            rc = sb_zip_extract(&zip, &zip.entries[i], &out, &size);
            if (!rc) {
                ok = ok && size == zip.entries[i].size && memcmp(out, "\x93NUMPY", 6) == 0;
                free(out);
            }
        }
        snprintf(what, sizeof what, "%s: train/valid/test.npy extract, CRC-32 ok", de->d_name);
        t_check_true(what, ok && !rc);
        if (rc) printf("  %s\n", sb_last_error());
        sb_zip_close(&zip);
        files++;
    }
    closedir(dp);
    t_check_true("six real npz archives found", files == 6);
}

int main(void) {
    printf("# test_zip (host only)\n");
    check_roundtrip();
    check_damage();
    check_real_npz();
    return t_finish(NULL);
}
