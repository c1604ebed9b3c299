/* Checkpoints as safetensors files under the original's keys (see
 * checkpoint.h): save, load with the original's restore semantics, and
 * the position-embedding remap. */
#include "train/checkpoint.h"
#include "train/torch_import.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "runtime/error.h"

/* The original checkpoint dict's keys per network. */
static const char *const state_names[SB_N_NETS] = {"netE_state", "net_maskrec_state", "net_sketchclsinput_state",
                                                   "net_sketchretrieval_state"};
static const char *const opt_names[SB_N_NETS] = {"optE_state", "opt_maskrec_state", "opt_sketchclsinput_state",
                                                 "opt_sketchretrieval_state"};
static const char pos_key[] = "pos_embedding.pos_embedding.weight";

/* The state_dict key: the parameter name without "<net>.". */
static const char *param_key(const sb_param *p) {
    const char *dot = strchr(p->name, '.');
    return dot ? dot + 1 : p->name;
}

static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++) n += (size_t)snprintf(buf + n, cap - n, "%s%" PRId64, d ? ", " : "", shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}

static void tensor_shape64(const sb_tensor *t, int64_t *out) {
    for (int d = 0; d < t->ndim; d++) out[d] = t->shape[d];
}

// ---- save

static int add_tensor(sb_runtime *rt, sb_st_writer *w, const char *name, const sb_tensor *t, float *host) {
    int64_t shape[SB_MAX_DIMS];
    tensor_shape64(t, shape);
    SB_TRY(sb_tensor_read(rt, t, host));
    return sb_st_writer_add(w, name, SB_ST_F32, t->ndim, shape, host);
}

int sb_checkpoint_save(sb_runtime *rt, const char *path, const sb_ckpt_model *m, const sb_ckpt_counters *c,
                       const char *config_yaml, const char *class_names) {
    size_t max_numel = 1;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].value.numel > max_numel) max_numel = m->params[i].value.numel;
    float *host = malloc(max_numel * sizeof *host);
    sb_st_writer *w = NULL;
    if (!host) return sb_fail(SB_ERR_MEMORY, "%s: out of host memory for the checkpoint", path);
    int rc = sb_st_writer_open(&w, path);
    int has_net[SB_N_NETS] = {0};
    char name[512], num[64];
    for (int i = 0; i < m->n_params && !rc; i++) {
        const sb_param *p = &m->params[i];
        has_net[p->net] = 1;
        snprintf(name, sizeof name, "%s.%s", state_names[p->net], param_key(p));
        rc = add_tensor(rt, w, name, &p->value, host);
        if (!rc && m->exp_avg) {
            snprintf(name, sizeof name, "%s.%s.exp_avg", opt_names[p->net], param_key(p));
            rc = add_tensor(rt, w, name, &m->exp_avg[i], host);
            snprintf(name, sizeof name, "%s.%s.exp_avg_sq", opt_names[p->net], param_key(p));
            if (!rc) rc = add_tensor(rt, w, name, &m->exp_avg_sq[i], host);
        }
    }
    free(host);
    if (!rc) rc = sb_st_writer_meta(w, "format", "pt");
    if (!rc) rc = sb_st_writer_meta(w, "sketchbert_checkpoint", SB_CKPT_VERSION);
    if (!rc && config_yaml) rc = sb_st_writer_meta(w, "config", config_yaml);
    if (!rc && class_names) rc = sb_st_writer_meta(w, "class_names", class_names);
    struct { const char *key; int64_t v; } ints[] = {{"counters.t", c->step}, {"counters.epoch", c->epoch}, {"best_t", c->best_step}};
    for (size_t k = 0; k < sizeof ints / sizeof ints[0] && !rc; k++) {
        snprintf(num, sizeof num, "%" PRId64, ints[k].v);
        rc = sb_st_writer_meta(w, ints[k].key, num);
    }
    snprintf(num, sizeof num, "%.17g", c->best_metric);
    if (!rc) rc = sb_st_writer_meta(w, "best_metric", num);
    snprintf(num, sizeof num, "%" PRId64, c->ranks);
    if (!rc && c->ranks > 1) rc = sb_st_writer_meta(w, "counters.ranks", num);
    for (int net = 0; net < SB_N_NETS && !rc && m->exp_avg; net++) {
        if (!has_net[net]) continue;
        snprintf(name, sizeof name, "%s.step", opt_names[net]);
        snprintf(num, sizeof num, "%" PRId64, c->opt_step[net]);
        rc = sb_st_writer_meta(w, name, num);
    }
    if (rc) {
        sb_st_writer_abort(w);
        return rc;
    }
    return sb_st_writer_commit(w);
}

