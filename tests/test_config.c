/* Config loading: the original's defaults, every shipped config under
 * configs/, !include relative to the including file, each wrong value
 * refused with file:line and key, unknown keys refused with the nearest
 * key, --set overrides typed and checked like the file's values,
 * YAML syntax errors with line and column, and write -> load round trips
 * to the same bytes. Needs no OpenCL device. The shipped configs are found
 * through SKETCHBERT_SOURCE_ROOT (set by meson), else the current directory. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/config.h"
#include "test_util.h"

static char dir[] = "/tmp/sketchbert_test_config_XXXXXX";
static char created[32][512];
static int n_created;

/* Writes text to dir/name; returns the path (static storage per file). */
static const char *put(const char *name, const char *text) {
    char path_buf[sizeof created[0]];
    snprintf(path_buf, sizeof path_buf, "%s/%s", dir, name);
    int i = 0;
    while (i < n_created && strcmp(created[i], path_buf) != 0) i++;
    if (i == n_created && n_created < (int)(sizeof created / sizeof created[0])) n_created++;
    char *path = created[i < n_created ? i : n_created - 1];
    memcpy(path, path_buf, sizeof path_buf);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

/* ---- stderr capture, for warnings */

static int saved_stderr = -1;
static char err_path[600], err_text[8192];

static void capture_begin(void) {
    fflush(stderr);
    saved_stderr = dup(2);
    int fd = open(err_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
}

static const char *capture_end(void) {
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    FILE *f = fopen(err_path, "r");
    size_t n = f ? fread(err_text, 1, sizeof err_text - 1, f) : 0;
    if (f) fclose(f);
    err_text[n] = '\0';
    return err_text;
}

/* ---- checks */

static int layers_are(const sb_config *c, int n, int heads, int hidden, int inter) {
    int ok = c->n_layers == n;
    for (int i = 0; ok && i < n; i++)
        ok = c->layers_setting[i].heads == heads && c->layers_setting[i].hidden == hidden &&
             c->layers_setting[i].intermediate == inter;
    return ok;
}

static int dims_are(const sb_dims *d, int n, const int *v) {
    return d->n == n && (n == 0 || memcmp(d->d, v, (size_t)n * sizeof *v) == 0);
}

static void check_defaults(void) {
    sb_config c;
    sb_config_default(&c);
    t_check_true("defaults: task maskrec, scratch, restore enc_net",
                 c.n_tasks == 1 && c.task_types[0] == SB_TASK_MASKREC && c.load_pretrained == SB_LOAD_SCRATCH &&
                     c.which_pretrained == SB_RESTORE_ENC_NET &&
                     strcmp(c.restore_checkpoint_path, "qd_8_12_768.pth.tar") == 0);
    t_check_true("defaults: 8 ALBERT layers [12, 768, 3072]",
                 c.model_type == SB_MODEL_ALBERT && layers_are(&c, 8, 12, 768, 3072));
    t_check_true("defaults: embed [128,256,512], rec [512,256,128], no cls/rel layers",
                 dims_are(&c.embed_layers_setting, 3, (const int[]){128, 256, 512}) &&
                     dims_are(&c.rec_layers_setting, 3, (const int[]){512, 256, 128}) &&
                     c.cls_layers_setting.n == 0 && c.rel_layers_setting.n == 0);
    t_check_true("defaults: data as the original",
                 c.max_length == 250 && c.limit == 1000 && c.mask_prob == 0.85 &&
                     strcmp(c.mask_task_type, "task") == 0 && strcmp(c.normalization_type, "max_scale") == 0 &&
                     c.max_scale_factor == 10 && c.max_cls_cache == 345 && c.each_max_samples == 5000 &&
                     c.each_val_samples == 1000 && !c.input_is_complete && c.get_type == SB_GET_SINGLE &&
                     strcmp(c.stroke_type, "stroke-5") == 0 && strcmp(c.dataset, "quickdraw_memmap") == 0 &&
                     strcmp(c.sum_path, "data/memmap/memmap_sum.txt") == 0 &&
                     strcmp(c.offset_path, "data/memmap/offsets.sbidx") == 0 && c.cls_limit_path[0] == '\0');
    t_check_true("defaults: training and losses as the original",
                 c.batch_size == 10 && c.learning_rate == 1e-4 && c.num_epoch == 200 &&
                     c.num_iterations == 2000000 && c.attention_dropout_prob == 0.5 &&
                     c.hidden_dropout_prob == 0.5 && c.output_dropout_prob == 0.5 && c.triplet_margin == 2.0 &&
                     c.mask_axis_weight == 1 && c.rec_axis_weight == 0 && c.mask_type_weight == 1 &&
                     c.rec_type_weight == 0 && c.prediction_weight == 1 && c.triplet_weight == 1 &&
                     c.input_dim == 5 && c.cls_dim == 345 && c.rel_feat_dim == 128 &&
                     strcmp(c.position_type, "learn") == 0 && c.print_every == 100 &&
                     c.checkpoint_every == 2000 && c.save_model_every == 20000);
    t_check_true("defaults: extras off",
                 c.seed == 0 && c.device[0] == '\0' && !c.eval_dropout && !c.eval_mask && c.warmup_steps == 0 &&
                     c.lr_schedule == SB_LR_CONSTANT && c.optimizer == SB_OPTIMIZER_ADAM && c.weight_decay == 0 &&
                     c.grad_clip == 0 && !c.skip_nonfinite);
}

/* Writes c, reads it back, compares bytes. */
static int round_trips(const sb_config *c) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) return 0;
    int rc = sb_config_write_yaml(c, f);
    fclose(f);
    sb_config back;
    memset(&back, 0xab, sizeof back);
    if (!rc) rc = sb_config_load_string(&back, text, "round trip");
    if (rc) printf("# %s\n", sb_last_error());
    free(text);
    return !rc && memcmp(&back, c, sizeof back) == 0;
}

