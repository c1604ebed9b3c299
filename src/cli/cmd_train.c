/* `sketchbert train CONFIG.yml` and `sketchbert test CONFIG.yml`: the
 * original's main.py train / test, on the library's training loop. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "data/memmap.h"
#include "dist/dist.h"
#include "io/atomic_file.h"
#include "io/config.h"
#include "train/metrics.h"
#include "train/run_dir.h"
#include "train/train.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void train_usage(FILE *f) {
    fprintf(f, "usage: sketchbert train CONFIG.yml [--set KEY=VALUE]... [--steps N] [--log-dir DIR]\n"
               "                        [--continue | --overwrite] [--quiet] [--tensorboard]\n"
               "\n"
               "Trains as the config says (the original's keys; docs/training.md, docs/config.md).\n"
               "  --set KEY=VALUE  overrides a config key, VALUE as in the YAML (repeatable;\n"
               "                 e.g. --set batch_size=16 --set 'layers_setting=[[4, 128, 512]]')\n"
               "  --steps N      stop after N steps of this run (a checkpoint is written)\n"
               "  --log-dir DIR  overrides log_dir: checkpoints, log.jsonl, config.yml\n"
               "  --continue     resume the run in log_dir from latest_ckpt.safetensors\n"
               "                 (load_pretrained continue with every which_pretrained part)\n"
               "  --overwrite    replace a run already in log_dir (without it, that is refused);\n"
               "                 the old run is kept until the new one writes its first checkpoint\n"
               "  --quiet        no progress lines (warnings still go to stderr)\n"
               "  --tensorboard  also write TensorBoard event files of the logged scalars to\n"
               "                 log_dir (the config key tensorboard: true)\n"
               "One train at a time per log_dir (log_dir/train.lock). Ctrl-C (SIGINT) or SIGTERM\n"
               "writes latest_ckpt.safetensors and stops; a second one kills at once.\n"
               "exit codes: 0 done or stopped cleanly, 1 failure, 2 bad usage\n");
}

/* With several ranks and no device named (--device, the config's device,
 * $SKETCHBERT_DEVICE), each rank takes the GPU of its node-local rank
 * (round robin); without GPUs every rank takes the default device. */
static const char *rank_device(char *buf, size_t cap) {
    sb_device_info *list;
    int count;
    if (sb_dist_size() <= 1 || sb_devices_list(&list, &count)) return NULL;
    int pick = sb_dist_device_for(list, count, sb_dist_local_rank());
    free(list);
    if (pick < 0) return NULL;
    snprintf(buf, cap, "%d", pick);
    return buf;
}

/* Loads the config; the global --device overrides the config's device. */
static sb_runtime *open_runtime(const cli_options *co, const sb_config *cfg) {
    cli_options o = *co;
    char sel[32];
    const char *env = getenv("SKETCHBERT_DEVICE");
    if (!o.device && cfg->device[0]) o.device = cfg->device;
    if (!o.device && !(env && *env)) o.device = rank_device(sel, sizeof sel);
    return cli_runtime(&o);
}