// ---- position-embedding remap

void sb_ckpt_remap_positions(float *own, int own_rows, int own_rel, int own_cls, const float *pre, int pre_rows,
                             int pre_rel, int pre_cls, int E) {
    int own_k = own_rel + own_cls, pre_k = pre_rel + pre_cls;
    int seq = own_rows - own_k < pre_rows - pre_k ? own_rows - own_k : pre_rows - pre_k;
    if (seq > 0) memcpy(own + (size_t)own_k * E, pre + (size_t)pre_k * E, (size_t)seq * E * sizeof *own);
    /* token rows: retrieval first, then classification */
    if (own_rel && pre_rel) memcpy(own, pre, (size_t)E * sizeof *own);
    if (own_cls && pre_cls) memcpy(own + (size_t)own_rel * E, pre + (size_t)pre_rel * E, (size_t)E * sizeof *own);
}

// ---- load

/* What to do with one parameter. */
typedef struct {
    const char *value; /* file tensor for the value, or NULL */
    int moments;       /* load the Adam moments */
} action;

static int file_has_prefix(const sb_st_file *f, const char *prefix) {
    size_t n = strlen(prefix);
    for (int i = 0; i < f->n_tensors; i++)
        if (!strncmp(f->tensors[i].name, prefix, n) && f->tensors[i].name[n] == '.') return 1;
    return 0;
}

/* The file tensor `name` must exist with t's shape (or only t's width,
 * for the remapped position embedding). */
static int check_tensor(const sb_st_file *f, const char *name, const sb_tensor *t, int width_only, const char *why,
                        const sb_st_tensor **out) {
    const sb_st_tensor *ft = sb_st_find(f, name);
    char a[128], b[128];
    int64_t own[SB_MAX_DIMS];
    tensor_shape64(t, own);
    if (!ft) return sb_fail(SB_ERR_FORMAT, "%s: no tensor '%s' (needed by %s)", f->path, name, why);
    int same = ft->ndim == t->ndim;
    for (int d = width_only ? 1 : 0; d < t->ndim && same; d++) same = ft->shape[d] == own[d];
    if (!same)
        return sb_fail(SB_ERR_FORMAT, "%s: tensor '%s' has shape %s in the checkpoint but %s in the model", f->path, name,
                       shape_str(a, sizeof a, ft->ndim, ft->shape), shape_str(b, sizeof b, t->ndim, own));
    *out = ft;
    return 0;
}

static int meta_int(const sb_st_file *f, const char *key, int64_t *out) {
    const char *s = sb_st_meta(f, key);
    if (!s) return sb_fail(SB_ERR_FORMAT, "%s: no metadata '%s'", f->path, key);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return sb_fail(SB_ERR_FORMAT, "%s: metadata '%s' is '%s', not an integer", f->path, key, s);
    *out = v;
    return 0;
}

static int upload(sb_runtime *rt, const sb_st_file *f, const sb_st_tensor *ft, const sb_tensor *t, float *host) {
    SB_TRY(sb_st_read_f32(f, ft, host));
    return sb_tensor_write(rt, t, host);
}

/* What a file that failed to open as safetensors is, from its first bytes
 * (*hint: what to do instead, or ""); NULL when it starts like a
 * safetensors file, whose own error says what is wrong, or is unreadable. */