static void check_shipped(const char *root) {
    static const char *const names[] = {"sketch_transformer", "tiny_pretrain",  "tiny_classify", "tiny_retrieve", "tiny_finetune",
                                        "small_pretrain",     "small_classify", "small_retrieve"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
        char path[1024], what[128];
        snprintf(path, sizeof path, "%s/configs/%s.yml", root, names[i]);
        sb_config c;
        capture_begin();
        int rc = sb_config_load(&c, path);
        const char *warnings = capture_end();
        snprintf(what, sizeof what, "configs/%s.yml loads without warnings", names[i]);
        t_check_true(what, rc == 0 && !warnings[0]);
        if (rc) printf("# %s\n", sb_last_error());
        if (warnings[0]) printf("# %s", warnings);
        if (rc) continue;
        int ok;
        if (i == 0) {
            sb_config d;
            sb_config_default(&d);
            ok = memcmp(&c, &d, sizeof c) == 0; /* the base file states the defaults */
        } else {
            int tiny = names[i][0] == 't';
            const char *task = strchr(names[i], '_') + 1;
            sb_task_type want = task[0] == 'p' ? SB_TASK_MASKREC
                                : task[0] == 'c' || task[0] == 'f' ? SB_TASK_SKETCHCLSINPUT
                                                                   : SB_TASK_SKETCHRETRIEVAL;
            /* tiny_finetune: from tiny_pretrain's encoder and SGM head, all three tasks on triplets */
            int finetune = task[0] == 'f';
            int tasks_ok = finetune ? c.n_tasks == 3 && c.task_types[0] == SB_TASK_MASKREC &&
                                          c.task_types[1] == SB_TASK_SKETCHCLSINPUT &&
                                          c.task_types[2] == SB_TASK_SKETCHRETRIEVAL && c.get_type == SB_GET_TRIPLET &&
                                          c.which_pretrained == (SB_RESTORE_ENC_NET | SB_RESTORE_TASK_NET)
                                    : c.n_tasks == 1 && c.task_types[0] == want &&
                                          c.get_type == (want == SB_TASK_SKETCHRETRIEVAL ? SB_GET_TRIPLET : SB_GET_SINGLE);
            ok = (tiny ? layers_are(&c, 2, 4, 128, 512) : layers_are(&c, 4, 8, 256, 1024)) && tasks_ok &&
                 c.model_type == SB_MODEL_ALBERT && c.max_length == 100 && c.batch_size == 16 &&
                 c.embed_layers_setting.n >= 1 && c.embed_layers_setting.d[0] == 128 &&
                 (!tiny || dims_are(&c.rec_layers_setting, 1, (const int[]){128})) && c.cls_dim == 11 &&
                 strcmp(c.sum_path, "data/synth/memmap/memmap_sum.txt") == 0 &&
                 strcmp(c.offset_path, "data/synth/memmap/offsets.sbidx") == 0 && c.num_iterations > 0 &&
                 c.seed == 1 && c.hidden_dropout_prob == 0.1 &&
                 c.load_pretrained == (finetune ? SB_LOAD_PRETRAINED : SB_LOAD_SCRATCH) &&
                 (!finetune || !strcmp(c.restore_checkpoint_path, "runs/tiny_pretrain/latest_ckpt.safetensors"));
        }
        snprintf(what, sizeof what, "configs/%s.yml has the expected values", names[i]);
        t_check_true(what, ok);
        snprintf(what, sizeof what, "configs/%s.yml round-trips through YAML", names[i]);
        t_check_true(what, round_trips(&c));
    }
}

