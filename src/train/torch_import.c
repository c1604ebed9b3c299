/* Conversion of an original Sketch-BERT checkpoint (the dict its trainer
 * passes to torch.save) into our safetensors checkpoint, without Python.
 *
 * Names (docs/formats.md, "PyTorch checkpoints"): netE_state.<key> for
 * the encoder, net_<task>_state.<key> for the task heads, and with
 * --with-optimizer the Adam moments <opt>_state.<key>.exp_avg and
 * .exp_avg_sq (opt: optE or opt_<task>). torch's optimizer state_dict keys
 * its state by parameter INDEX, numbered across param_groups in order; the
 * trainer builds each Adam from net.parameters(), whose order is the
 * state_dict order of the network (its modules hold no buffers), so index
 * i names the i-th key of the matching net state. The count and every
 * moment's shape are checked against that order.
 *
 * The model shape is inferred from the weights (hidden and intermediate
 * sizes, layers of a BERT encoder, embedding and head layers, max_length
 * from the position table less the task tokens) and from args (heads, the
 * layer count of an ALBERT encoder, which stores one shared layer), printed,
 * and written as YAML in the metadata with the counters.
 *
 * The file is written atomically by io/safetensors.h's writer. The CLI
 * (`sketchbert import-torch`, src/cli/cmd_import_torch.c) and checkpoint
 * loading of .pth files (src/train/checkpoint.c) share this code. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/torch_import.h"

#include "io/safetensors.h"
#include "io/torch_load.h"
#include "model/model.h"
#include "runtime/error.h"

// ---- growable text

typedef struct text {
    char *s;
    size_t n, cap;
    int oom;
} text;

static void text_printf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0 || t->oom) return;
    if (t->n + (size_t)need + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->n + (size_t)need + 1) cap *= 2;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->oom = 1;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
    va_end(ap);
    t->n += (size_t)need;
}

// ---- output: the safetensors writer and a tensor count

typedef struct st_out {
    sb_st_writer *w;
    size_t n;
    int meta_rc; /* first failure of a metadata entry */
} st_out;

static int st_add(st_out *o, const char *name, const sb_torch_tensor *t) {
    SB_TRY(sb_st_writer_add(o->w, name, SB_ST_F32, t->ndim, t->shape, t->data));
    o->n++;
    return SB_OK;
}

static void st_meta(st_out *o, const char *key, const char *value) {
    int rc = sb_st_writer_meta(o->w, key, value);
    if (rc && !o->meta_rc) o->meta_rc = rc;
}

// ---- reading the checkpoint dict

static const char *const tasks[] = {"maskrec", "sketchclsinput", "sketchretrieval"};
enum { N_TASKS = 3 };

static const sb_torch_tensor *tensor_at(const sb_torch_value *state, const char *key) {
    const sb_torch_value *v = sb_torch_get(state, key);
    return v && v->kind == SB_TORCH_TENSOR ? &v->u.tensor : NULL;
}

static int int_value(const sb_torch_value *v, int64_t *out) {
    if (!v || (v->kind != SB_TORCH_INT && v->kind != SB_TORCH_BOOL)) return 0;
    *out = v->u.i;
    return 1;
}

/* The config dict: args._cfg_dict (util/config.py's Config, saved as its
 * __dict__ or as the object), else args itself. */
static const sb_torch_value *config_of(const sb_torch_value *root) {
    const sb_torch_value *args = sb_torch_get(root, "args"), *cfg = sb_torch_get(args, "_cfg_dict");
    return sb_torch_as_dict(cfg ? cfg : args);
}

static int task_in_config(const sb_torch_value *cfg, const char *task) {
    const sb_torch_value *types = sb_torch_get(cfg, "task_types");
    if (!types || (types->kind != SB_TORCH_LIST && types->kind != SB_TORCH_TUPLE)) return -1;
    for (size_t i = 0; i < types->u.seq.n; i++) {
        const sb_torch_value *s = types->u.seq.items[i];
        if (s->kind == SB_TORCH_STR && !strcmp(s->u.str.data, task)) return 1;
    }
    return 0;
}

/* Linear layers <prefix>.<i>.weight (out, in), i = 0, 1, ...: their
 * output sizes. */
