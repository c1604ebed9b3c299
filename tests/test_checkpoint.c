/* Checkpoints on a stand-in parameter list (device tensors named as
 * model.h's): save then 'continue' restores values, Adam moments, Adam
 * steps and counters bit for bit; which_pretrained picks parts; a task
 * absent from the file keeps its fresh weights; shape mismatches name the
 * tensor and both shapes and change nothing; the position-embedding remap
 * on hand-made cases for every combination of leading tokens. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "test_util.h"
#include "train/checkpoint.h"

enum { E = 4, T = 6, MAXP = 8 };
enum { ENC_NET = 1, ENC_OPT = 2, TASK_NET = 4, TASK_OPT = 8 }; /* io/config.h's SB_RESTORE_* */

static sb_runtime *rt;
static char dir[] = "/tmp/sketchbert_test_checkpoint_XXXXXX";

typedef struct {
    sb_param p[MAXP];
    sb_tensor m[MAXP], v[MAXP];
    int n;
    sb_ckpt_model cm;
} fake_model;

static void add(fake_model *f, const char *name, int net, int rows, int cols) {
    sb_param *p = &f->p[f->n];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->net = net;
    int shape[2] = {rows, cols};
    sb_tensor_alloc(rt, &p->value, "value", SB_F32, 2, shape);
    sb_tensor_alloc(rt, &f->m[f->n], "m", SB_F32, 2, shape);
    sb_tensor_alloc(rt, &f->v[f->n], "v", SB_F32, 2, shape);
    f->n++;
}

/* Encoder (embedding, position embedding for K tokens), maskrec, and the
 * cls/rel heads when asked; every tensor random. */
static void make(fake_model *f, int rel, int cls, int emb_cols) {
    memset(f, 0, sizeof *f);
    add(f, "netE.embedding.embedding.weight", SB_NET_ENCODER, E, emb_cols);
    add(f, "netE.pos_embedding.pos_embedding.weight", SB_NET_ENCODER, rel + cls + T, E);
    add(f, "net_maskrec.re_fcs.0.weight", SB_NET_MASKREC, 5, E);
    if (cls) add(f, "net_sketchclsinput.cls_fcs.0.weight", SB_NET_CLS, 3, E);
    if (rel) add(f, "net_sketchretrieval.rel_fcs.0.weight", SB_NET_REL, 2, E);
    for (int i = 0; i < f->n; i++) {
        const sb_tensor *ts[3] = {&f->p[i].value, &f->m[i], &f->v[i]};
        for (int k = 0; k < 3; k++) {
            float *h = malloc(ts[k]->numel * sizeof *h);
            t_uniform(h, ts[k]->numel, -1, 1);
            sb_tensor_write(rt, ts[k], h);
            free(h);
        }
    }
    f->cm = (sb_ckpt_model){f->p, f->n, f->m, f->v};
}

static void release(fake_model *f) {
    for (int i = 0; i < f->n; i++) {
        sb_tensor_release(rt, &f->p[i].value);
        sb_tensor_release(rt, &f->m[i]);
        sb_tensor_release(rt, &f->v[i]);
    }
}

static int same(const sb_tensor *a, const sb_tensor *b) {
    if (a->numel != b->numel) return 0;
    float *x = t_download(rt, a), *y = t_download(rt, b);
    int eq = !memcmp(x, y, a->numel * sizeof *x);
    free(x), free(y);
    return eq;
}

