/* The run report page. */
#include "train/report.h"

#include <stdio.h>
#include <string.h>

#include "data/render_svg.h"
#include "io/atomic_file.h"
#include "runtime/error.h"
#include "train/report_chart.h"

static const char *const css =
    "body{font-family:sans-serif;margin:24px;color:#222;max-width:1300px}"
    "h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:28px}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
    "pre{background:#f5f5f5;padding:8px;overflow-x:auto}.warn{color:#b00020}"
    ".charts{display:flex;flex-wrap:wrap;gap:8px}"
    "svg.chart{border:1px solid #eee}svg.chart text{font-size:11px}svg.chart .title{font-size:13px;font-weight:bold}"
    "svg.chart .xt{text-anchor:middle}svg.chart .yt{text-anchor:end}svg.chart .legend{font-size:12px}"
    "svg.chart .frame{fill:none;stroke:#999}svg.chart .grid{stroke:#eee}"
    "svg.chart .curve{fill:none;stroke-width:1.5}table.confusion td{text-align:right}";

static const char *const loss_keys[] = {"mask_axis", "rec_axis", "mask_type", "rec_type", "prediction", "triplet", "total"};
static const char *const metric_prefixes[] = {"accuracy", "retrieval", "map"};

/* 0 loss, 1 metric, 2 anything else (learning rate, speed, new fields). */
static int kind_of(const char *key) {
    for (size_t i = 0; i < sizeof loss_keys / sizeof loss_keys[0]; i++)
        if (!strcmp(key, loss_keys[i])) return 0;
    for (size_t i = 0; i < sizeof metric_prefixes / sizeof metric_prefixes[0]; i++)
        if (!strncmp(key, metric_prefixes[i], strlen(metric_prefixes[i]))) return 1;
    return 2;
}

static void curves(FILE *f, const sb_run_log *log, int log_scale) {
    static const char *const heads[3] = {"Losses", "Metrics", "Learning rate, speed and other values"};
    for (int kind = 0; kind < 3; kind++) {
        int shown = 0;
        for (int i = 0; i < log->n_series; i++) {
            const char *key = log->series[i].key;
            if (kind_of(key) != kind) continue;
            int first = 1; /* one chart per key, at its first series */
            for (int j = 0; j < i; j++) first &= strcmp(log->series[j].key, key) != 0;
            if (!first) continue;
            const sb_run_series *s[2];
            int n = 0;
            if ((s[n] = sb_run_log_find(log, "train", key))) n++;
            if ((s[n] = sb_run_log_find(log, "valid", key))) n++;
            if (!shown++) fprintf(f, "<h3>%s</h3>\n<div class=\"charts\">\n", heads[kind]);
            sb_chart_svg(f, key, s, n, log_scale && kind == 0);
        }
        if (shown) fputs("</div>\n", f);
    }
}

/* The device fields of the start event, shown in the "device used" row. */
static int is_device_field(const char *key) {
    return !strcmp(key, "device") || !strcmp(key, "gemm") || !strcmp(key, "attention");
}

/* A field of the log's last start event, or NULL. */
static const char *start_field(const sb_run_log *log, const char *key) {
    for (int i = 0; log && i < log->n_start_info; i++)
        if (!strcmp(log->start_info[i].key, key)) return log->start_info[i].value;
    return NULL;
}