static void check_include(void) {
    char sub[600];
    snprintf(sub, sizeof sub, "%s/parts", dir);
    mkdir(sub, 0700);
    put("parts/row.yml", "[2, 64, 96]\n");
    put("parts/layers.yml", "# two rows, each from row.yml next to this file\n[!include row.yml, !include row.yml]\n");
    put("parts/name.txt", "run from text\n");
    const char *top = put("top.yml", "batch_size: 3\nlayers_setting: !include parts/layers.yml\n"
                                     "log_dir: !include parts/name.txt\nembed_layers_setting: [64]\n");
    sb_config c;
    int rc = sb_config_load(&c, top); /* the working directory is elsewhere */
    if (rc) printf("# %s\n", sb_last_error());
    t_check_true("!include: nested YAML includes relative to each including file",
                 rc == 0 && c.batch_size == 3 && layers_are(&c, 2, 2, 64, 96));
    t_check_true("!include: other files are text, trailing newline dropped",
                 rc == 0 && strcmp(c.log_dir, "run from text") == 0);

    char needle[700];
    put("parts/bad_layers.yml", "- [2, 64, 96]\n- [2, 64]\n");
    snprintf(needle, sizeof needle, "%s/parts/bad_layers.yml:2: layers_setting: row 2", dir);
    t_check_error("!include: a bad value is named at its line in the included file",
                  sb_config_load(&c, put("bad_inc.yml", "layers_setting: !include parts/bad_layers.yml\n")), needle);
    snprintf(needle, sizeof needle, "%s/missing_inc.yml:2: !include 'nope.yml': cannot open", dir);
    t_check_error("!include: a missing file is named with the including line",
                  sb_config_load(&c, put("missing_inc.yml", "batch_size: 3\nlayers_setting: !include nope.yml\n")),
                  needle);
    t_check_error("!include: a list is not a file name",
                  sb_config_load(&c, put("inc_list.yml", "layers_setting: !include [a.yml]\n")), "one file name");
    t_check_error("!include: a cycle is stopped",
                  sb_config_load(&c, put("cycle.yml", "layers_setting: !include cycle.yml\n")), "deeper than");
}

/* Loads text as dir/bad.yml; the load must fail naming bad.yml:line, key and
 * `phrase`, with an allowed list, and leave the config unchanged. */
