/* The model keys in which two configs differ (see config_diff.h). */
#include "train/config_diff.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void cat(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char *buf, size_t cap, const char *fmt, ...) {
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    if (n < cap) vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

static void cat_layers(char *buf, size_t cap, const sb_config *c) {
    cat(buf, cap, "[");
    for (int l = 0; l < c->n_layers; l++)
        cat(buf, cap, "%s[%d, %d, %d]", l ? ", " : "", c->layers_setting[l].heads, c->layers_setting[l].hidden,
            c->layers_setting[l].intermediate);
    cat(buf, cap, "]");
}

static void cat_dims(char *buf, size_t cap, const sb_dims *d) {
    cat(buf, cap, "[");
    for (int i = 0; i < d->n; i++) cat(buf, cap, "%s%d", i ? ", " : "", d->d[i]);
    cat(buf, cap, "]");
}

void sb_config_model_diff(const sb_config *ck, const sb_config *own, int heads, char *buf, size_t cap) {
    buf[0] = '\0';
    const char *sep = "";
    if (ck->model_type != own->model_type)
        cat(buf, cap, "model_type %s in the checkpoint's config, %s in this one", ck->model_type ? "bert" : "albert",
            own->model_type ? "bert" : "albert"), sep = "; ";
    if (ck->n_layers != own->n_layers ||
        memcmp(ck->layers_setting, own->layers_setting, sizeof(sb_layer_setting) * (size_t)own->n_layers)) {
        cat(buf, cap, "%slayers_setting ", sep), cat_layers(buf, cap, ck);
        cat(buf, cap, " in the checkpoint's config, "), cat_layers(buf, cap, own), cat(buf, cap, " in this one");
        sep = "; ";
    }
    const struct { const char *key; const sb_dims *a, *b; int head; } dims[] = {
        {"embed_layers_setting", &ck->embed_layers_setting, &own->embed_layers_setting, 0},
        {"rec_layers_setting", &ck->rec_layers_setting, &own->rec_layers_setting, 1},
        {"cls_layers_setting", &ck->cls_layers_setting, &own->cls_layers_setting, 1},
        {"rel_layers_setting", &ck->rel_layers_setting, &own->rel_layers_setting, 1},
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        if ((dims[i].head && !heads) || !memcmp(dims[i].a, dims[i].b, sizeof *dims[i].a)) continue;
        cat(buf, cap, "%s%s ", sep, dims[i].key), cat_dims(buf, cap, dims[i].a);
        cat(buf, cap, " in the checkpoint's config, "), cat_dims(buf, cap, dims[i].b), cat(buf, cap, " in this one");
        sep = "; ";
    }
    const struct { const char *key; int a, b, head; } ints[] = {
        {"input_dim", ck->input_dim, own->input_dim, 0},
        {"cls_dim", ck->cls_dim, own->cls_dim, 1},
        {"rel_feat_dim", ck->rel_feat_dim, own->rel_feat_dim, 1},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if ((!ints[i].head || heads) && ints[i].a != ints[i].b)
            cat(buf, cap, "%s%s %d in the checkpoint's config, %d in this one", sep, ints[i].key, ints[i].a, ints[i].b),
                sep = "; ";
}
