/* `sketchbert train CONFIG.yml` and `sketchbert test CONFIG.yml`: the
 * original's main.py train / test, on the library's training loop. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "data/memmap.h"
#include "io/config.h"
#include "train/train.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void train_usage(FILE *f) {
    fprintf(f, "usage: sketchbert train CONFIG.yml [--set KEY=VALUE]... [--steps N] [--log-dir DIR] [--continue]\n"
               "                        [--quiet] [--tensorboard]\n"
               "\n"
               "Trains as the config says (the original's keys; docs/training.md, docs/config.md).\n"
               "  --set KEY=VALUE  overrides a config key, VALUE as in the YAML (repeatable;\n"
               "                 e.g. --set batch_size=16 --set 'layers_setting=[[4, 128, 512]]')\n"
               "  --steps N      stop after N steps of this run (a checkpoint is written)\n"
               "  --log-dir DIR  overrides log_dir: checkpoints, log.jsonl, config.yml\n"
               "  --continue     resume the run in log_dir from latest_ckpt.safetensors\n"
               "                 (load_pretrained continue with every which_pretrained part)\n"
               "  --quiet        no progress lines\n"
               "  --tensorboard  also write TensorBoard event files of the logged scalars to\n"
               "                 log_dir (the config key tensorboard: true)\n"
               "Ctrl-C (SIGINT) or SIGTERM writes latest_ckpt.safetensors and stops; a second one\n"
               "kills at once.\n"
               "exit codes: 0 done or stopped cleanly, 1 failure, 2 bad usage\n");
}

/* Loads the config; the global --device overrides the config's device. */
static sb_runtime *open_runtime(const cli_options *co, const sb_config *cfg) {
    cli_options o = *co;
    if (!o.device && cfg->device[0]) o.device = cfg->device;
    return cli_runtime(&o);
}

int cmd_train(const cli_options *co, int argc, char **argv) {
    const char *config_path = NULL, *log_dir = NULL;
    long long steps = 0;
    int resume = 0, quiet = 0;
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
    sb_config cfg;
    sb_config_default(&cfg);
    if (sb_config_load_sets(&cfg, config_path, sets.v, sets.n)) {
        fprintf(stderr, "sketchbert train: %s\n", sb_last_error());
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
    if (!rt) return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; /* a second signal has the default effect */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sb_train_options opt = {steps, quiet ? NULL : stdout, &stop_requested};
    int rc = sb_train(rt, &cfg, &opt);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (rc) fprintf(stderr, "sketchbert train: %s\n", sb_last_error());
    sb_runtime_destroy(rt);
    return rc ? 1 : 0;
}

static void test_usage(FILE *f) {
    fprintf(f, "usage: sketchbert test CONFIG.yml [--set KEY=VALUE]... [--checkpoint PATH] [--split valid|test]\n"
               "\n"
               "Evaluates the networks of a checkpoint (default: the config's\n"
               "restore_checkpoint_path) on a split (default test; the original's test\n"
               "command evaluated the valid split): the losses of the config's tasks,\n"
               "classification top-1/top-5, retrieval top-1/top-5 and mAP.\n"
               "  --set KEY=VALUE  overrides a config key, VALUE as in the YAML (repeatable)\n"
               "exit codes: 0 done, 1 failure, 2 bad usage\n");
}

int cmd_test(const cli_options *co, int argc, char **argv) {
    const char *config_path = NULL, *checkpoint = NULL;
    int split = SB_SPLIT_TEST;
    cli_sets sets = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return test_usage(stdout), 0;
        if (!strcmp(a, "--checkpoint") && i + 1 < argc) {
            checkpoint = argv[++i];
        } else if (!strcmp(a, "--set") && i + 1 < argc) {
            if (cli_add_set(&sets, "test", argv[++i])) return 2;
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
    sb_runtime *rt = open_runtime(co, &cfg);
    if (!rt) return 1;
    sb_eval_result r;
    int rc = sb_evaluate(rt, &cfg, checkpoint, split, &r);
    if (rc) {
        fprintf(stderr, "sketchbert test: %s\n", sb_last_error());
    } else {
        printf("sketches %ld\n", r.sketches);
        const struct { int on; const char *key; double v; } m[] = {
            {sb_config_has_task(&cfg, SB_TASK_MASKREC), "mask_axis", r.loss.mask_axis},
            {sb_config_has_task(&cfg, SB_TASK_MASKREC), "mask_type", r.loss.mask_type},
            {r.has_cls, "prediction", r.loss.prediction}, {r.has_rel, "triplet", r.loss.triplet},
            {1, "total_loss", r.loss.total},
            {r.has_cls, "accuracy_1", r.top1}, {r.has_cls, "accuracy_5", r.top5},
            {r.has_rel, "retrieval_1", r.rel_top1}, {r.has_rel, "retrieval_5", r.rel_top5}, {r.has_rel, "map", r.rel_map},
        };
        for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
            if (m[i].on) printf("%s %.6f\n", m[i].key, m[i].v);
    }
    sb_runtime_destroy(rt);
    return rc ? 1 : 0;
}