int cmd_train(const cli_options *co, int argc, char **argv) {
    const char *config_path = NULL, *log_dir = NULL;
    long long steps = 0;
    int resume = 0, quiet = 0, overwrite = 0;
    cli_sets sets = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return train_usage(stdout), 0;
        if (!strcmp(a, "--steps") && i + 1 < argc) {
            char *end;
            steps = strtoll(argv[++i], &end, 10);
            if (*end || steps <= 0) {
                fprintf(stderr, "sketchbert train: --steps needs a positive number\n");
                return 2;
            }
        } else if (!strcmp(a, "--log-dir") && i + 1 < argc) {
            log_dir = argv[++i];
        } else if (!strcmp(a, "--set") && i + 1 < argc) {
            if (cli_add_set(&sets, "train", argv[++i])) return 2;
        } else if (!strcmp(a, "--continue")) {
            resume = 1;
        } else if (!strcmp(a, "--overwrite")) {
            overwrite = 1;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--tensorboard")) {
            static char on[] = "tensorboard=true";
            if (cli_add_set(&sets, "train", on)) return 2;
        } else if (a[0] != '-' && !config_path) {
            config_path = a;
        } else {
            fprintf(stderr, "sketchbert train: unexpected argument '%s'\n", a);
            train_usage(stderr);
            return 2;
        }
    }
    if (!config_path) {
        train_usage(stderr);
        return 2;
    }
    if (resume && overwrite) {
        fprintf(stderr, "sketchbert train: --continue keeps the run in log_dir, --overwrite replaces it: choose one\n");
        return 2;
    }
    /* one rank (no MPI launcher): exactly the single-process run */
    if (sb_dist_init()) {
        fprintf(stderr, "sketchbert train: %s\n", sb_last_error());
        return 1;
    }
    sb_config cfg;
    sb_config_default(&cfg);
    if (sb_config_load_sets(&cfg, config_path, sets.v, sets.n)) {
        fprintf(stderr, "sketchbert train: %s\n", sb_last_error());
        sb_dist_abort(1);
        return 1;
    }
    if (log_dir) snprintf(cfg.log_dir, sizeof cfg.log_dir, "%s", log_dir);
    if (resume) {
        cfg.load_pretrained = SB_LOAD_CONTINUE;
        cfg.which_pretrained = SB_RESTORE_ENC_NET | SB_RESTORE_ENC_OPT | SB_RESTORE_TASK_NET | SB_RESTORE_TASK_OPT;
        if (snprintf(cfg.restore_checkpoint_path, sizeof cfg.restore_checkpoint_path, "%s/latest_ckpt.safetensors",
                     cfg.log_dir) >= (int)sizeof cfg.restore_checkpoint_path) {
            fprintf(stderr, "sketchbert train: log_dir is too long\n");
            return 2;
        }
    }
    sb_runtime *rt = open_runtime(co, &cfg);
    if (!rt) {
        sb_dist_abort(1);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; /* a second signal has the default effect */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sb_train_options opt = {
        .max_steps = steps, .overwrite = overwrite, .out = quiet ? NULL : stdout, .warn = stderr, .stop = &stop_requested};
    int rc = sb_train(rt, &cfg, &opt);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (rc) fprintf(stderr, "sketchbert train: %s\n", sb_last_error());
    sb_runtime_destroy(rt);
    /* the other ranks may wait in a collective for this one: end them all */
    if (rc) sb_dist_abort(1);
    sb_dist_finalize();
    return rc ? 1 : 0;
}

static void test_usage(FILE *f) {
    fprintf(f, "usage: sketchbert test CONFIG.yml [--set KEY=VALUE]... [--checkpoint PATH] [--split train|valid|test]\n"
               "                       [--log-dir DIR] [--max-per-class N] [--confusion FILE.csv] [--per-class FILE.csv]\n"
               "\n"
               "Evaluates the networks of a checkpoint on a split: the losses of the config's\n"
               "tasks, classification top-1/top-5 (also per class), retrieval top-1/top-5/top-10\n"
               "and mAP (docs/training.md says how each is defined).\n"
               "  --set KEY=VALUE    overrides a config key, VALUE as in the YAML (repeatable)\n"
               "  --checkpoint PATH  default: the run in log_dir, its best_ckpt.safetensors,\n"
               "                     else latest_ckpt.safetensors\n"
               "  --log-dir DIR      overrides the config's log_dir\n"
               "  --split S          train, valid or test (default test; the original's test\n"
               "                     command evaluated valid)\n"
               "  --max-per-class N  at most N sketches of each class (default: the whole split)\n"
               "  --confusion FILE   classification: write the confusion matrix as CSV (rows: true\n"
               "                     class, columns: predicted class)\n"
               "  --per-class FILE   classification: write class,sketches,correct_1,accuracy_1 as CSV\n"
               "Under mpirun each rank evaluates a share of the split (docs/distributed.md);\n"
               "rank 0 prints and writes the files.\n"
               "exit codes: 0 done, 1 failure, 2 bad usage\n");
}

