/* classify: the k most likely classes of the sketches in an .npz or
 * .ndjson file, through the public sketchbert API only.
 *
 *   cc classify.c $(pkg-config --cflags --libs sketchbert) -o classify
 *   ./classify model.safetensors cat.npz [K]
 *
 * Prints one line per sketch: its index, its label, then K "class
 * probability" pairs, best first; then how many top-1 classes matched the
 * sketches' labels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sketchbert/sketchbert.h>

static int fail(const char *what) {
    fprintf(stderr, "classify: %s: %s\n", what, sb_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s CHECKPOINT FILE.npz|FILE.ndjson [K]\n", argv[0]);
        return 2;
    }
    int k = argc > 3 ? atoi(argv[3]) : 3;
    sb_context *ctx = NULL;
    sb_model_handle *model = NULL;
    sb_sketches *sketches = NULL;
    if (sb_context_create(&ctx, NULL) != SB_OK) return fail("device");
    if (sb_model_open(ctx, argv[1], 16, &model) != SB_OK || sb_model_require(model, SB_HEAD_CLASSIFY) != SB_OK)
        return fail(argv[1]);
    if (sb_sketches_create(&sketches) != SB_OK || sb_sketches_load(sketches, argv[2], "test", 0) != SB_OK)
        return fail(argv[2]);
    int n = sb_sketches_count(sketches), classes = sb_model_num_classes(model);
    if (k < 1 || k > classes) k = classes;
    int *top = malloc(sizeof(int) * (size_t)n * (size_t)k);
    float *prob = malloc(sizeof(float) * (size_t)n * (size_t)k);
    if (!top || !prob) return 1;
    if (sb_classify(model, sketches, k, top, prob) != SB_OK) return fail("classify");
    int hits = 0;
    for (int i = 0; i < n; i++) {
        printf("%d %s:", i, sb_sketches_label(sketches, i));
        for (int j = 0; j < k; j++)
            printf(" %s %.3f", sb_model_class_name(model, top[i * k + j]), (double)prob[i * k + j]);
        printf("\n");
        hits += strcmp(sb_model_class_name(model, top[i * k]), sb_sketches_label(sketches, i)) == 0;
    }
    printf("%d of %d sketches: top-1 class equals the label (sketchbert %s)\n", hits, n, sb_version());
    free(top), free(prob);
    sb_sketches_destroy(sketches);
    sb_model_close(model);
    sb_context_destroy(ctx);
    return 0;
}
