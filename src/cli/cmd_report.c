/* `sketchbert report RUN_DIR`: one self-contained HTML page of a training
 * run (src/train/report.c) from its log.jsonl, config.yml and checkpoints. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "cli/report_model.h"
#include "runtime/error.h"
#include "train/report.h"

enum { MAX_CKPTS = 256 };

static void usage(FILE *f) {
    fprintf(f, "usage: sketchbert report RUN_DIR [-o OUT.html] [--log-scale] [--checkpoint CKPT]\n"
               "                         [--limit N] [--no-model]\n"
               "\n"
               "Writes one self-contained HTML page (inline SVG and CSS, no script, no network)\n"
               "of a training run: curves of every loss term and metric in RUN_DIR/log.jsonl\n"
               "(train and valid) over steps, learning rate and steps/s, the checkpoints, the\n"
               "command to resume, the device the run used and RUN_DIR/config.yml. What is\n"
               "missing or unreadable is said on the page (and on stderr). The model is also\n"
               "run on the validation split of the config's data (on the global --device): a\n"
               "classifier's per-class accuracy, confusion matrix and misclassified sketches;\n"
               "a retrieval model's top-k and mAP and a few queries with their 5 nearest\n"
               "(same class framed green, others red); a maskrec model's gestalt completions.\n"
               "  -o OUT.html        output file (default RUN_DIR/report.html)\n"
               "  --log-scale        loss curves on a log10 axis\n"
               "  --checkpoint CKPT  the model to draw (default RUN_DIR/best_ckpt.safetensors,\n"
               "                     else RUN_DIR/latest_ckpt.safetensors)\n"
               "  --limit N          validation sketches per class (default: the config's\n"
               "                     each_val_samples, as the run's validation; 0 all)\n"
               "  --no-model         curves and run facts only; no model is run\n"
               "exit codes: 0 written, 1 failure (RUN_DIR holds no run, output), 2 bad usage\n");
}

/* The whole file, or NULL when it cannot be read. */
static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    long n = fseek(f, 0, SEEK_END) ? -1 : ftell(f);
    char *s = n >= 0 && !fseek(f, 0, SEEK_SET) ? malloc((size_t)n + 1) : NULL;
    if (s) s[fread(s, 1, (size_t)n, f)] = 0;
    fclose(f);
    return s;
}

/* The value of a top-level `KEY:` line of the config text, unquoted. */
static void config_value(const char *text, const char *key, char *out, size_t cap) {
    out[0] = 0;
    size_t k = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, key, k) || l[k] != ':') continue;
        const char *v = l + k + 1;
        while (*v == ' ') v++;
        size_t n = strcspn(v, "\r\n#");
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\'' || v[n - 1] == '"')) n--;
        if (*v == '\'' || *v == '"') v++, n = n ? n - 1 : 0;
        snprintf(out, cap, "%.*s", (int)n, v);
    }
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const sb_report_checkpoint *)a)->name, ((const sb_report_checkpoint *)b)->name);
}

/* The *_ckpt.safetensors files of dir, and those the log names that are gone. */
static int list_checkpoints(const char *dir, const sb_run_log *log, sb_report_checkpoint *c, char names[][256]) {
    int n = 0;
    DIR *d = opendir(dir);
    const char *suffix = "_ckpt.safetensors";
    for (struct dirent *e; d && (e = readdir(d)) && n < MAX_CKPTS;) {
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        if (len < sl || strcmp(e->d_name + len - sl, suffix) || len >= 256) continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st)) continue;
        snprintf(names[n], 256, "%s", e->d_name);
        c[n] = (sb_report_checkpoint){names[n], (long long)st.st_size, -1};
        n++;
    }
    if (d) closedir(d);
    for (int i = 0; log && i < log->n_ckpt; i++) {
        const char *b = base_name(log->ckpt[i].path);
        int j = 0;
        while (j < n && strcmp(c[j].name, b)) j++;
        if (j == n) {
            if (n == MAX_CKPTS || strlen(b) >= 256) continue;
            snprintf(names[n], 256, "%s", b);
            c[n++] = (sb_report_checkpoint){names[n - 1], -1, -1};
        }
        c[j].step = log->ckpt[i].step;
    }
    qsort(c, (size_t)n, sizeof *c, by_name);
    return n;
}