/* Rows: the split's classes; columns: every class of the head (those
 * without sketches in the split named by index). */
static int write_confusion(const char *path, const sb_eval_result *r) {
    sb_atomic_file af;
    if (sb_atomic_open(&af, path)) return 1;
    fputs("true\\predicted", af.f);
    for (int c = 0; c < r->cls_dim; c++) {
        fputc(',', af.f);
        if (c < r->n_classes) sb_csv_field(af.f, r->class_names[c]);
        else fprintf(af.f, "class_%d", c);
    }
    fputc('\n', af.f);
    for (int t = 0; t < r->n_classes; t++) {
        sb_csv_field(af.f, r->class_names[t]);
        for (int c = 0; c < r->cls_dim; c++) fprintf(af.f, ",%ld", r->confusion[(size_t)t * r->cls_dim + c]);
        fputc('\n', af.f);
    }
    return sb_atomic_commit(&af) ? 1 : 0;
}

/* Class t's sketches in the split and those whose top-1 was right. */
static void class_counts(const sb_eval_result *r, int t, long *n, long *hit) {
    *n = 0, *hit = r->confusion[(size_t)t * r->cls_dim + t];
    for (int c = 0; c < r->cls_dim; c++) *n += r->confusion[(size_t)t * r->cls_dim + c];
}

/* One row per class of the split: class,sketches,correct_1,accuracy_1. */
static int write_per_class(const char *path, const sb_eval_result *r) {
    sb_atomic_file af;
    if (sb_atomic_open(&af, path)) return 1;
    fputs("class,sketches,correct_1,accuracy_1\n", af.f);
    for (int t = 0; t < r->n_classes; t++) {
        long n, hit;
        class_counts(r, t, &n, &hit);
        sb_csv_field(af.f, r->class_names[t]);
        fprintf(af.f, ",%ld,%ld,%.6f\n", n, hit, n ? (double)hit / (double)n : 0.0);
    }
    return sb_atomic_commit(&af) ? 1 : 0;
}

