/* Program sources (embedded or from SKETCHBERT_KERNEL_DIR), builds, and the
 * on-disk binary cache. A cache entry stores its full key, so a hash
 * collision or a changed driver is a miss, never a wrong binary; any cache
 * error falls back to building from source. */
#include "runtime/program.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUILD_OPTIONS "-cl-std=CL1.2"
#define CACHE_MAGIC "SBCLBIN"
#define CACHE_FORMAT_VERSION 1u

/* ---- sources */

/* The text of cl/<name>.cl as stored: from SKETCHBERT_KERNEL_DIR or embedded. */
static int raw_source(const char *name, const char **text, char **owned) {
    *owned = NULL;
    const char *dir = getenv("SKETCHBERT_KERNEL_DIR");
    if (dir && *dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.cl", dir, name);
        FILE *f = fopen(path, "rb");
        if (!f) return sb_fail(SB_ERR_IO, "SKETCHBERT_KERNEL_DIR: cannot open %s: %s", path, strerror(errno));
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
        if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            fclose(f);
            return sb_fail(SB_ERR_IO, "SKETCHBERT_KERNEL_DIR: cannot read %s", path);
        }
        fclose(f);
        buf[n] = '\0';
        *text = *owned = buf;
        return 0;
    }
    for (int i = 0; i < sb_embedded_cl_count; i++)
        if (strcmp(sb_embedded_cl_sources[i].name, name) == 0) return *text = sb_embedded_cl_sources[i].text, 0;
    return sb_fail(SB_ERR_INVALID, "no kernel source cl/%s.cl in this build", name);
}

/* Appends n bytes to the growing string *buf (length *len). */
static int append(char **buf, size_t *len, const char *s, size_t n) {
    char *grown = realloc(*buf, *len + n + 1);
    if (!grown) return sb_fail(SB_ERR_MEMORY, "out of host memory for a kernel source");
    memcpy(grown + *len, s, n);
    *len += n;
    grown[*len] = '\0';
    *buf = grown;
    return 0;
}

#define INCLUDE_DIRECTIVE "#include \""
#define MAX_INCLUDE_DEPTH 4

/* name's text with every line `#include "other.cl"` replaced by other's
 * text (expanded the same way), so kernels share helpers whether the
 * sources are embedded or read from SKETCHBERT_KERNEL_DIR. */
static int expanded_source(const char *name, int depth, char **out) {
    *out = NULL;
    if (depth > MAX_INCLUDE_DEPTH)
        return sb_fail(SB_ERR_INVALID, "cl/%s.cl: includes nested deeper than %d", name, MAX_INCLUDE_DEPTH);
    const char *text;
    char *owned, *buf = NULL;
    size_t len = 0;
    SB_TRY(raw_source(name, &text, &owned));
    int rc = append(&buf, &len, "", 0);
    for (const char *line = text; *line && !rc;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) + 1 : strlen(line);
        const char *inc = line + strlen(INCLUDE_DIRECTIVE), *close = NULL;
        if (strncmp(line, INCLUDE_DIRECTIVE, strlen(INCLUDE_DIRECTIVE)) == 0) close = strstr(inc, ".cl\"");
        if (close && close < line + n) {
            char other[64], *sub = NULL;
            snprintf(other, sizeof other, "%.*s", (int)(close - inc), inc);
            rc = expanded_source(other, depth + 1, &sub);
            if (rc && depth == 0) rc = sb_fail_context(rc, "cl/%s.cl includes %s.cl", name, other);
            if (!rc) rc = append(&buf, &len, sub, strlen(sub));
            if (!rc) rc = append(&buf, &len, "\n", 1);
            free(sub);
        } else {
            rc = append(&buf, &len, line, n);
        }
        line += n;
    }
    free(owned);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

int sb_program_source(const char *name, char **text) { return expanded_source(name, 0, text); }

/* ---- binary cache */

static uint64_t fnv1a(const char *s, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

int sb_binary_cache_path(char *out, size_t cap, const char *key) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[3072];
    if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/sketchbert", xdg);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.cache/sketchbert", home);
    else return -1;
    uint64_t h = fnv1a(key, strlen(key), 1469598103934665603ull);
    int n = snprintf(out, cap, "%s/%016llx.bin", dir, (unsigned long long)h);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static void mkdir_parents(const char *file_path) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", file_path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(tmp, 0755);
        *p = '/';
    }
}

static char *cache_key(const sb_runtime *rt, const char *name, const char *options, const char *source) {
    size_t n = strlen(source);
    uint64_t h = fnv1a(source, n, 1469598103934665603ull);
    char *key = malloc(1024);
    if (key)
        snprintf(key, 1024, "v%u|%s|%s|%s|%s|%s|%zu:%016llx", CACHE_FORMAT_VERSION, name, options,
                 rt->info.device_name, rt->info.driver_version, rt->info.platform_version, n,
                 (unsigned long long)h);
    return key;
}