static void expect_refused(const char *what, const char *text, int line, const char *key, const char *phrase) {
    sb_config c, before;
    sb_config_default(&c);
    c.batch_size = 77; /* a mark that the failed load must keep */
    before = c;
    int rc = sb_config_load(&c, put("bad.yml", text));
    char where[700];
    snprintf(where, sizeof where, "%s/bad.yml:%d: %s: ", dir, line, key);
    const char *msg = sb_last_error();
    int ok = rc != 0 && strstr(msg, where) && strstr(msg, phrase) && strstr(msg, "(allowed: ") &&
             memcmp(&c, &before, sizeof c) == 0;
    printf("# %s\n", msg);
    t_check_true(what, ok);
}

static void check_refusals(void) {
    expect_refused("a string for batch_size", "mask_prob: 0.5\nbatch_size: ten\n", 2, "batch_size", "not an integer");
    expect_refused("a quoted number for batch_size", "batch_size: '10'\n", 1, "batch_size", "quoted");
    expect_refused("a fraction for batch_size", "batch_size: 2.5\n", 1, "batch_size", "not an integer");
    expect_refused("batch_size 0", "batch_size: 0\n", 1, "batch_size", "out of range");
    expect_refused("mask_prob above 1", "batch_size: 4\n\nmask_prob: 1.5\n", 3, "mask_prob", "out of range");
    expect_refused("mask_prob below 0", "mask_prob: -0.1\n", 1, "mask_prob", "out of range");
    expect_refused("mask_prob not a number", "mask_prob: .nan\n", 1, "mask_prob", "not a number");
    expect_refused("dropout 1", "hidden_dropout_prob: 1\n", 1, "hidden_dropout_prob", "out of range");
    expect_refused("learning_rate 0", "learning_rate: 0\n", 1, "learning_rate", "out of range");
    expect_refused("unknown task type", "task_types:\n  - maskrec\n  - sketchpaint\n", 3, "task_types",
                   "unknown task type 'sketchpaint'");
    expect_refused("task_types not a list", "task_types: maskrec\n", 1, "task_types", "not a list");
    expect_refused("task listed twice", "task_types: [maskrec, maskrec]\n", 1, "task_types", "twice");
    expect_refused("no task", "task_types: []\n", 1, "task_types", "no task");
    expect_refused("unknown which_pretrained part", "which_pretrained: [enc_net, everything]\n", 1,
                   "which_pretrained", "everything");
    expect_refused("model_type not albert|bert", "model_type: gpt\n", 1, "model_type", "albert, bert");
    expect_refused("layers row of 2 ints", "layers_setting: [[4, 128, 512], [4, 128]]\n", 1, "layers_setting",
                   "row 2 is not 3 integers");
    expect_refused("layers row with a negative", "layers_setting:\n  - [4, 128, -512]\n", 2, "layers_setting",
                   "row 1 is not 3 integers");
    expect_refused("layers row of strings", "layers_setting: [[a, b, c]]\n", 1, "layers_setting", "row 1");
    expect_refused("layers not a list", "layers_setting: 12\n", 1, "layers_setting", "not a list");
    expect_refused("hidden not divisible by heads", "layers_setting: [[3, 128, 512]]\n", 1, "layers_setting",
                   "hidden 128 is not divisible by 3 heads");
    expect_refused("albert with layers of different sizes",
                   "model_type: albert\nlayers_setting:\n  - [4, 128, 512]\n  - [4, 128, 256]\n", 4,
                   "layers_setting", "row 2 [4, 128, 256] differs from row 1");
    expect_refused("bert with different hidden sizes",
                   "layers_setting: [[4, 128, 512], [4, 256, 512]]\nmodel_type: bert\n", 1, "layers_setting",
                   "hidden 256 but row 1 has 128");
    expect_refused("embed_layers_setting empty", "embed_layers_setting: []\n", 1, "embed_layers_setting",
                   "0 entries");
    expect_refused("rec_layers_setting entry 0", "rec_layers_setting: [64, 0]\n", 1, "rec_layers_setting",
                   "entry 2");
    expect_refused("input_dim 6", "input_dim: 6\n", 1, "input_dim", "out of range");
    expect_refused("print_every above INT_MAX: the message gives the upper bound", "print_every: 3000000000\n", 1,
                   "print_every", "3000000000 is out of range (allowed: an integer in [1, 2147483647])");
    expect_refused("layers entry above INT_MAX: the message gives the upper bound",
                   "layers_setting: [[1, 3000000000, 1]]\n", 1, "layers_setting", "integers in [1, 2147483647]");
    expect_refused("unknown normalization", "normalization_type: unit\n", 1, "normalization_type",
                   "max_scale, var_scale, global_scale");
    expect_refused("position_type sin", "position_type: sin\n", 1, "position_type", "not supported");
    expect_refused("an image dataset", "dataset: quickdraw_sbir\n", 1, "dataset", "quickdraw_memmap, tuberlin_memmap");
    expect_refused("another trainer", "trainer: sketch_transformer_gan\n", 1, "trainer", "not supported");
    expect_refused("segment embeddings", "segment_type: learn\n", 1, "segment_type", "not supported");
    expect_refused("not a boolean", "input_is_complete: maybe\n", 1, "input_is_complete", "not a boolean");
    expect_refused("negative seed", "seed: -1\n", 1, "seed", "out of range");
    expect_refused("unknown schedule", "lr_schedule: linear\n", 1, "lr_schedule", "constant, cosine");
    expect_refused("unknown optimizer", "optimizer: sgd\n", 1, "optimizer", "adam, adamw");
    expect_refused("path with a newline", "log_dir: \"a\\nb\"\n", 1, "log_dir", "control character");
    expect_refused("retrieval without triplets", "task_types: [sketchretrieval]\nget_type: single\n", 2, "get_type",
                   "triplets");
    expect_refused("continue without a checkpoint", "restore_checkpoint_path: ''\nload_pretrained: continue\n", 2,
                   "load_pretrained", "restore_checkpoint_path is empty");

    sb_config c;
    t_check_true("bert layers may differ in heads and intermediate",
                 sb_config_load(&c, put("bert.yml", "model_type: bert\nlayers_setting: [[4, 128, 512], [8, 128, "
                                                    "256]]\n")) == 0 &&
                     c.n_layers == 2 && c.layers_setting[1].heads == 8 && c.layers_setting[1].intermediate == 256);
}