static void summary(FILE *f, const sb_report_input *in) {
    const sb_run_log *log = in->log;
    fputs("<h2 id=\"summary\">Summary</h2>\n<table>\n", f);
    fputs("<tr><th>run folder</th><td>", f);
    sb_svg_text(f, in->run_dir);
    fputs("</td></tr>\n<tr><th>device used</th><td>", f);
    const char *used = start_field(log, "device");
    if (used) {
        sb_svg_text(f, used);
        const char *gemm = start_field(log, "gemm"), *att = start_field(log, "attention");
        if (gemm) fputs("; GEMMs: ", f), sb_svg_text(f, gemm);
        if (att) fputs("; attention: ", f), sb_svg_text(f, att);
    } else {
        fputs("<span class=\"warn\">device not recorded</span> (", f);
        fputs(log ? "the log's start event predates device records" : "no readable log", f);
        fputs(")", f);
    }
    fputs("</td></tr>\n<tr><th>device in config</th><td>", f);
    sb_svg_text(f, in->device && in->device[0] ? in->device : "the default choice (the config names none)");
    fputs("</td></tr>\n", f);
    if (log) {
        fprintf(f, "<tr><th>last step</th><td>%lld</td></tr>\n", (long long)log->last_step);
        if (log->best_step >= 0)
            fprintf(f, "<tr><th>best validation step</th><td>%lld</td></tr>\n", (long long)log->best_step);
        fprintf(f,
                "<tr><th>log</th><td>%ld lines: %ld train, %ld valid, %ld starts, %ld stopped, %ld non-finite</td></tr>\n",
                log->lines, log->n_train, log->n_valid, log->n_start, log->n_stopped, log->n_nonfinite);
        for (int i = 0; i < log->n_start_info; i++) { /* whatever else the trainer logged at its last start */
            if (is_device_field(log->start_info[i].key)) continue;
            fputs("<tr><th>start: ", f);
            sb_svg_text(f, log->start_info[i].key);
            fputs("</th><td>", f);
            sb_svg_text(f, log->start_info[i].value);
            fputs("</td></tr>\n", f);
        }
    }
    fputs("</table>\n", f);
    if (!log) {
        fputs("<p class=\"warn\">No training log: ", f);
        sb_svg_text(f, in->log_problem ? in->log_problem : "log.jsonl is missing");
        fputs("</p>\n", f);
    } else if (log->bad_lines) {
        fprintf(f, "<p class=\"warn\">%ld line(s) of log.jsonl could not be read and are left out; the first: ",
                log->bad_lines);
        sb_svg_text(f, log->first_bad);
        fputs("</p>\n", f);
    }
}

static void checkpoints(FILE *f, const sb_report_input *in) {
    fputs("<h2 id=\"checkpoints\">Checkpoints</h2>\n", f);
    if (!in->n_ckpts) {
        fputs("<p class=\"warn\">No checkpoint in the run folder.</p>\n", f);
        return;
    }
    fputs("<table>\n<tr><th>file</th><th>step (log)</th><th>size</th></tr>\n", f);
    for (int i = 0; i < in->n_ckpts; i++) {
        const sb_report_checkpoint *c = &in->ckpts[i];
        fputs("<tr><td>", f);
        sb_svg_text(f, c->name);
        if (c->step >= 0) fprintf(f, "</td><td>%lld</td>", (long long)c->step);
        else fputs("</td><td>?</td>", f);
        if (c->bytes >= 0) fprintf(f, "<td>%.1f MiB</td></tr>\n", c->bytes / 1048576.0);
        else fputs("<td class=\"warn\">missing (named in the log)</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* A heading, then text in <pre>, or the warning when text is NULL. */
static void section(FILE *f, const char *id, const char *title, const char *text, const char *missing) {
    fprintf(f, "<h2 id=\"%s\">%s</h2>\n", id, title);
    fputs(text ? "<pre>" : "<p class=\"warn\">", f);
    sb_svg_text(f, text ? text : missing);
    fputs(text ? "</pre>\n" : "</p>\n", f);
}

int sb_report_write(const char *path, const sb_report_input *in) {
    sb_atomic_file af;
    SB_TRY(sb_atomic_open(&af, path));
    FILE *f = af.f;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>sketchbert run ", f);
    sb_svg_text(f, in->run_dir);
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>sketchbert run report: ", css);
    sb_svg_text(f, in->run_dir);
    fputs("</h1>\n", f);
    summary(f, in);
    fputs("<h2 id=\"curves\">Curves</h2>\n", f);
    if (in->log && in->log->n_series) curves(f, in->log, in->log_scale);
    else fputs("<p class=\"warn\">No train or valid values in the log.</p>\n", f);
    if (in->model_html) fputs(in->model_html, f);
    checkpoints(f, in);
    section(f, "resume", "Resume", in->resume_command,
            "Cannot resume: the run folder needs config.yml and latest_ckpt.safetensors.");
    section(f, "config", "Configuration", in->config_text, "config.yml is missing from the run folder.");
    fputs("</body>\n</html>\n", f);
    return sb_atomic_commit(&af);
}
