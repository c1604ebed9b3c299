/* SVG line charts for the run report. */
#include "train/report_chart.h"

#include <math.h>
#include <string.h>

#include "data/render_svg.h"

enum { W = 600, H = 260, ML = 64, MR = 16, MT = 30, MB = 36, DOTS_MAX = 60 };

/* train blue, valid orange, whichever of them a chart has */
static const char *colour(const char *event) { return !strcmp(event, "train") ? "#1f77b4" : "#ff7f0e"; }

/* Ticks at 1, 2 or 5 times a power of ten, about 5 over [lo, hi]. */
static int nice_ticks(double lo, double hi, double *t, int cap) {
    double raw = (hi - lo) / 5, p = pow(10, floor(log10(raw))), step = p;
    if (raw / p > 5) step = 10 * p;
    else if (raw / p > 2) step = 5 * p;
    else if (raw / p > 1) step = 2 * p;
    int n = 0;
    for (double v = ceil(lo / step) * step; v <= hi + step * 1e-9 && n < cap; v += step)
        t[n++] = fabs(v) < step * 1e-9 ? 0 : v;
    return n;
}

static int usable(double v, int log_y) { return isfinite(v) && (!log_y || v > 0); }

void sb_chart_svg(FILE *f, const char *title, const sb_run_series *const *series, int n, int log_y) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < n; s++)
        for (int i = 0; i < series[s]->n; i++) {
            double v = series[s]->value[i];
            x0 = fmin(x0, (double)series[s]->step[i]), x1 = fmax(x1, (double)series[s]->step[i]);
            if (usable(v, log_y)) v = log_y ? log10(v) : v, y0 = fmin(y0, v), y1 = fmax(y1, v);
        }
    fprintf(f, "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            W, H, W, H);
    fprintf(f, "<text x=\"%d\" y=\"18\" class=\"title\">", ML);
    sb_svg_text(f, title);
    fprintf(f, "%s</text>\n", log_y ? " (log scale)" : "");
    if (!isfinite(y0)) {
        fprintf(f, "<text x=\"%d\" y=\"%d\">no %svalues logged</text>\n</svg>\n", ML, H / 2,
                log_y ? "positive finite " : "finite ");
        return;
    }
    if (x1 <= x0) x0 -= 1, x1 += 1;
    if (y1 <= y0) {
        double d = fabs(y0) > 0 ? fabs(y0) * 0.05 : 1;
        y0 -= d, y1 += d;
    } else {
        double d = (y1 - y0) * 0.05;
        y0 -= d, y1 += d;
    }
    double pw = W - ML - MR, ph = H - MT - MB;
#define PX(x) (ML + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (MT + ph - ((y) - y0) / (y1 - y0) * ph)
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" class=\"frame\"/>\n", ML, MT, pw, ph);
    double t[16];
    int nt = nice_ticks(x0, x1, t, 16);
    for (int i = 0; i < nt; i++)
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.0f\" class=\"grid\"/><text x=\"%.1f\" y=\"%.0f\" "
                "class=\"xt\">%.0f</text>\n",
                PX(t[i]), MT, PX(t[i]), MT + ph, PX(t[i]), MT + ph + 14, t[i]);
    fprintf(f, "<text x=\"%.0f\" y=\"%d\" class=\"xt\">step</text>\n", ML + pw / 2, H - 4);
    /* a log axis spanning less than a decade gets ticks at round values */
    int round_values = log_y && y1 - y0 < 1;
    nt = round_values ? nice_ticks(pow(10, y0), pow(10, y1), t, 16) : nice_ticks(y0, y1, t, 16);
    for (int i = 0; i < nt; i++)
        if (round_values) t[i] = log10(t[i]);
    for (int i = 0; i < nt; i++)
        fprintf(f,
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" class=\"grid\"/><text x=\"%d\" y=\"%.1f\" "
                "class=\"yt\">%.3g</text>\n",
                ML, PY(t[i]), ML + pw, PY(t[i]), ML - 4, PY(t[i]) + 4, log_y ? pow(10, t[i]) : t[i]);
    for (int s = 0; s < n; s++) {
        const sb_run_series *r = series[s];
        int points = 0;
        for (int i = 0; i < r->n; i++) points += usable(r->value[i], log_y);
        fprintf(f, "<path class=\"curve\" data-series=\"%s/", r->event);
        sb_svg_text(f, r->key);
        fprintf(f, "\" data-points=\"%d\" stroke=\"%s\" d=\"", points, colour(r->event));
        int gap = 1;
        for (int i = 0; i < r->n; i++) {
            double v = r->value[i];
            if (!usable(v, log_y)) {
                gap = 1;
                continue;
            }
            fprintf(f, "%s%.1f,%.1f", gap ? (i ? " M" : "M") : " L", PX((double)r->step[i]), PY(log_y ? log10(v) : v));
            gap = 0;
        }
        fputs("\"/>\n", f);
        if (r->n <= DOTS_MAX)
            for (int i = 0; i < r->n; i++)
                if (usable(r->value[i], log_y))
                    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", PX((double)r->step[i]),
                            PY(log_y ? log10(r->value[i]) : r->value[i]), colour(r->event));
        fprintf(f, "<text x=\"%d\" y=\"18\" class=\"legend\" fill=\"%s\">%s</text>\n", W - MR - 60 * (n - s),
                colour(r->event), r->event);
    }
#undef PX
#undef PY
    fputs("</svg>\n", f);
}