static int linear_stack(const sb_torch_value *state, const char *prefix, int *outs, int max, int *in) {
    int n = 0;
    for (;; n++) {
        char key[160];
        snprintf(key, sizeof key, "%s.%d.weight", prefix, n);
        const sb_torch_tensor *w = tensor_at(state, key);
        if (!w) break;
        if (w->ndim != 2 || n >= max)
            return sb_fail(SB_ERR_FORMAT, "%s: not a (out, in) weight, or more than %d layers", key, max);
        if (n == 0 && in) *in = (int)w->shape[1];
        outs[n] = (int)w->shape[0];
    }
    return n;
}

/* The head net_<task>_state, when present: a stack <prefix>.<i> from
 * hidden size H; dims receive its hidden layer sizes, *out its output. */
static int head_stack(const sb_torch_value *root, const char *task, const char *prefix, int H, int *present,
                      int *dims, int *n_dims, int *out) {
    char key[64];
    snprintf(key, sizeof key, "net_%s_state", task);
    const sb_torch_value *st = sb_torch_get(root, key);
    *present = st && sb_torch_as_dict(st) != NULL;
    if (!*present) return SB_OK;
    int outs[SB_MAX_HEAD_LAYERS + 1], in = 0;
    int m = linear_stack(st, prefix, outs, SB_MAX_HEAD_LAYERS + 1, &in);
    if (m < 0) return m;
    if (m < 1 || in != H) return sb_fail(SB_ERR_FORMAT, "%s: %s do not start at hidden size %d", key, prefix, H);
    *n_dims = m - 1;
    memcpy(dims, outs, (size_t)(m - 1) * sizeof *outs);
    *out = outs[m - 1];
    return SB_OK;
}

