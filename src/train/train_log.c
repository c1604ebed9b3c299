/* The trainer's log lines: progress text and log.jsonl records
 * (trainer.h). */
#include <math.h>
#include <time.h>

#include "train/trainer.h"

void sb_tlog_num(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, ",\"%s\":%.9g", key, v);
    else fprintf(f, ",\"%s\":null", key);
}

/* A JSON string literal (paths may hold quotes or backslashes). */
void sb_tlog_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", (unsigned char)*s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

int sb_tlog_terms(const trainer *tr, const sb_loss_terms *l, term *out) {
    const sb_config *c = tr->cfg;
    int n = 0;
    if (tr->has_rec) {
        if (c->mask_axis_weight > 0) out[n++] = (term){"mask_axis", l->mask_axis};
        if (c->rec_axis_weight > 0) out[n++] = (term){"rec_axis", l->rec_axis};
        if (c->mask_type_weight > 0) out[n++] = (term){"mask_type", l->mask_type};
        if (c->rec_type_weight > 0) out[n++] = (term){"rec_type", l->rec_type};
    }
    if (tr->has_cls && c->prediction_weight > 0) out[n++] = (term){"prediction", l->prediction};
    if (tr->has_rel && c->triplet_weight > 0) out[n++] = (term){"triplet", l->triplet};
    return n;
}

void sb_tlog_losses(const trainer *tr, FILE *f, const sb_loss_terms *l, int json) {
    term t[6];
    int n = sb_tlog_terms(tr, l, t);
    for (int i = 0; i < n; i++) {
        if (json) sb_tlog_num(f, t[i].name, t[i].value);
        else fprintf(f, " %s %.4f", t[i].name, t[i].value);
    }
    if (json) sb_tlog_num(f, "total", l->total);
    else fprintf(f, " total %.4f", l->total);
}

void sb_tlog_eval(const trainer *tr, FILE *f, const sb_eval_result *r, int json) {
    sb_tlog_losses(tr, f, &r->loss, json);
    const struct { int on; const char *key; double v; } m[] = {
        {r->has_cls, "accuracy_1", r->top1}, {r->has_cls, "accuracy_5", r->top5},
        {r->has_rel, "retrieval_1", r->rel_top1}, {r->has_rel, "retrieval_5", r->rel_top5},
        {r->has_rel, "retrieval_10", r->rel_top10}, {r->has_rel, "map", r->rel_map},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        if (!m[i].on) continue;
        if (json) sb_tlog_num(f, m[i].key, m[i].v);
        else fprintf(f, " %s %.4f", m[i].key, m[i].v);
    }
}

/* Opens a log.jsonl record: event, UTC time (ISO 8601, milliseconds), step. */
void sb_tlog_begin(trainer *tr, const char *event, long long step) {
    struct timespec ts;
    struct tm tm;
    char when[32] = "";
    clock_gettime(CLOCK_REALTIME, &ts);
    if (gmtime_r(&ts.tv_sec, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(tr->log, "{\"event\":\"%s\",\"time\":\"%s.%03ldZ\",\"step\":%lld", event, when, ts.tv_nsec / 1000000,
            step);
}