static void test_round_trip(const char *path) {
    fake_model a, b;
    make(&a, 1, 1, 5);
    make(&b, 1, 1, 5);
    sb_ckpt_counters ca = {1234, 3, 1000, 0.875, {1234, 1234, 1200, 17}, 2}, cb = {0};
    int rc = sb_checkpoint_save(rt, path, &a.cm, &ca, "task_types: [maskrec]\n", NULL);
    t_check_true("save", rc == 0);
    if (rc) printf("# %s\n", sb_last_error());
    rc = sb_checkpoint_load(rt, path, &b.cm, ENC_NET | ENC_OPT | TASK_NET | TASK_OPT, 1, &cb);
    t_check_true("continue with everything", rc == 0);
    if (rc) printf("# %s\n", sb_last_error());
    int all = 1;
    for (int i = 0; i < a.n; i++) all &= same(&a.p[i].value, &b.p[i].value) && same(&a.m[i], &b.m[i]) && same(&a.v[i], &b.v[i]);
    t_check_true("values and moments bit for bit", all);
    t_check_true("counters and Adam steps", !memcmp(&ca, &cb, sizeof ca));

    sb_st_file *f;
    sb_st_open(&f, path);
    t_check_true("original key names", f && sb_st_find(f, "netE_state.embedding.embedding.weight") &&
                                           sb_st_find(f, "optE_state.pos_embedding.pos_embedding.weight.exp_avg_sq") &&
                                           sb_st_find(f, "net_sketchclsinput_state.cls_fcs.0.weight") &&
                                           sb_st_find(f, "opt_sketchretrieval_state.rel_fcs.0.weight.exp_avg") &&
                                           !strcmp(sb_st_meta(f, "opt_sketchclsinput_state.step"), "1200") &&
                                           !strcmp(sb_st_meta(f, "config"), "task_types: [maskrec]\n") &&
                                           !strcmp(sb_st_meta(f, "sketchbert_checkpoint"), SB_CKPT_VERSION));
    sb_st_close(f);
    release(&b);

    /* pretrained, enc_net only: task nets, optimizers and counters stay */
    fake_model c, keep;
    make(&c, 1, 1, 5);
    make(&keep, 1, 1, 5);
    for (int i = 0; i < c.n; i++) { /* keep = copy of c */
        float *h = t_download(rt, &c.p[i].value);
        sb_tensor_write(rt, &keep.p[i].value, h);
        free(h);
        h = t_download(rt, &c.m[i]);
        sb_tensor_write(rt, &keep.m[i], h);
        free(h);
    }
    sb_ckpt_counters cc = {0};
    rc = sb_checkpoint_load(rt, path, &c.cm, ENC_NET, 0, &cc);
    t_check_true("pretrained enc_net", rc == 0 && same(&c.p[0].value, &a.p[0].value) && same(&c.p[1].value, &a.p[1].value));
    t_check_true("enc_net leaves heads, moments and counters", same(&c.p[2].value, &keep.p[2].value) &&
                                                                   same(&c.m[0], &keep.m[0]) && cc.step == 0 && cc.opt_step[0] == 0);
    rc = sb_checkpoint_load(rt, path, &c.cm, TASK_OPT, 0, &cc);
    t_check_true("task_opt restores head moments and steps only", rc == 0 && same(&c.m[2], &a.m[2]) && same(&c.m[0], &keep.m[0]) &&
                                                                      cc.opt_step[SB_NET_MASKREC] == 1234 && cc.opt_step[0] == 0);
    release(&c);
    release(&keep);

    /* a model with the embedding of another width: error with both shapes,
     * nothing changed */
    fake_model d;
    make(&d, 1, 1, 7);
    float *before = t_download(rt, &d.p[1].value);
    rc = sb_checkpoint_load(rt, path, &d.cm, ENC_NET | TASK_NET, 0, &cc);
    t_check_error("shape mismatch names the tensor and both shapes", rc,
                  "tensor 'netE_state.embedding.embedding.weight' has shape [4, 5] in the checkpoint but [4, 7] in the model");
    float *after = t_download(rt, &d.p[1].value);
    t_check_true("failed load changes nothing", !memcmp(before, after, d.p[1].value.numel * sizeof *before));
    free(before), free(after);
    release(&d);
    release(&a);
}