/* Fills cfg from the weights and args; prints what it found. */
static int infer_config(const sb_torch_value *root, const sb_torch_import_options *io, sb_model_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    const sb_torch_value *enc = sb_torch_get(root, "netE_state"), *args = config_of(root);
    const sb_torch_tensor *emb = tensor_at(enc, "embedding.embedding.weight");
    const sb_torch_tensor *pos = tensor_at(enc, "pos_embedding.pos_embedding.weight");
    if (!emb || emb->ndim != 2 || !pos || pos->ndim != 2)
        return sb_fail(SB_ERR_FORMAT, "netE_state has no linear embedding or no learned position table "
                       "(embedding.embedding.weight, pos_embedding.pos_embedding.weight)");
    cfg->input_dim = (int)emb->shape[1];
    cfg->embed_dims[0] = (int)emb->shape[0];
    int outs[SB_MAX_HEAD_LAYERS + 1];
    int n = linear_stack(enc, "embed_refine_net.layers", outs, SB_MAX_HEAD_LAYERS, NULL);
    if (n < 0) return n;
    if (n < 1) return sb_fail(SB_ERR_FORMAT, "netE_state has no embed_refine_net.layers.0.weight");
    cfg->n_embed = n; /* embed_layers_setting: E0 then every refine output but the last (H) */
    for (int i = 0; i + 1 < n; i++) cfg->embed_dims[i + 1] = outs[i];

    /* encoder: one shared layer (ALBERT) or encoder.layers.<i> (BERT) */
    cfg->albert = tensor_at(enc, "encoder.sketch_layer.attention.attention.query.weight") != NULL;
    const sb_torch_value *ls = sb_torch_get(args, "layers_setting");
    if (!ls) ls = sb_torch_get(sb_torch_get(root, "netE_kwargs"), "layers_setting");
    int n_setting = ls && ls->kind == SB_TORCH_LIST ? (int)ls->u.seq.n : 0;
    if (cfg->albert) {
        cfg->n_layers = io->layers ? io->layers : n_setting;
        if (!cfg->n_layers)
            return sb_fail(SB_ERR_INVALID, "an ALBERT encoder stores one shared layer: the layer count comes from "
                           "args.layers_setting, which this checkpoint lacks; pass --layers N");
    } else {
        while (cfg->n_layers < SB_MAX_LAYERS) {
            char key[160];
            snprintf(key, sizeof key, "encoder.layers.%d.attention.attention.query.weight", cfg->n_layers);
            if (!tensor_at(enc, key)) break;
            cfg->n_layers++;
        }
        if (!cfg->n_layers)
            return sb_fail(SB_ERR_FORMAT, "netE_state has neither encoder.sketch_layer nor encoder.layers.0");
        if (io->layers && io->layers != cfg->n_layers)
            return sb_fail(SB_ERR_INVALID, "--layers %d, but the BERT encoder has %d layers", io->layers,
                           cfg->n_layers);
    }
    if (cfg->n_layers > SB_MAX_LAYERS)
        return sb_fail(SB_ERR_INVALID, "%d layers (at most %d)", cfg->n_layers, SB_MAX_LAYERS);
    for (int l = 0; l < cfg->n_layers; l++) {
        char q[160], f[160];
        const char *base = cfg->albert ? "encoder.sketch_layer" : "encoder.layers";
        if (cfg->albert) {
            snprintf(q, sizeof q, "%s.attention.attention.query.weight", base);
            snprintf(f, sizeof f, "%s.inter_layer.fc.weight", base);
        } else {
            snprintf(q, sizeof q, "%s.%d.attention.attention.query.weight", base, l);
            snprintf(f, sizeof f, "%s.%d.inter_layer.fc.weight", base, l);
        }
        const sb_torch_tensor *wq = tensor_at(enc, q), *wi = tensor_at(enc, f);
        if (!wq || !wi || wq->ndim != 2 || wi->ndim != 2)
            return sb_fail(SB_ERR_FORMAT, "netE_state lacks %s or %s", q, f);
        cfg->hidden[l] = (int)wq->shape[0];
        cfg->inter[l] = (int)wi->shape[0];
        int64_t heads = io->heads;
        const sb_torch_value *row = l < n_setting ? ls->u.seq.items[l] : NULL;
        if (!heads && row && (row->kind == SB_TORCH_LIST || row->kind == SB_TORCH_TUPLE) && row->u.seq.n == 3)
            int_value(row->u.seq.items[0], &heads);
        if (heads <= 0)
            return sb_fail(SB_ERR_INVALID, "the number of heads is not in the weights and args.layers_setting lacks "
                           "layer %d; pass --heads N", l);
        if (cfg->hidden[l] % heads)
            return sb_fail(SB_ERR_INVALID, "layer %d: hidden %d is not divisible by %lld heads", l, cfg->hidden[l],
                           (long long)heads);
        cfg->heads[l] = (int)heads;
    }
    if (outs[n - 1] != cfg->hidden[0])
        return sb_fail(SB_ERR_FORMAT, "embed_refine_net ends at %d, the encoder's hidden size is %d", outs[n - 1],
                       cfg->hidden[0]);

    /* task heads: their Linear stacks (hidden layers, then the output size) */
    int H = cfg->hidden[0], rec_out = 0;
    SB_TRY(head_stack(root, "maskrec", "re_fcs", H, &cfg->maskrec, cfg->rec_dims, &cfg->n_rec, &rec_out));
    SB_TRY(head_stack(root, "sketchclsinput", "cls_fcs", H, &cfg->cls, cfg->cls_dims, &cfg->n_cls, &cfg->cls_dim));
    SB_TRY(head_stack(root, "sketchretrieval", "rel_fcs", H, &cfg->rel, cfg->rel_dims, &cfg->n_rel,
                      &cfg->rel_feat_dim));
    if (cfg->maskrec && rec_out != cfg->input_dim)
        return sb_fail(SB_ERR_FORMAT, "net_maskrec_state: re_fcs end at %d, the input has %d columns", rec_out,
                       cfg->input_dim);
    /* the tokens of the tasks it was trained with (args), else of the heads present */
    int cls_tok = task_in_config(args, "sketchclsinput"), rel_tok = task_in_config(args, "sketchretrieval");
    int tokens = (cls_tok < 0 ? cfg->cls : cls_tok) + (rel_tok < 0 ? cfg->rel : rel_tok);
    cfg->max_length = (int)pos->shape[0] - tokens;
    if (cfg->max_length < 1)
        return sb_fail(SB_ERR_FORMAT, "position table of %lld rows leaves no room after %d task tokens",
                       (long long)pos->shape[0], tokens);
    return SB_OK;
}

static void print_dims(text *t, const int *d, int n) {
    text_printf(t, "[");
    for (int i = 0; i < n; i++) text_printf(t, "%s%d", i ? ", " : "", d[i]);
    text_printf(t, "]");
}

/* The shortest %g form that reads back as x (0.85, not 0.84999999999999998). */
static const char *shortest(double x, char out[32]) {
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(out, 32, "%.*g", digits, x);
        if (strtod(out, NULL) == x) break;
    }
    return out;
}

/* The config as YAML with the original key names: the inferred structure
 * first, then the other scalar settings of args._cfg_dict. */