static void check_files_and_syntax(void) {
    sb_config c;
    char needle[700];
    t_check_error("missing file", sb_config_load(&c, "/nonexistent/sketch.yml"),
                  "/nonexistent/sketch.yml: cannot open: No such file");
    snprintf(needle, sizeof needle, "config %s: cannot open: it is a directory", dir);
    t_check_error("a directory given as the config says so", sb_config_load(&c, dir), needle);
    snprintf(needle, sizeof needle, "%s/inc_dir.yml:1: !include '.': cannot open %s/.: it is a directory", dir, dir);
    t_check_error("a directory given to !include says so",
                  sb_config_load(&c, put("inc_dir.yml", "log_dir: !include .\n")), needle);
    const char *locked = put("locked.yml", "batch_size: 3\n");
    chmod(locked, 0);
    FILE *probe = fopen(locked, "r"); /* root reads it anyway */
    if (probe) fclose(probe);
    else t_check_error("an unreadable file says why", sb_config_load(&c, locked), "cannot open: Permission denied");
    /* opens, then every read fails with EIO (as for root too) */
    t_check_error("a read error says why, not 'input error'", sb_config_load(&c, "/proc/self/mem"),
                  "/proc/self/mem: cannot read: Input/output error");
    snprintf(needle, sizeof needle, "%s/syntax.yml:3:", dir);
    const char *syntax = put("syntax.yml", "batch_size: 4\nmask_prob: 0.5\nlearning_rate: 0.1: 2\n");
    t_check_error("syntax error names file:line", sb_config_load(&c, syntax), needle);
    t_check_error("syntax error says what", sb_config_load(&c, syntax), "YAML syntax error: mapping values");
    snprintf(needle, sizeof needle, "%s/unclosed.yml:", dir);
    t_check_error("unclosed list names the file", sb_config_load(&c, put("unclosed.yml", "layers_setting: [[4, 128, "
                                                                                       "512]\n")),
                  needle);
    t_check_error("empty file", sb_config_load(&c, put("empty.yml", "# nothing\n")), "empty config");
    t_check_error("a list at the top", sb_config_load(&c, put("list.yml", "- batch_size: 3\n")),
                  "expected a mapping");
    t_check_error("two documents", sb_config_load(&c, put("two.yml", "batch_size: 3\n---\nbatch_size: 4\n")),
                  "second YAML document");
    t_check_error("merge keys", sb_config_load(&c, put("merge.yml", "<<: {batch_size: 3}\n")),
                  "merge keys are not supported");
    t_check_error("load_string names its label", sb_config_load_string(&c, "seed: 1\nbatch_size: x\n", "ckpt"),
                  "ckpt:2: batch_size: ");

    /* an unknown key is an error naming the nearest key; the original's
     * unused keys load silently; checkpoint metadata only warns */
    sb_config_default(&c);
    c.batch_size = 77;
    snprintf(needle, sizeof needle, "%s/unknown.yml:2: unknown key 'learning_rat' (did you mean learning_rate?)", dir);
    t_check_error("unknown key: an error naming file:line, the key and the nearest key",
                  sb_config_load(&c, put("unknown.yml", "batch_size: 5\nlearning_rat: 0.1\n")), needle);
    t_check_true("unknown key: the config is left unchanged", c.batch_size == 77);
    t_check_error("unknown key far from every key: no guess",
                  sb_config_load(&c, put("unknown.yml", "zzz: 1\n")), "unknown key 'zzz' (docs/config.md lists");
    capture_begin();
    int rc = sb_config_load(&c, put("orig.yml", "batch_size: 5\ngpu_ids: [0, 1]\nM: 16\nnum_display_samples: 5\n"));
    const char *warnings = capture_end();
    t_check_true("the original's unused keys load silently", rc == 0 && c.batch_size == 5 && !warnings[0]);
    capture_begin();
    rc = sb_config_load_string(&c, "batch_size: 6\nlog_id: 2020/run\n", "ckpt[config]");
    warnings = capture_end();
    t_check_true("checkpoint metadata: an unknown key warns and loads",
                 rc == 0 && c.batch_size == 6 && strstr(warnings, "ckpt[config]:2: warning: unknown key 'log_id'"));
    printf("# %s", warnings);
    capture_begin();
    rc = sb_config_load(&c, put("twice.yml", "batch_size: 5\nbatch_size: 6\n"));
    warnings = capture_end();
    t_check_true("a key given twice: warning, the later value wins",
                 rc == 0 && c.batch_size == 6 && strstr(warnings, "twice.yml:2: warning: batch_size given again"));
}