static void test_task_absent_and_remap(const char *path) {
    /* saved by a maskrec-only model (no leading tokens); loaded into a
     * model with both tokens: maskrec head restored, cls/rel heads fresh,
     * position rows shifted by two, token rows fresh */
    fake_model a, b;
    make(&a, 0, 0, 5);
    make(&b, 1, 1, 5);
    sb_ckpt_counters c = {10, 1, 0, 0, {10, 10, 0, 0}, 1};
    sb_checkpoint_save(rt, path, &a.cm, &c, NULL, NULL);
    float *pos_before = t_download(rt, &b.p[1].value), *cls_before = t_download(rt, &b.p[3].value);
    int rc = sb_checkpoint_load(rt, path, &b.cm, ENC_NET | TASK_NET | TASK_OPT, 0, &c);
    t_check_true("load across task sets", rc == 0);
    if (rc) printf("# %s\n", sb_last_error());
    float *pos = t_download(rt, &b.p[1].value), *pre = t_download(rt, &a.p[1].value), *cls = t_download(rt, &b.p[3].value);
    t_check_true("positions shifted past both tokens", !memcmp(pos + 2 * E, pre, T * E * sizeof *pos));
    t_check_true("token rows keep their fresh values", !memcmp(pos, pos_before, 2 * E * sizeof *pos));
    t_check_true("absent task keeps its fresh head", !memcmp(cls, cls_before, b.p[3].value.numel * sizeof *cls));
    t_check_true("present task restored", same(&b.p[2].value, &a.p[2].value));
    free(pos_before), free(cls_before), free(pos), free(pre), free(cls);

    /* missing tensor: a file without the position embedding */
    sb_st_writer *w;
    int64_t shape[2] = {E, 5};
    float z[E * 5] = {0};
    sb_st_writer_open(&w, path);
    sb_st_writer_add(w, "netE_state.embedding.embedding.weight", SB_ST_F32, 2, shape, z);
    sb_st_writer_commit(w);
    t_check_error("missing tensor named", sb_checkpoint_load(rt, path, &b.cm, ENC_NET, 0, &c),
                  "no tensor 'netE_state.pos_embedding.pos_embedding.weight' (needed by which_pretrained enc_net)");
    t_check_error("continue needs the counters", sb_checkpoint_load(rt, path, &b.cm, 0, 1, &c), "no metadata 'counters.t'");
    release(&a);
    release(&b);
}

/* Row r of a (rows, 1) embedding holds 100 * side + r, so each copied row
 * says where it came from; fresh rows are -1. */
static void test_remap_cases(void) {
    enum { W = 1 };
    struct {
        int own_rel, own_cls, pre_rel, pre_cls, own_rows, pre_rows;
        float want[8];
    } cases[] = {
        /* same tokens, same length: a plain copy */
        {1, 1, 1, 1, 5, 5, {200, 201, 202, 203, 204}},
        /* own both, pre none: sequence shifted, token rows fresh */
        {1, 1, 0, 0, 5, 5, {-1, -1, 200, 201, 202}},
        /* own both, pre cls only: cls row from pre's row 0 (see checkpoint.h) */
        {1, 1, 0, 1, 5, 5, {-1, 200, 201, 202, 203}},
        /* own both, pre rel only */
        {1, 1, 1, 0, 5, 5, {200, -1, 201, 202, 203}},
        /* own rel only, pre both: rel row 0, sequence from pre row 2 */
        {1, 0, 1, 1, 5, 5, {200, 202, 203, 204, -1}},
        /* own cls only, pre both: cls row is pre's row 1 */
        {0, 1, 1, 1, 5, 5, {201, 202, 203, 204, -1}},
        /* own cls only, pre cls only, pre longer: truncated */
        {0, 1, 0, 1, 4, 7, {200, 201, 202, 203}},
        /* own none, pre both, own longer: the tail stays fresh */
        {0, 0, 1, 1, 6, 4, {202, 203, -1, -1, -1, -1}},
    };
    int ok = 1;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        float own[8], pre[8];
        for (int r = 0; r < 8; r++) own[r] = -1, pre[r] = 200.0f + (float)r;
        sb_ckpt_remap_positions(own, cases[c].own_rows, cases[c].own_rel, cases[c].own_cls, pre, cases[c].pre_rows,
                                cases[c].pre_rel, cases[c].pre_cls, W);
        for (int r = 0; r < cases[c].own_rows; r++)
            if (own[r] != cases[c].want[r]) {
                printf("# case %zu row %d: got %g want %g\n", c, r, own[r], cases[c].want[r]);
                ok = 0;
            }
    }
    t_check_true("position remap, every token combination", ok);
}

int main(int argc, char **argv) {
    rt = t_init(argc, argv, "checkpoint");
    if (!mkdtemp(dir)) return 1;
    char path[300];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    test_remap_cases();
    test_round_trip(path);
    test_task_absent_and_remap(path);
    remove(path);
    rmdir(dir);
    return t_finish(rt);
}