static void config_yaml(text *y, const sb_model_config *c, const sb_torch_value *args) {
    text_printf(y, "model_type: %s\nlayers_setting: [", c->albert ? "albert" : "bert");
    for (int l = 0; l < c->n_layers; l++)
        text_printf(y, "%s[%d, %d, %d]", l ? ", " : "", c->heads[l], c->hidden[l], c->inter[l]);
    text_printf(y, "]\nembed_layers_setting: ");
    print_dims(y, c->embed_dims, c->n_embed);
    text_printf(y, "\ninput_dim: %d\nmax_length: %d\ntask_types: [", c->input_dim, c->max_length);
    int first = 1;
    for (int k = 0; k < N_TASKS; k++)
        if ((k == 0 && c->maskrec) || (k == 1 && c->cls) || (k == 2 && c->rel)) {
            text_printf(y, "%s%s", first ? "" : ", ", tasks[k]);
            first = 0;
        }
    text_printf(y, "]\n");
    if (c->maskrec) {
        text_printf(y, "rec_layers_setting: ");
        print_dims(y, c->rec_dims, c->n_rec);
        text_printf(y, "\n");
    }
    if (c->cls) {
        text_printf(y, "cls_layers_setting: ");
        print_dims(y, c->cls_dims, c->n_cls);
        text_printf(y, "\ncls_dim: %d\n", c->cls_dim);
    }
    if (c->rel) {
        text_printf(y, "rel_layers_setting: ");
        print_dims(y, c->rel_dims, c->n_rel);
        text_printf(y, "\nrel_feat_dim: %d\n", c->rel_feat_dim);
    }
    static const char *const inferred[] = {"model_type", "layers_setting", "embed_layers_setting", "input_dim",
                                           "max_length", "task_types", "rec_layers_setting", "cls_layers_setting",
                                           "cls_dim", "rel_layers_setting", "rel_feat_dim"};
    char num[32];
    for (size_t k = 0; args && k + 1 < args->u.seq.n; k += 2) {
        const sb_torch_value *key = args->u.seq.items[k], *v = args->u.seq.items[k + 1];
        if (key->kind != SB_TORCH_STR || strpbrk(key->u.str.data, ":#\n'\"") || !*key->u.str.data) continue;
        int skip = 0;
        for (size_t i = 0; i < sizeof inferred / sizeof *inferred; i++) skip |= !strcmp(key->u.str.data, inferred[i]);
        if (skip) continue;
        if (v->kind == SB_TORCH_INT) text_printf(y, "%s: %lld\n", key->u.str.data, (long long)v->u.i);
        else if (v->kind == SB_TORCH_BOOL) text_printf(y, "%s: %s\n", key->u.str.data, v->u.i ? "true" : "false");
        else if (v->kind == SB_TORCH_FLOAT) text_printf(y, "%s: %s\n", key->u.str.data, shortest(v->u.f, num));
        else if (v->kind == SB_TORCH_STR && !strpbrk(v->u.str.data, "'\n"))
            text_printf(y, "%s: '%s'\n", key->u.str.data, v->u.str.data);
    }
}

/* net_state's tensors as <prefix>.<key>, in state_dict order; *order
 * receives their keys (for the optimizer's parameter indices). */
static int add_net(st_out *o, const sb_torch_value *net, const char *prefix, const char ***order, size_t *count) {
    const sb_torch_value *d = sb_torch_as_dict(net);
    size_t n = d ? d->u.seq.n / 2 : 0;
    *order = calloc(n ? n : 1, sizeof **order);
    *count = 0;
    if (!*order) return sb_fail(SB_ERR_MEMORY, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const sb_torch_value *k = d->u.seq.items[2 * i], *v = d->u.seq.items[2 * i + 1];
        if (k->kind != SB_TORCH_STR || v->kind != SB_TORCH_TENSOR)
            return sb_fail(SB_ERR_FORMAT, "%s: entry %zu is a %s under a %s key, not a tensor", prefix, i,
                           sb_torch_kind_name(v->kind), sb_torch_kind_name(k->kind));
        char name[512];
        snprintf(name, sizeof name, "%s.%s", prefix, k->u.str.data);
        SB_TRY(st_add(o, name, &v->u.tensor));
        (*order)[(*count)++] = k->u.str.data;
    }
    return SB_OK;
}