static const char *file_kind(const char *path, const char **hint) {
    static const char torch[] = "; a PyTorch checkpoint is converted when named .pth, .pth.tar or .pt, or by "
                                "`sketchbert import-torch`";
    struct stat st;
    *hint = "";
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        *hint = "; give the checkpoint file in it, e.g. latest_ckpt.safetensors";
        return "a directory";
    }
    unsigned char b[64];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(b, 1, sizeof b, f) : 0, len = strlen(path);
    if (f) fclose(f);
    if (n >= 4 && !memcmp(b, "PK\3\4", 4)) {
        if (len > 4 && !strcmp(path + len - 4, ".npz")) return "a NumPy .npz archive (sketch data?)";
        *hint = torch;
        return "a zip archive";
    }
    if (n >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5) return *hint = torch, "a Python pickle";
    if (n >= 6 && !memcmp(b, "\x93NUMPY", 6)) return "a NumPy .npy array";
    if (n < 9 || b[8] == '{') return NULL;
    size_t text = 0;
    while (text < n && (b[text] >= 32 || b[text] == '\n' || b[text] == '\r' || b[text] == '\t') && b[text] < 127) text++;
    return text == n ? "a text file (a YAML config?)" : "a file of another kind (no safetensors header)";
}

int sb_checkpoint_open(sb_st_file **f, const char *path) {
    if (!sb_is_torch_path(path)) {
        int rc = sb_st_open(f, path);
        const char *hint, *kind = rc && rc != SB_ERR_MEMORY ? file_kind(path, &hint) : NULL;
        return kind ? sb_fail(SB_ERR_FORMAT, "%s is %s, not a safetensors checkpoint%s", path, kind, hint) : rc;
    }
    /* An original PyTorch checkpoint: converted to a temporary safetensors
     * file, opened, and unlinked at once (the open file stays readable). */
    const char *dir = getenv("TMPDIR");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/sketchbert_import_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(tmp);
    if (fd < 0) return sb_fail(SB_ERR_IO, "%s: cannot make a temporary file to convert it: %s", path, strerror(errno));
    close(fd);
    sb_torch_import_options o = {.optimizer = SB_IMPORT_OPTIMIZER_IF_PRESENT};
    int rc = sb_torch_import(path, tmp, &o, NULL);
    if (!rc) rc = sb_st_open(f, tmp);
    remove(tmp);
    return rc;
}

int sb_checkpoint_nets(const char *path, int has_net[SB_N_NETS]) {
    sb_st_file *f;
    SB_TRY(sb_checkpoint_open(&f, path));
    for (int n = 0; n < SB_N_NETS; n++) has_net[n] = file_has_prefix(f, state_names[n]);
    sb_st_close(f);
    return 0;
}

