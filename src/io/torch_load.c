/* PyTorch checkpoint reader, the outer part: the sb_torch_file and its
 * arena, the two torch.save formats (finding the pickle and locating each
 * storage's bytes: zip members, or legacy records) and the entry points and
 * accessors. See torch_load.h for what is interpreted and what is refused.
 *
 * Three phases, the same for both formats:
 * 1. convert the pickle (torch_load_convert.c): tensors are created with
 *    their shape, strides and storage reference (storages are registered
 *    from persistent ids with their dtype and element count);
 * 2. locate every registered storage's bytes (here) and check their sizes;
 * 3. gather each tensor from its storage into floats (torch_load_storage.c). */
#include "io/torch_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/torch_load_internal.h"
#include "io/zip.h"
#include "runtime/error.h"

// ---- arena: nodes and item arrays of one file

struct torch_block {
    struct torch_block *next;
    _Alignas(16) unsigned char data[];
};

void *torch_file_alloc(sb_torch_file *f, size_t n) {
    struct torch_block *b = calloc(1, sizeof *b + n);
    if (!b) return NULL;
    b->next = f->blocks;
    f->blocks = b;
    return b->data;
}

void sb_torch_free(sb_torch_file *f) {
    if (!f) return;
    for (struct torch_block *b = f->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    for (size_t i = 0; i < f->n_data; i++) free(f->tensor_data[i]);
    free(f->tensor_data);
    sb_pickle_free(f->doc);
    free(f);
}

// ---- loader helpers

int torch_oom(torch_loader *L) { return sb_fail(SB_ERR_MEMORY, "%s: out of memory", L->label); }

int torch_grow(torch_loader *L, void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return SB_OK;
    size_t cap2 = *cap ? *cap * 2 : 16;
    while (cap2 < need) cap2 *= 2;
    void *p = realloc(*arr, cap2 * elem);
    if (!p) return torch_oom(L);
    *arr = p;
    *cap = cap2;
    return SB_OK;
}

static void loader_free(torch_loader *L) {
    for (size_t i = 0; i < L->n_st; i++) free(L->st[i].owned);
    free(L->st);
    free(L->st_slots);
    free(L->pend);
    free(L->map_keys);
    free(L->map_vals);
}

// ---- zip format

static int load_zip(torch_loader *L, const void *data, size_t size, const sb_torch_options *opt) {
    sb_zip z;
    SB_TRY(sb_zip_open_memory(&z, L->label, data, size));
    int rc = SB_OK;
    unsigned char *pkl = NULL, *member = NULL;
    size_t pkl_size = 0, member_size = 0;
    char *name = NULL;
    const sb_zip_entry *e = NULL;
    for (size_t i = 0; i < z.n_entries && !e; i++) {
        const char *n = z.entries[i].name, *slash = strchr(n, '/');
        if (slash && strcmp(slash, "/data.pkl") == 0) e = &z.entries[i];
    }
    if (!e) {
        rc = sb_fail(SB_ERR_FORMAT, "%s: zip archive without <name>/data.pkl: not a torch.save checkpoint", L->label);
        goto done;
    }
    size_t prefix = (size_t)(strchr(e->name, '/') - e->name) + 1;
    if ((rc = sb_zip_extract(&z, e, &pkl, &pkl_size))) goto done;
    const sb_pickle_value *root = NULL;
    if ((rc = sb_pickle_load(&L->f->doc, &root, L->label, pkl, pkl_size, &opt->pickle))) goto done;
    if ((rc = torch_convert(L, root, &L->f->root))) goto done;
    /* byteorder: "little" (or absent, before torch 1.12) or "big" */
    int swap = 0;
    name = malloc(prefix + 64 + 1);
    if (!name) {
        rc = torch_oom(L);
        goto done;
    }
    memcpy(name, e->name, prefix);
    strcpy(name + prefix, "byteorder");
    const sb_zip_entry *bo = sb_zip_find(&z, name);
    if (bo) {
        if ((rc = sb_zip_extract(&z, bo, &member, &member_size))) goto done;
        if (member_size == 3 && memcmp(member, "big", 3) == 0) {
            swap = 1;
        } else if (!(member_size == 6 && memcmp(member, "little", 6) == 0)) {
            rc = sb_fail(SB_ERR_FORMAT, "%s: byteorder is neither \"little\" nor \"big\"", L->label);
            goto done;
        }
        free(member);
        member = NULL;
    }
    /* one pass over the members: <name>/data/<key> holds storage <key> */
    for (size_t i = 0; i < z.n_entries; i++) {
        const sb_zip_entry *se = &z.entries[i];
        if (strncmp(se->name, e->name, prefix) != 0 || strncmp(se->name + prefix, "data/", 5) != 0) continue;
        const char *key = se->name + prefix + 5;
        torch_storage *s = torch_find_storage(L, key, strlen(key));
        if (!s || s->owned) continue; /* unused, or a repeated name */
        if (se->size < (uint64_t)s->numel * torch_dtypes[s->dtype].size) {
            rc = sb_fail(SB_ERR_FORMAT, "%s: member %s holds %llu bytes, storage %s needs %zu", L->label, se->name,
                         (unsigned long long)se->size, s->key, s->numel * torch_dtypes[s->dtype].size);
            goto done;
        }
        if ((rc = sb_zip_extract(&z, se, &s->owned, &member_size))) goto done;
        s->bytes = s->owned;
    }
    for (size_t i = 0; i < L->n_st; i++)
        if (!L->st[i].bytes) {
            rc = sb_fail(SB_ERR_FORMAT, "%s: storage %s has no member %.*sdata/%s", L->label, L->st[i].key,
                         (int)prefix, e->name, L->st[i].key);
            goto done;
        }
    rc = torch_gather(L, opt, swap);
done:
    free(name);
    free(member);
    free(pkl);
    sb_zip_close(&z);
    return rc;
}

// ---- legacy format

/* The first pickle of the legacy format: PROTO n [FRAME] LONG1 10 bytes
 * (0x1950a86a20f9469cfc6c) STOP. Its integer is wider than int64, so it is
 * matched byte for byte rather than decoded. */
static int legacy_magic(torch_loader *L, const unsigned char *d, size_t size, size_t *used) {
    static const unsigned char magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    size_t pos = 0;
    if (size >= 2 && d[0] == 0x80) pos = 2;
    if (size >= pos + 9 && d[pos] == 0x95) pos += 9;
    if (size < pos + 13 || d[pos] != 0x8a || d[pos + 1] != 10 || memcmp(d + pos + 2, magic, 10) != 0 ||
        d[pos + 12] != '.')
        return sb_fail(SB_ERR_FORMAT, "%s: not a PyTorch checkpoint (neither a zip archive nor the legacy magic "
                       "number)", L->label);
    *used = pos + 13;
    return SB_OK;
}

static int load_legacy(torch_loader *L, const unsigned char *d, size_t size, const sb_torch_options *opt) {
    if (size > 262 && memcmp(d + 257, "ustar", 5) == 0)
        return sb_fail(SB_ERR_FORMAT, "%s: a tar-format checkpoint (PyTorch before 0.1.10) is not supported",
                       L->label);
    size_t pos = 0, used = 0;
    SB_TRY(legacy_magic(L, d, size, &used));
    pos += used;
    sb_pickle_doc *doc = NULL;
    const sb_pickle_value *v = NULL;
    /* protocol version, then system info */
    SB_TRY(sb_pickle_load_prefix(&doc, &v, L->label, d + pos, size - pos, &opt->pickle, &used));
    int proto_ok = v->kind == SB_PICKLE_INT && v->u.i == 1001;
    sb_pickle_free(doc);
    if (!proto_ok) return sb_fail(SB_ERR_FORMAT, "%s: legacy protocol version is not 1001", L->label);
    pos += used;
    SB_TRY(sb_pickle_load_prefix(&doc, &v, L->label, d + pos, size - pos, &opt->pickle, &used));
    const sb_pickle_value *le = sb_pickle_dict_get(v, "little_endian");
    int swap = le && le->kind == SB_PICKLE_BOOL && !le->u.i;
    int info_ok = v->kind == SB_PICKLE_DICT && le;
    sb_pickle_free(doc);
    if (!info_ok) return sb_fail(SB_ERR_FORMAT, "%s: legacy system info is not a dict with little_endian", L->label);
    pos += used;
    const sb_pickle_value *root = NULL;
    SB_TRY(sb_pickle_load_prefix(&L->f->doc, &root, L->label, d + pos, size - pos, &opt->pickle, &used));
    pos += used;
    SB_TRY(torch_convert(L, root, &L->f->root));
    /* storage keys, then each storage: int64 element count and raw bytes */
    const sb_pickle_value *keys = NULL;
    SB_TRY(sb_pickle_load_prefix(&doc, &keys, L->label, d + pos, size - pos, &opt->pickle, &used));
    pos += used;
    int rc = SB_OK;
    if (keys->kind != SB_PICKLE_LIST) rc = sb_fail(SB_ERR_FORMAT, "%s: legacy storage keys are not a list", L->label);
    for (size_t k = 0; !rc && k < keys->u.seq.n; k++) {
        const sb_pickle_value *key = keys->u.seq.items[k];
        torch_storage *s = key->kind == SB_PICKLE_STR ? torch_find_storage(L, key->u.str.data, key->u.str.len) : NULL;
        if (!s) {
            rc = sb_fail(SB_ERR_FORMAT, "%s: storage record %zu is not used by any tensor", L->label, k);
            break;
        }
        if (size - pos < 8) {
            rc = sb_fail(SB_ERR_FORMAT, "%s: storage %s: file ends before its size (truncated)", L->label, s->key);
            break;
        }
        uint64_t n = 0;
        for (int b = 7; b >= 0; b--) n = n << 8 | d[pos + (swap ? 7 - b : b)];
        pos += 8;
        size_t esize = torch_dtypes[s->dtype].size;
        if (n != s->numel)
            rc = sb_fail(SB_ERR_FORMAT, "%s: storage %s holds %llu elements, its tensors say %zu", L->label, s->key,
                         (unsigned long long)n, s->numel);
        else if (s->numel > (size - pos) / esize)
            rc = sb_fail(SB_ERR_FORMAT, "%s: storage %s: %zu bytes run past the end of the file (truncated)", L->label,
                         s->key, s->numel * esize);
        else if (s->bytes)
            rc = sb_fail(SB_ERR_FORMAT, "%s: storage %s is stored twice", L->label, s->key);
        else {
            s->bytes = d + pos;
            pos += s->numel * esize;
        }
    }
    sb_pickle_free(doc);
    SB_TRY(rc);
    for (size_t i = 0; i < L->n_st; i++)
        if (!L->st[i].bytes)
            return sb_fail(SB_ERR_FORMAT, "%s: storage %s is missing from the file", L->label, L->st[i].key);
    return torch_gather(L, opt, swap);
}

// ---- entry points

int sb_torch_load_memory(sb_torch_file **out, const char *label, const void *data, size_t size,
                         const sb_torch_options *opt) {
    *out = NULL;
    sb_torch_options o;
    memset(&o, 0, sizeof o);
    if (opt) o = *opt;
    o.pickle.any_global = 1; /* every global is vetted in convert_reduce */
    torch_loader L = {.label = label, .input_size = size};
    L.f = calloc(1, sizeof *L.f);
    if (!L.f) return torch_oom(&L);
    const unsigned char *d = data;
    int zip = size >= 4 && memcmp(d, "PK\x03\x04", 4) == 0;
    L.f->format = zip ? "zip" : "legacy";
    int rc = zip ? load_zip(&L, data, size, &o) : load_legacy(&L, d, size, &o);
    loader_free(&L);
    if (rc) {
        sb_torch_free(L.f);
        return rc;
    }
    *out = L.f;
    return SB_OK;
}

int sb_torch_load(sb_torch_file **out, const char *path, const sb_torch_options *opt) {
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return sb_fail(SB_ERR_IO, "%s: cannot open", path);
    unsigned char *buf = NULL;
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
    int rc = SB_OK;
    if (size < 0 || fseek(fp, 0, SEEK_SET) != 0) rc = sb_fail(SB_ERR_IO, "%s: cannot determine its size", path);
    if (!rc && !(buf = malloc((size_t)size + 1)))
        rc = sb_fail(SB_ERR_MEMORY, "%s: out of memory for %ld bytes", path, size);
    if (!rc && fread(buf, 1, (size_t)size, fp) != (size_t)size) rc = sb_fail(SB_ERR_IO, "%s: read failed", path);
    fclose(fp);
    if (!rc) rc = sb_torch_load_memory(out, path, buf, (size_t)size, opt);
    free(buf);
    return rc;
}

// ---- accessors

const sb_torch_value *sb_torch_root(const sb_torch_file *f) { return f->root; }
const char *sb_torch_format(const sb_torch_file *f) { return f->format; }

const sb_torch_value *sb_torch_as_dict(const sb_torch_value *v) {
    if (!v) return NULL;
    if (v->kind == SB_TORCH_DICT) return v;
    if (v->kind != SB_TORCH_OBJECT) return NULL;
    if (v->u.object.state && v->u.object.state->kind == SB_TORCH_DICT) return v->u.object.state;
    return v->u.object.dict;
}

const sb_torch_value *sb_torch_get(const sb_torch_value *dict, const char *key) {
    dict = sb_torch_as_dict(dict);
    if (!dict) return NULL;
    const sb_torch_value *found = NULL;
    for (size_t k = 0; k + 1 < dict->u.seq.n; k += 2) {
        const sb_torch_value *kv = dict->u.seq.items[k];
        if (kv->kind == SB_TORCH_STR && strcmp(kv->u.str.data, key) == 0) found = dict->u.seq.items[k + 1];
    }
    return found;
}

const sb_torch_value *sb_torch_get_int(const sb_torch_value *dict, int64_t key) {
    dict = sb_torch_as_dict(dict);
    if (!dict) return NULL;
    const sb_torch_value *found = NULL;
    for (size_t k = 0; k + 1 < dict->u.seq.n; k += 2) {
        const sb_torch_value *kv = dict->u.seq.items[k];
        if (kv->kind == SB_TORCH_INT && kv->u.i == key) found = dict->u.seq.items[k + 1];
    }
    return found;
}

const char *sb_torch_kind_name(sb_torch_kind k) {
    static const char *const names[] = {"None", "bool", "int", "float", "str", "bytes", "list",
                                        "tuple", "set", "dict", "tensor", "object", "global"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "unknown value";
}