/* Adam moments of optimizer state `opt` (state by parameter index,
 * param_groups[*].params in order) as <opt_prefix>.<key>.exp_avg / _sq. */
static int add_optimizer(st_out *o, const sb_torch_value *root, const char *opt_prefix, const sb_torch_value *net,
                         const char *const *order, size_t count) {
    const sb_torch_value *opt = sb_torch_get(root, opt_prefix), *state = sb_torch_get(opt, "state");
    const sb_torch_value *groups = sb_torch_get(opt, "param_groups");
    if (!state || !groups || groups->kind != SB_TORCH_LIST)
        return sb_fail(SB_ERR_FORMAT, "%s has no state dict and param_groups list", opt_prefix);
    size_t pos = 0;
    double step = -1;
    for (size_t g = 0; g < groups->u.seq.n; g++) {
        const sb_torch_value *params = sb_torch_get(groups->u.seq.items[g], "params");
        if (!params || params->kind != SB_TORCH_LIST)
            return sb_fail(SB_ERR_FORMAT, "%s: param_groups[%zu] has no params list", opt_prefix, g);
        for (size_t i = 0; i < params->u.seq.n; i++, pos++) {
            int64_t index = -1;
            if (!int_value(params->u.seq.items[i], &index))
                return sb_fail(SB_ERR_FORMAT, "%s: param_groups[%zu].params[%zu] is not an index", opt_prefix, g, i);
            if (pos >= count)
                return sb_fail(SB_ERR_FORMAT, "%s lists more parameters than the network's %zu", opt_prefix, count);
            const sb_torch_value *s = sb_torch_get_int(state, index);
            if (!s) continue; /* no step taken for this parameter yet */
            const sb_torch_tensor *p = tensor_at(net, order[pos]);
            const char *which[2] = {"exp_avg", "exp_avg_sq"};
            for (int w = 0; w < 2; w++) {
                const sb_torch_tensor *m = tensor_at(s, which[w]);
                if (!m)
                    return sb_fail(SB_ERR_FORMAT, "%s: state %lld has no %s (not Adam?)", opt_prefix,
                                   (long long)index, which[w]);
                int same = m->ndim == p->ndim;
                for (int d = 0; same && d < m->ndim; d++) same = m->shape[d] == p->shape[d];
                if (!same)
                    return sb_fail(SB_ERR_FORMAT, "%s: state %lld (%s) does not match the shape of %s: the network's "
                                   "state_dict order is not its parameter order", opt_prefix, (long long)index,
                                   which[w], order[pos]);
                char name[512];
                snprintf(name, sizeof name, "%s.%s.%s", opt_prefix, order[pos], which[w]);
                SB_TRY(st_add(o, name, m));
            }
            const sb_torch_value *sv = sb_torch_get(s, "step");
            double st = sv && sv->kind == SB_TORCH_TENSOR && sv->u.tensor.numel == 1 ? sv->u.tensor.data[0]
                        : sv && sv->kind == SB_TORCH_FLOAT ? sv->u.f
                        : sv && sv->kind == SB_TORCH_INT ? (double)sv->u.i : -1;
            if (st > step) step = st;
        }
    }
    if (pos != count)
        return sb_fail(SB_ERR_FORMAT, "%s lists %zu parameters, the network has %zu", opt_prefix, pos, count);
    char key[128], value[64];
    snprintf(key, sizeof key, "%s.step", opt_prefix);
    snprintf(value, sizeof value, "%.0f", step < 0 ? 0 : step);
    st_meta(o, key, value);
    return SB_OK;
}