/* dir as one shell word. */
static void shell_word(char *out, size_t cap, const char *s) {
    if (!s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-+=:,")]) {
        snprintf(out, cap, "%s", s);
        return;
    }
    size_t n = 0;
    out[n++] = '\'';
    for (; *s && n + 6 < cap; s++) {
        if (*s == '\'') memcpy(out + n, "'\\''", 4), n += 4;
        else out[n++] = *s;
    }
    out[n++] = '\'';
    out[n] = 0;
}

int cmd_report(const cli_options *o, int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *checkpoint = NULL;
    int log_scale = 0, model = 1, limit = -1; /* -1: the config's each_val_samples */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--checkpoint") && i + 1 < argc) {
            checkpoint = argv[++i];
        } else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
            char *end;
            limit = (int)strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || limit < 0) {
                fprintf(stderr, "sketchbert report: --limit '%s' is not a count\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--log-scale")) {
            log_scale = 1;
        } else if (!strcmp(argv[i], "--no-model")) {
            model = 0;
        } else if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "sketchbert report: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            dir = argv[i];
        }
    }
    if (!dir) {
        usage(stderr);
        return 2;
    }
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "sketchbert report: %s is not a directory\n", dir);
        return 1;
    }
    char path[4096], default_out[4096], problem[512] = "", device[256] = "";
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    sb_run_log log;
    int have_log = sb_run_log_read(path, &log) == 0;
    if (!have_log) snprintf(problem, sizeof problem, "%s", sb_last_error());
    snprintf(path, sizeof path, "%s/config.yml", dir);
    char *config = read_text(path);
    if (config) config_value(config, "device", device, sizeof device);
    static sb_report_checkpoint ckpts[MAX_CKPTS];
    static char names[MAX_CKPTS][256];
    int n_ckpts = list_checkpoints(dir, have_log ? &log : NULL, ckpts, names);
    if (!have_log && !config && !n_ckpts) {
        fprintf(stderr, "sketchbert report: %s holds no log.jsonl, config.yml or checkpoint: not a training run\n", dir);
        return 1;
    }
    if (!have_log) fprintf(stderr, "sketchbert report: warning: %s\n", problem);
    else if (log.bad_lines)
        fprintf(stderr, "sketchbert report: warning: %s/log.jsonl: %ld unreadable line(s) left out; %s\n", dir,
                log.bad_lines, log.first_bad);
    if (!config) fprintf(stderr, "sketchbert report: warning: %s/config.yml is missing\n", dir);
    for (int i = 0; i < n_ckpts; i++)
        if (ckpts[i].bytes < 0)
            fprintf(stderr, "sketchbert report: warning: checkpoint %s/%s named in the log is missing\n", dir,
                    ckpts[i].name);
    char *model_html = NULL, ckpt[4096], data[4096] = "";
    if (model) {
        if (!checkpoint) {
            snprintf(ckpt, sizeof ckpt, "%s/best_ckpt.safetensors", dir);
            if (stat(ckpt, &st)) snprintf(ckpt, sizeof ckpt, "%s/latest_ckpt.safetensors", dir);
            if (!stat(ckpt, &st)) checkpoint = ckpt;
        }
        if (config) config_value(config, "sum_path", data, sizeof data);
        if (limit < 0 && config) { /* as the run's validation did, so the numbers agree with the log */
            char v[32];
            config_value(config, "each_val_samples", v, sizeof v);
            limit = atoi(v);
        }
        if (limit < 0) limit = 0;
        char *slash = strrchr(data, '/');
        if (slash) *slash = 0;
        else if (data[0]) snprintf(data, sizeof data, ".");
        model_html = cli_report_model(o, checkpoint, data[0] ? data : NULL, limit);
    }
    char word[2048], resume[4600];
    snprintf(path, sizeof path, "%s/latest_ckpt.safetensors", dir);
    int can_resume = config && stat(path, &st) == 0;
    shell_word(word, sizeof word, dir);
    snprintf(resume, sizeof resume, "sketchbert train %s/config.yml --log-dir %s --continue", word, word);
    if (!out) snprintf(default_out, sizeof default_out, "%s/report.html", dir), out = default_out;
    sb_report_input in = {dir, have_log ? &log : NULL, have_log ? NULL : problem, config, device, ckpts, n_ckpts,
                          can_resume ? resume : NULL, log_scale, model_html};
    int rc = sb_report_write(out, &in);
    if (rc) fprintf(stderr, "sketchbert report: %s\n", sb_last_error());
    else printf("wrote %s\n", out);
    if (have_log) sb_run_log_free(&log);
    free(config);
    free(model_html);
    return rc ? 1 : 0;
}