int sb_checkpoint_load(sb_runtime *rt, const char *path, const sb_ckpt_model *m, unsigned which, int restore_counters,
                       sb_ckpt_counters *c) {
    sb_st_file *f;
    SB_TRY(sb_checkpoint_open(&f, path));
    int own_net[SB_N_NETS] = {0}, file_net[SB_N_NETS], file_opt[SB_N_NETS];
    for (int i = 0; i < m->n_params; i++) own_net[m->params[i].net] = 1;
    for (int n = 0; n < SB_N_NETS; n++) file_net[n] = file_has_prefix(f, state_names[n]), file_opt[n] = file_has_prefix(f, opt_names[n]);
    int restore_opt[SB_N_NETS];
    for (int n = 0; n < SB_N_NETS; n++)
        restore_opt[n] = m->exp_avg && own_net[n] && (n == SB_NET_ENCODER ? (which & 2) != 0 : (which & 8) && file_opt[n]);

    /* pass 1: every needed tensor present with the right shape */
    char (*names)[3][512] = calloc((size_t)m->n_params + 1, sizeof *names);
    const sb_st_tensor **ft = calloc((size_t)m->n_params * 3 + 1, sizeof *ft);
    size_t max_numel = 1;
    int rc = names && ft ? 0 : sb_fail(SB_ERR_MEMORY, "%s: out of host memory", path);
    for (int i = 0; i < m->n_params && !rc; i++) {
        const sb_param *p = &m->params[i];
        int enc = p->net == SB_NET_ENCODER;
        int load_value = enc ? (which & 1) != 0 : (which & 4) && file_net[p->net];
        int is_pos = enc && !strcmp(param_key(p), pos_key);
        if (load_value) {
            snprintf(names[i][0], sizeof names[i][0], "%s.%s", state_names[p->net], param_key(p));
            rc = check_tensor(f, names[i][0], &p->value, is_pos, enc ? "which_pretrained enc_net" : "which_pretrained task_net",
                              &ft[3 * i]);
            if (!rc && ft[3 * i]->numel > max_numel) max_numel = ft[3 * i]->numel;
        }
        if (!rc && restore_opt[p->net]) {
            const char *why = enc ? "which_pretrained enc_opt" : "which_pretrained task_opt";
            snprintf(names[i][1], sizeof names[i][1], "%s.%s.exp_avg", opt_names[p->net], param_key(p));
            snprintf(names[i][2], sizeof names[i][2], "%s.%s.exp_avg_sq", opt_names[p->net], param_key(p));
            rc = check_tensor(f, names[i][1], &m->exp_avg[i], 0, why, &ft[3 * i + 1]);
            if (!rc) rc = check_tensor(f, names[i][2], &m->exp_avg_sq[i], 0, why, &ft[3 * i + 2]);
        }
        if (p->value.numel > max_numel) max_numel = p->value.numel;
    }
    int64_t opt_step[SB_N_NETS] = {0}, step = 0, epoch = 0, best_step = 0, ranks = 1;
    double best_metric = 0;
    char key[128];
    for (int n = 0; n < SB_N_NETS && !rc; n++)
        if (restore_opt[n]) {
            snprintf(key, sizeof key, "%s.step", opt_names[n]);
            rc = meta_int(f, key, &opt_step[n]);
        }
    if (!rc && restore_counters) {
        rc = meta_int(f, "counters.t", &step);
        if (!rc) rc = meta_int(f, "counters.epoch", &epoch);
        /* best_t / best_metric are optional: `sketchbert import-torch` files lack them */
        best_metric = -INFINITY;
        if (!rc && sb_st_meta(f, "best_t")) rc = meta_int(f, "best_t", &best_step);
        if (!rc && sb_st_meta(f, "counters.ranks")) rc = meta_int(f, "counters.ranks", &ranks);
        const char *bm = sb_st_meta(f, "best_metric");
        char *end = NULL;
        if (!rc && bm) {
            best_metric = strtod(bm, &end);
            if (end == bm || *end) rc = sb_fail(SB_ERR_FORMAT, "%s: metadata 'best_metric' is '%s', not a number", path, bm);
        }
    }

    /* pass 2: upload */
    float *host = rc ? NULL : malloc(2 * max_numel * sizeof *host);
    if (!rc && !host) rc = sb_fail(SB_ERR_MEMORY, "%s: out of host memory", path);
    int pre_rel = file_net[SB_NET_REL], pre_cls = file_net[SB_NET_CLS];
    for (int i = 0; i < m->n_params && !rc; i++) {
        const sb_param *p = &m->params[i];
        if (ft[3 * i] && p->net == SB_NET_ENCODER && !strcmp(param_key(p), pos_key)) {
            float *own = host + max_numel;
            rc = sb_tensor_read(rt, &p->value, own);
            if (!rc) rc = sb_st_read_f32(f, ft[3 * i], host);
            if (!rc)
                sb_ckpt_remap_positions(own, p->value.shape[0], own_net[SB_NET_REL], own_net[SB_NET_CLS], host,
                                        (int)ft[3 * i]->shape[0], pre_rel, pre_cls, p->value.shape[1]);
            if (!rc) rc = sb_tensor_write(rt, &p->value, own);
        } else if (ft[3 * i]) {
            rc = upload(rt, f, ft[3 * i], &p->value, host);
        }
        if (!rc && ft[3 * i + 1]) rc = upload(rt, f, ft[3 * i + 1], &m->exp_avg[i], host);
        if (!rc && ft[3 * i + 2]) rc = upload(rt, f, ft[3 * i + 2], &m->exp_avg_sq[i], host);
    }
    if (!rc) {
        for (int n = 0; n < SB_N_NETS; n++)
            if (restore_opt[n]) c->opt_step[n] = opt_step[n];
        if (restore_counters)
            c->step = step, c->epoch = epoch, c->best_step = best_step, c->best_metric = best_metric, c->ranks = ranks;
    }
    free(host);
    free(names);
    free(ft);
    sb_st_close(f);
    return rc;
}