/* sb_config_load_sets: file, then each KEY=VALUE in order. */
static int load_sets(sb_config *c, const char *file_text, int n, const char *const *sets) {
    return sb_config_load_sets(c, put("sets.yml", file_text), sets, n);
}

static void check_sets(void) {
    sb_config c;
    const char *file = "task_types: [sketchretrieval]\nget_type: triplet\nbatch_size: 5\nlog_dir: run\n";
    const char *ok[] = {"batch_size=3", "layers_setting=[[2, 64, 96]]", "log_dir='a b'", "mask_prob=0.5",
                        "cls_limit_path=", "batch_size=4"};
    capture_begin();
    int rc = load_sets(&c, file, 6, ok);
    const char *warnings = capture_end();
    if (rc) printf("# %s\n", sb_last_error());
    t_check_true("--set: typed like the YAML, later ones win, no warning",
                 rc == 0 && c.batch_size == 4 && layers_are(&c, 1, 2, 64, 96) && !strcmp(c.log_dir, "a b") &&
                     c.mask_prob == 0.5 && !c.cls_limit_path[0] && c.get_type == SB_GET_TRIPLET && !warnings[0]);
    static const struct {
        const char *set, *needle;
    } bad[] = {
        {"learning_rat=0.1", "--set learning_rat=0.1: unknown key 'learning_rat' (did you mean learning_rate?)"},
        {"batch_size=0", "--set batch_size=0: batch_size: 0 is out of range (allowed: an integer in [1, 1048576])"},
        {"batch_size='10'", "--set batch_size='10': batch_size: '10' is not an integer (quoted"},
        {"batch_size", "--set batch_size: expected KEY=VALUE"},
        {"=3", "--set =3: expected KEY=VALUE"},
        {"layers_setting=[[2, 64", "--set layers_setting=[[2, 64: YAML syntax error: did not find"},
        {"get_type=single", "--set get_type=single: get_type: task sketchretrieval trains on"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[160];
        sb_config_default(&c);
        c.batch_size = 77;
        snprintf(what, sizeof what, "--set %s is refused, naming the --set", bad[i].set);
        t_check_error(what, load_sets(&c, file, 1, &bad[i].set), bad[i].needle);
        if (c.batch_size != 77) t_check_true("a refused --set leaves the config unchanged", 0);
    }
}

static void check_round_trip(void) {
    sb_config c;
    sb_config_default(&c);
    t_check_true("defaults round-trip", round_trips(&c));
    c.n_tasks = 3;
    c.task_types[0] = SB_TASK_SKETCHRETRIEVAL, c.task_types[1] = SB_TASK_MASKREC;
    c.task_types[2] = SB_TASK_SKETCHCLSINPUT;
    c.get_type = SB_GET_TRIPLET;
    c.load_pretrained = SB_LOAD_CONTINUE;
    c.which_pretrained = SB_RESTORE_ENC_NET | SB_RESTORE_TASK_OPT;
    snprintf(c.restore_checkpoint_path, sizeof c.restore_checkpoint_path, "runs/it's here #1: \"x\".st");
    c.cls_limit_path[0] = '\0';
    c.model_type = SB_MODEL_BERT;
    c.n_layers = 3;
    c.layers_setting[2] = (sb_layer_setting){4, 768, 1000};
    memset(&c.layers_setting[3], 0, sizeof c.layers_setting - 3 * sizeof c.layers_setting[0]);
    c.rel_layers_setting = (sb_dims){2, {256, 7}};
    c.mask_prob = 1.0 / 3, c.learning_rate = 3e-7, c.limit = 1e300, c.triplet_margin = 0.1;
    c.num_iterations = 5000000000;
    c.seed = UINT64_MAX;
    snprintf(c.device, sizeof c.device, "None");
    c.eval_dropout = c.eval_mask = c.skip_nonfinite = 1;
    c.warmup_steps = 100, c.lr_schedule = SB_LR_COSINE, c.optimizer = SB_OPTIMIZER_ADAMW;
    c.weight_decay = 0.01, c.grad_clip = 1.0;
    snprintf(c.normalization_type, sizeof c.normalization_type, "var_scale");
    snprintf(c.dataset, sizeof c.dataset, "tuberlin_memmap");
    t_check_true("every kind of value round-trips (quotes, 1/3, 3e-7, 2^64-1, 'None')", round_trips(&c));
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
    const char *root = getenv("SKETCHBERT_SOURCE_ROOT");
    check_defaults();
    check_shipped(root ? root : ".");
    check_include();
    check_refusals();
    check_files_and_syntax();
    check_sets();
    check_round_trip();
    for (int i = n_created - 1; i >= 0; i--) remove(created[i]);
    remove(err_path);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/parts", dir);
    rmdir(sub);
    rmdir(dir);
    return t_finish(NULL);
}