/* Returns a built program from the cache, or NULL on any miss or error. */
static cl_program cache_load(sb_runtime *rt, const char *key, const char *options) {
    char path[4096];
    if (sb_binary_cache_path(path, sizeof path, key)) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    cl_program prog = NULL;
    char magic[8];
    uint32_t version, key_len;
    uint64_t bin_len;
    char *stored_key = NULL;
    unsigned char *bin = NULL;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, CACHE_MAGIC, 8) != 0) goto done;
    if (fread(&version, 4, 1, f) != 1 || version != CACHE_FORMAT_VERSION) goto done;
    if (fread(&key_len, 4, 1, f) != 1 || key_len != strlen(key)) goto done;
    stored_key = malloc(key_len);
    if (!stored_key || fread(stored_key, 1, key_len, f) != key_len || memcmp(stored_key, key, key_len)) goto done;
    if (fread(&bin_len, 8, 1, f) != 1 || bin_len == 0 || bin_len > (1u << 30)) goto done;
    bin = malloc(bin_len);
    if (!bin || fread(bin, 1, bin_len, f) != bin_len) goto done;
    size_t len = (size_t)bin_len;
    const unsigned char *bins[1] = {bin};
    cl_int status, err;
    prog = clCreateProgramWithBinary(rt->context, 1, &rt->info.device, &len, bins, &status, &err);
    if (err != CL_SUCCESS || status != CL_SUCCESS) {
        if (prog) clReleaseProgram(prog);
        prog = NULL;
        goto done;
    }
    if (clBuildProgram(prog, 1, &rt->info.device, options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(prog);
        prog = NULL;
    }
done:
    free(stored_key);
    free(bin);
    fclose(f);
    return prog;
}

/* Best effort: a failure to store leaves no partial file behind. */
static void cache_store(sb_runtime *rt, const char *key, cl_program prog) {
    size_t len = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof len, &len, NULL) != CL_SUCCESS || len == 0) return;
    unsigned char *bin = malloc(len);
    if (!bin) return;
    unsigned char *bins[1] = {bin};
    char path[4096], tmp[4200];
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) != CL_SUCCESS ||
        sb_binary_cache_path(path, sizeof path, key)) {
        free(bin);
        return;
    }
    (void)rt;
    mkdir_parents(path);
    /* A unique temporary name: threads of one process may store at once. */
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f && fd >= 0) {
        close(fd);
        remove(tmp);
    }
    if (!f) {
        free(bin);
        return;
    }
    uint32_t version = CACHE_FORMAT_VERSION, key_len = (uint32_t)strlen(key);
    uint64_t bin_len = len;
    int ok = fwrite(CACHE_MAGIC, 1, 8, f) == 8 && fwrite(&version, 4, 1, f) == 1 &&
             fwrite(&key_len, 4, 1, f) == 1 && fwrite(key, 1, key_len, f) == key_len &&
             fwrite(&bin_len, 8, 1, f) == 1 && fwrite(bin, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) remove(tmp);
    free(bin);
}

/* ---- build */

int sb_program_build(sb_runtime *rt, const char *name, const char *defines, const char *source, cl_program *out) {
    char options[256];
    snprintf(options, sizeof options, "%s%s%s", BUILD_OPTIONS, defines && *defines ? " " : "", defines ? defines : "");
    char *key = rt->use_binary_cache ? cache_key(rt, name, options, source) : NULL;
    if (key && (*out = cache_load(rt, key, options)) != NULL) {
        free(key);
        return 0;
    }
    cl_int err;
    cl_program prog = clCreateProgramWithSource(rt->context, 1, &source, NULL, &err);
    if (err != CL_SUCCESS) {
        free(key);
        return sb_fail(SB_ERR_OPENCL, "clCreateProgramWithSource(cl/%s.cl) failed: %s", name, sb_cl_error_name(err));
    }
    err = clBuildProgram(prog, 1, &rt->info.device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        size_t log_len = 0;
        clGetProgramBuildInfo(prog, rt->info.device, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_len);
        char *log = calloc(log_len + 1, 1);
        if (log) clGetProgramBuildInfo(prog, rt->info.device, CL_PROGRAM_BUILD_LOG, log_len, log, NULL);
        /* The log goes to stderr whole; the error message keeps one line. */
        fprintf(stderr, "--- build log of cl/%s.cl (%s) on %s ---\n%s\n--- end of build log ---\n", name, options,
                rt->info.device_name, log ? log : "(none)");
        char first[200] = "";
        if (log) sscanf(log, "%199[^\n]", first);
        free(log);
        clReleaseProgram(prog);
        free(key);
        return sb_fail(SB_ERR_BUILD, "building cl/%s.cl failed (%s): %s", name, sb_cl_error_name(err), first);
    }
    if (key) cache_store(rt, key, prog);
    free(key);
    *out = prog;
    return 0;
}