static void print_result(const sb_config *cfg, const sb_eval_result *r) {
    printf("sketches %ld\n", r->sketches);
    const struct { int on; const char *key; double v; } m[] = {
        {sb_config_has_task(cfg, SB_TASK_MASKREC), "mask_axis", r->loss.mask_axis},
        {sb_config_has_task(cfg, SB_TASK_MASKREC), "mask_type", r->loss.mask_type},
        {r->has_cls, "prediction", r->loss.prediction}, {r->has_rel, "triplet", r->loss.triplet},
        {1, "total", r->loss.total},
        {r->has_cls, "accuracy_1", r->top1}, {r->has_cls, "accuracy_5", r->top5},
        {r->has_rel, "retrieval_1", r->rel_top1}, {r->has_rel, "retrieval_5", r->rel_top5},
        {r->has_rel, "retrieval_10", r->rel_top10}, {r->has_rel, "map", r->rel_map},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (m[i].on) printf("%s %.6f\n", m[i].key, m[i].v);
    if (!r->n_classes) return;
    printf("\n%-32s %10s %9s\n", "class", "accuracy_1", "sketches");
    for (int t = 0; t < r->n_classes; t++) {
        long n, hit;
        class_counts(r, t, &n, &hit);
        printf("%-32s %10.4f %9ld\n", r->class_names[t], n ? (double)hit / (double)n : 0.0, n);
    }
}

int cmd_test(const cli_options *co, int argc, char **argv) {
    const char *config_path = NULL, *checkpoint = NULL, *log_dir = NULL, *confusion = NULL, *per_class = NULL;
    int split = SB_SPLIT_TEST;
    cli_sets sets = {0};
    long max_per_class = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return test_usage(stdout), 0;
        if (!strcmp(a, "--checkpoint") && i + 1 < argc) {
            checkpoint = argv[++i];
        } else if (!strcmp(a, "--set") && i + 1 < argc) {
            if (cli_add_set(&sets, "test", argv[++i])) return 2;
        } else if (!strcmp(a, "--log-dir") && i + 1 < argc) {
            log_dir = argv[++i];
        } else if (!strcmp(a, "--confusion") && i + 1 < argc) {
            confusion = argv[++i];
        } else if (!strcmp(a, "--per-class") && i + 1 < argc) {
            per_class = argv[++i];
        } else if (!strcmp(a, "--max-per-class") && i + 1 < argc) {
            char *end;
            max_per_class = strtol(argv[++i], &end, 10);
            if (*end || max_per_class <= 0 || max_per_class > 1000000000L) {
                fprintf(stderr, "sketchbert test: --max-per-class needs a positive number\n");
                return 2;
            }
        } else if (!strcmp(a, "--split") && i + 1 < argc) {
            const char *s = argv[++i];
            if (!strcmp(s, "valid")) split = SB_SPLIT_VALID;
            else if (!strcmp(s, "test")) split = SB_SPLIT_TEST;
            else if (!strcmp(s, "train")) split = SB_SPLIT_TRAIN;
            else {
                fprintf(stderr, "sketchbert test: --split is train, valid or test, not '%s'\n", s);
                return 2;
            }
        } else if (a[0] != '-' && !config_path) {
            config_path = a;
        } else {
            fprintf(stderr, "sketchbert test: unexpected argument '%s'\n", a);
            test_usage(stderr);
            return 2;
        }
    }
    if (!config_path) {
        test_usage(stderr);
        return 2;
    }
    sb_config cfg;
    sb_config_default(&cfg);
    if (sb_config_load_sets(&cfg, config_path, sets.v, sets.n)) {
        fprintf(stderr, "sketchbert test: %s\n", sb_last_error());
        return 1;
    }
    if (log_dir) snprintf(cfg.log_dir, sizeof cfg.log_dir, "%s", log_dir);
    if ((confusion || per_class) && !sb_config_has_task(&cfg, SB_TASK_SKETCHCLSINPUT)) {
        fprintf(stderr, "sketchbert test: %s needs a classification config (task sketchclsinput)\n",
                confusion ? "--confusion" : "--per-class");
        return 2;
    }
    /* several ranks (mpirun): each evaluates a slice, rank 0 prints and writes */
    if (sb_dist_init()) {
        fprintf(stderr, "sketchbert test: %s\n", sb_last_error());
        return 1;
    }
    int rank0 = sb_dist_rank() == 0;
    if (!rank0 && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "sketchbert test: cannot silence rank %d's output\n", sb_dist_rank());
        sb_dist_abort(1);
        return 1;
    }
    char run_ckpt[SB_CONFIG_PATH_MAX + 64];
    if (!checkpoint) {
        if (sb_run_checkpoint(cfg.log_dir, run_ckpt, sizeof run_ckpt)) {
            fprintf(stderr, "sketchbert test: %s\n", sb_last_error());
            sb_dist_abort(1);
            return 1;
        }
        checkpoint = run_ckpt;
    }
    printf("checkpoint %s\nsplit %s\n", checkpoint, sb_split_names[split]);
    if (max_per_class) printf("max_per_class %ld\n", max_per_class);
    sb_runtime *rt = open_runtime(co, &cfg);
    if (!rt) {
        sb_dist_abort(1);
        return 1;
    }
    sb_eval_result r;
    int rc = sb_evaluate(rt, &cfg, checkpoint, split, (int)max_per_class, &r);
    if (!rc) {
        print_result(&cfg, &r);
        if (confusion && rank0) {
            rc = write_confusion(confusion, &r);
            if (!rc) printf("\nwrote %s\n", confusion);
        }
        if (per_class && rank0 && !rc) {
            rc = write_per_class(per_class, &r);
            if (!rc) printf("wrote %s\n", per_class);
        }
        sb_eval_result_free(&r);
    }
    if (rc) fprintf(stderr, "sketchbert test: %s\n", sb_last_error());
    sb_runtime_destroy(rt);
    if (rc) sb_dist_abort(1);
    sb_dist_finalize();
    return rc ? 1 : 0;
}