int sb_torch_import(const char *in, const char *out, const sb_torch_import_options *io, FILE *report) {
    sb_torch_file *f = NULL;
    SB_TRY(sb_torch_load(&f, in, NULL));
    const sb_torch_value *root = sb_torch_root(f);
    st_out o = {0};
    if (sb_st_writer_open(&o.w, out)) {
        sb_torch_free(f);
        return sb_fail_context(SB_ERR_IO, "%s", in);
    }
    const char **order[1 + N_TASKS] = {0};
    size_t count[1 + N_TASKS] = {0};
    sb_model_config cfg;
    text y = {0};
    int rc = SB_OK;
    if (!sb_torch_as_dict(root) || !sb_torch_as_dict(sb_torch_get(root, "netE_state"))) {
        rc = sb_fail(SB_ERR_FORMAT, "%s: not a Sketch-BERT checkpoint (no netE_state dict)", in);
        goto done;
    }
    if ((rc = infer_config(root, io, &cfg))) goto done;
    if ((rc = add_net(&o, sb_torch_get(root, "netE_state"), "netE_state", &order[0], &count[0]))) goto done;
    for (int k = 0; k < N_TASKS; k++) {
        char key[64];
        snprintf(key, sizeof key, "net_%s_state", tasks[k]);
        const sb_torch_value *st = sb_torch_get(root, key);
        if (st && sb_torch_as_dict(st) && (rc = add_net(&o, st, key, &order[k + 1], &count[k + 1]))) goto done;
    }
    int with_optimizer = io->optimizer == SB_IMPORT_OPTIMIZER ||
                         (io->optimizer == SB_IMPORT_OPTIMIZER_IF_PRESENT && sb_torch_get(root, "optE_state"));
    if (with_optimizer) {
        if ((rc = add_optimizer(&o, root, "optE_state", sb_torch_get(root, "netE_state"), order[0], count[0])))
            goto done;
        for (int k = 0; k < N_TASKS; k++) {
            char net[64], opt[64];
            snprintf(net, sizeof net, "net_%s_state", tasks[k]);
            snprintf(opt, sizeof opt, "opt_%s_state", tasks[k]);
            if (order[k + 1] &&
                (rc = add_optimizer(&o, root, opt, sb_torch_get(root, net), order[k + 1], count[k + 1])))
                goto done;
        }
    }
    config_yaml(&y, &cfg, config_of(root));
    st_meta(&o, "config", y.s ? y.s : "");
    st_meta(&o, "source", in);
    const char *counters[] = {"t", "epoch"};
    for (int i = 0; i < 2; i++) {
        int64_t v;
        char key[32], value[32];
        if (int_value(sb_torch_get(sb_torch_get(root, "counters"), counters[i]), &v)) {
            snprintf(key, sizeof key, "counters.%s", counters[i]);
            snprintf(value, sizeof value, "%lld", (long long)v);
            st_meta(&o, key, value);
        }
    }
    if (o.meta_rc || y.oom) {
        rc = o.meta_rc ? o.meta_rc : sb_fail(SB_ERR_MEMORY, "out of memory");
        goto done;
    }
    if (report) fprintf(report, "format: %s (torch.save)\n%s", sb_torch_format(f), y.s);
    for (int i = 0; i < 2; i++) {
        int64_t v;
        if (int_value(sb_torch_get(sb_torch_get(root, "counters"), counters[i]), &v))
            if (report) fprintf(report, "counters.%s: %lld\n", counters[i], (long long)v);
    }
    for (int k = 0; k < N_TASKS; k++) {
        char key[64];
        snprintf(key, sizeof key, "net_%s_state", tasks[k]);
        if (report && !order[k + 1] && sb_torch_get(root, key)) fprintf(report, "skipped %s (empty)\n", key);
    }
    for (size_t k = 0; root->kind == SB_TORCH_DICT && k + 1 < root->u.seq.n; k += 2) {
        const sb_torch_value *key = root->u.seq.items[k];
        if (key->kind == SB_TORCH_STR && !strncmp(key->u.str.data, "net_", 4) && !strstr(key->u.str.data, "_best_")) {
            int known = 0;
            for (int t = 0; t < N_TASKS; t++) {
                char name[64];
                snprintf(name, sizeof name, "net_%s_state", tasks[t]);
                known |= !strcmp(name, key->u.str.data);
            }
            if (report && !known) fprintf(report, "skipped %s (task not supported by sketchbert)\n", key->u.str.data);
        }
    }
    rc = sb_st_writer_commit(o.w); /* frees the writer, also on failure */
    o.w = NULL;
    if (rc) goto done;
    if (report) fprintf(report, "wrote %zu tensors to %s\n", o.n, out);
done:
    if (rc && strncmp(sb_last_error(), in, strlen(in)) != 0) sb_fail_context(rc, "%s", in);
    for (int k = 0; k < 1 + N_TASKS; k++) free(order[k]);
    free(y.s);
    sb_st_writer_abort(o.w);
    sb_torch_free(f);
    return rc;
}


int sb_is_torch_path(const char *path) {
    size_t n = strlen(path);
    static const char *const ends[] = {".pth", ".pth.tar", ".pt"};
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(ends[i]);
        if (n > k && !strcmp(path + n - k, ends[i])) return 1;
    }
    return 0;
}
