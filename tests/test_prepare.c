/* `sketchbert prepare`: npz -> memmap gives back every original int16
 * point (synthetic sketches always, the shared real npz files when
 * present); ndjson splits are seeded, disjoint and complete; bad inputs
 * fail with a message and leave no data file behind; TU-Berlin SVG folders
 * and filelist.txt give the known stroke-3 of generated drawings.
 * usage: test_prepare SKETCHBERT-SYNTH */
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "data/memmap.h"
#include "io/npz.h"
#include "test_util.h"

static char tmp[] = "/tmp/sketchbert_test_prepare_XXXXXX";

static int prepare(int argc, const char **argv) {
    cli_options o = {0};
    return cmd_prepare(&o, argc, (char **)argv);
}

static int count_files(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t l = strlen(e->d_name), s = strlen(suffix);
        n += l >= s && !strcmp(e->d_name + l - s, suffix);
    }
    if (d) closedir(d);
    return n;
}

/* Every sketch of every split of each npz equals its memmap copy. */
static int same_as_npz(const char *out, char **npz, int n) {
    sb_mm_index idx;
    if (sb_mm_index_load(&idx, out)) return printf("# %s\n", sb_last_error()), 0;
    int ok = idx.n_classes == (uint32_t)n;
    for (int c = 0; ok && c < n; c++)
        for (int s = 0; ok && s < SB_N_SPLITS; s++) {
            sb_sketch_set set;
            sb_mm_split sp;
            if (sb_npz_load_split(npz[c], sb_split_names[s], &set)) return 0;
            ok = idx.classes[c].count[s] == set.count && sb_mm_split_open(&sp, &idx, (uint32_t)c, s) == 0;
            for (size_t k = 0; ok && k < set.count; k++) {
                sb_mm_range r = idx.classes[c].ranges[s][k];
                ok = r.end - r.start == (uint64_t)set.sketches[k].n &&
                     !memcmp(sp.points + 3 * r.start, set.sketches[k].points, (size_t)set.sketches[k].n * 6);
            }
            sb_mm_split_close(&sp);
            sb_sketch_set_free(&set);
        }
    sb_mm_index_free(&idx);
    return ok;
}

static void test_synthetic(const char *synth) {
    char cmd[600], out[300], *npz[3];
    snprintf(cmd, sizeof cmd, "'%s' --out %s/synth --classes circle,star,house --train 50 --valid 7 --test 9", synth, tmp);
    if (system(cmd) != 0) {
        t_check_true("sketchbert-synth runs", 0);
        return;
    }
    const char *names[3] = {"circle", "star", "house"};
    for (int i = 0; i < 3; i++) {
        npz[i] = malloc(400);
        snprintf(npz[i], 400, "%s/synth/%s.npz", tmp, names[i]);
    }
    snprintf(out, sizeof out, "%s/mm_synth", tmp);
    const char *argv[] = {"prepare", "--quiet", "--out", out, npz[0], npz[1], npz[2]};
    t_check_true("prepare synthetic npz", prepare(7, argv) == 0);
    t_check_true("synthetic npz -> memmap -> every point back", same_as_npz(out, npz, 3));
    for (int i = 0; i < 3; i++) free(npz[i]);
}

static void test_real_npz(const char *data) {
    static const char *sets[] = {"aaron_sheep", "omniglot", "short_kanji", "creativebirds_sample"};
    char *npz[4], out[300];
    for (int i = 0; i < 4; i++) {
        npz[i] = malloc(1200);
        snprintf(npz[i], 1200, "%s/other/%s.npz", data, sets[i]);
    }
    snprintf(out, sizeof out, "%s/mm_real", tmp);
    /* Through a list file, as the original's npz_sum.txt. */
    char list[300];
    snprintf(list, sizeof list, "%s/npz_sum.txt", tmp);
    FILE *f = fopen(list, "w");
    for (int i = 0; i < 4; i++) fprintf(f, "%s\t%d\n", npz[i], i);
    fclose(f);
    const char *argv[] = {"prepare", "--quiet", "--out", out, "--list", list};
    t_check_true("prepare real npz from a list", prepare(6, argv) == 0);
    t_check_true("real npz -> memmap -> every point back", same_as_npz(out, npz, 4));
    for (int i = 0; i < 4; i++) free(npz[i]);
}

static void test_ndjson_split(const char *data) {
    char in[1200], out[300], out2[300];
    snprintf(in, sizeof in, "%s/quickdraw/simplified/cat.ndjson", data);
    snprintf(out, sizeof out, "%s/mm_cat", tmp);
    snprintf(out2, sizeof out2, "%s/mm_cat2", tmp);
    const char *a1[] = {"prepare", "--quiet", "--out", out, "--valid", "3", "--test", "20%", "--seed", "5", in};
    const char *a2[] = {"prepare", "--quiet", "--out", out2, "--valid", "3", "--test", "20%", "--seed", "6", in};
    t_check_true("prepare ndjson", prepare(11, a1) == 0 && prepare(11, a2) == 0);
    sb_mm_index x, y;
    if (sb_mm_index_load(&x, out) || sb_mm_index_load(&y, out2)) {
        t_check_true(sb_last_error(), 0);
        return;
    }
    sb_mm_class *c = &x.classes[0];
    t_check_true("split sizes: 3 valid, 20% test, the rest train",
                 c->count[0] == 17 && c->count[1] == 3 && c->count[2] == 5);
    int differ = 0;
    for (int s = 0; s < SB_N_SPLITS; s++)
        for (uint32_t k = 0; k < c->count[s]; k++)
            differ |= c->ranges[s][k].end - c->ranges[s][k].start !=
                      y.classes[0].ranges[s][k].end - y.classes[0].ranges[s][k].start;
    t_check_true("another seed gives another split", differ);
    sb_mm_index_free(&x);
    sb_mm_index_free(&y);
}

/* Entries of tmp whose name starts with prefix (left-over build folders). */
static int count_prefix(const char *prefix) {
    DIR *d = opendir(tmp);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += !strncmp(e->d_name, prefix, strlen(prefix));
    if (d) closedir(d);
    return n;
}

static int n_classes(const char *out) {
    sb_mm_index idx;
    if (sb_mm_index_load(&idx, out)) return printf("# %s\n", sb_last_error()), -1;
    int n = (int)idx.n_classes;
    sb_mm_index_free(&idx);
    return n;
}

/* An existing dataset is refused without --overwrite, replaced as a whole
 * with it (no stale class files), and kept when the new one fails. */
static void test_overwrite(void) {
    char out[300], a[400], b[400], c[400], bad[400], sum[400], line[600];
    snprintf(out, sizeof out, "%s/mm_over", tmp);
    snprintf(a, sizeof a, "%s/synth/circle.npz", tmp);
    snprintf(b, sizeof b, "%s/synth/star.npz", tmp);
    snprintf(c, sizeof c, "%s/synth/house.npz", tmp);
    snprintf(bad, sizeof bad, "%s/broken.npz", tmp);
    const char *three[] = {"prepare", "--quiet", "--out", out, a, b, c};
    t_check_true("prepare a dataset of 3 classes", prepare(7, three) == 0 && n_classes(out) == 3);
    const char *two[] = {"prepare", "--quiet", "--out", out, a, b};
    int rc = prepare(6, two);
    snprintf(line, sizeof line, "--out %s is not empty", out);
    t_check_error("prepare into it again is refused, naming the folder", rc == 1, line);
    t_check_error("... and the --overwrite choice", rc == 1, "pass --overwrite to replace that dataset");
    t_check_true("... and the dataset is as it was", n_classes(out) == 3 && count_files(out, ".dat") == 9);
    const char *two_over[] = {"prepare", "--quiet", "--overwrite", "--out", out, a, b};
    t_check_true("--overwrite replaces it", prepare(7, two_over) == 0 && n_classes(out) == 2);
    t_check_true("... as a whole: no stale .dat of the class it no longer has", count_files(out, ".dat") == 6);
    snprintf(sum, sizeof sum, "%s/memmap_sum.txt", out);
    FILE *f = fopen(sum, "r");
    char want[400];
    snprintf(want, sizeof want, "%s/circle.dat\t", out);
    t_check_true("... its sum file names the folder, not the one it was built in",
                 f && fgets(line, sizeof line, f) && !strncmp(line, want, strlen(want)));
    if (f) fclose(f);
    t_check_true("... and leaves no build or old folder beside it", count_prefix("mm_over.") == 0);
    const char *failing[] = {"prepare", "--quiet", "--overwrite", "--out", out, b, bad};
    t_check_true("--overwrite with a corrupt input fails", prepare(7, failing) == 1);
    t_check_true("... and the old dataset is intact", n_classes(out) == 2 && count_files(out, ".dat") == 6);
    t_check_true("... with nothing left beside it", count_prefix("mm_over.") == 0);
    snprintf(line, sizeof line, "%s/notes.txt", out);
    f = fopen(line, "w");
    if (f) fclose(f);
    t_check_error("--overwrite refuses a folder holding other files", prepare(7, two_over) == 1,
                  "holds notes.txt, which prepare did not write");
    t_check_true("... and keeps them", access(line, F_OK) == 0 && n_classes(out) == 2);
}

/* ---- TU-Berlin SVG folders */

/* Drawing k: a 3-point stroke shifted by k in x, a 2-point one by k in y. */
static void write_svg(const char *dir, int k) {
    char path[700];
    snprintf(path, sizeof path, "%s/%d.svg", dir, k);
    FILE *f = fopen(path, "w");
    fprintf(f, "<?xml version=\"1.0\"?>\n<svg viewBox=\"0 0 800 800\"><g transform=\"translate(%d,0)\">\n"
               "<path d=\"M 10 20 L 30 20 l 0 30\"/></g>\n<path d=\"M100,%d H110\"/></svg>\n", k, 100 + k);
    fclose(f);
}

/* Every sketch of class c is one of drawings 1..n, each exactly once,
 * with the split counts given. */
static int svg_sketches_ok(const sb_mm_index *idx, uint32_t c, int n, const uint32_t *counts) {
    int seen[64] = {0}, ok = 1;
    for (int s = 0; ok && s < SB_N_SPLITS; s++) {
        sb_mm_split sp;
        ok = idx->classes[c].count[s] == counts[s] && sb_mm_split_open(&sp, idx, c, s) == 0;
        for (uint32_t j = 0; ok && j < counts[s]; j++) {
            sb_mm_range r = idx->classes[c].ranges[s][j];
            const int16_t *p = sp.points + 3 * r.start;
            int k = p[0] - 10;
            int16_t want[15] = {10 + k, 20, 0, 20, 0, 0, 0, 30, 1, 70 - k, 50 + k, 0, 10, 0, 1};
            ok = k >= 1 && k <= n && !seen[k] && r.end - r.start == 5 && !memcmp(p, want, sizeof want);
            if (ok) seen[k] = 1;
        }
        if (idx->classes[c].count[s] == counts[s]) sb_mm_split_close(&sp);
    }
    return ok;
}

static void test_svg(const char *data) {
    char root[300], dir[400], out[300], list[400];
    snprintf(root, sizeof root, "%s/tuberlin", tmp);
    mkdir(root, 0755);
    const char *classes[] = {"alarm clock", "house_2"};
    for (int c = 0; c < 2; c++) {
        snprintf(dir, sizeof dir, "%s/%s", root, classes[c]);
        mkdir(dir, 0755);
        for (int k = 1; k <= 10; k++) write_svg(dir, k);
    }
    snprintf(out, sizeof out, "%s/mm_svg", tmp);
    const char *a1[] = {"prepare", "--quiet", "--out", out, "--valid", "2", "--test", "2", "--seed", "3", root};
    int rc = prepare(11, a1);
    sb_mm_index idx;
    rc = rc ? rc : sb_mm_index_load(&idx, out);
    t_check_true("prepare a TU-Berlin folder (class folders with a space and an underscore)",
                 !rc && idx.n_classes == 2 && !strcmp(idx.classes[0].name, "alarm clock") &&
                     !strcmp(idx.classes[1].name, "house_2"));
    t_check_true("... every drawing once, as its known stroke-3, split 6/2/2",
                 !rc && svg_sketches_ok(&idx, 0, 10, (uint32_t[]){6, 2, 2}) &&
                     svg_sketches_ok(&idx, 1, 10, (uint32_t[]){6, 2, 2}));
    if (!rc) sb_mm_index_free(&idx);

    snprintf(list, sizeof list, "%s/filelist.txt", root);
    FILE *f = fopen(list, "w");
    fputs("house_2/3.svg\nalarm clock/1.svg\nhouse_2/4.svg\nhouse_2/5.svg\nhouse_2/1.svg\nhouse_2/2.svg\n"
          "alarm clock/2.svg\nalarm clock/3.svg\nalarm clock/4.svg\nalarm clock/5.svg\n", f);
    fclose(f);
    snprintf(out, sizeof out, "%s/mm_svg_list", tmp);
    const char *a2[] = {"prepare", "--quiet", "--out", out, "--valid", "1", "--test", "1", list};
    rc = prepare(9, a2);
    rc = rc ? rc : sb_mm_index_load(&idx, out);
    t_check_true("prepare a filelist.txt: classes in the list's order, its files only",
                 !rc && idx.n_classes == 2 && !strcmp(idx.classes[0].name, "house_2") &&
                     svg_sketches_ok(&idx, 0, 5, (uint32_t[]){3, 1, 1}) && svg_sketches_ok(&idx, 1, 5, (uint32_t[]){3, 1, 1}));
    if (!rc) sb_mm_index_free(&idx);

    snprintf(dir, sizeof dir, "%s/house_2/11.svg", root);
    f = fopen(dir, "w");
    fputs("<svg><path d='M 1 2 L 3'/></svg>", f);
    fclose(f);
    snprintf(out, sizeof out, "%s/mm_svg_bad", tmp);
    const char *a3[] = {"prepare", "--quiet", "--out", out, root};
    t_check_error("a broken SVG fails the run, naming the file", prepare(5, a3), "house_2/11.svg:1: svg: expected a number");
    t_check_true("... and leaves no folder behind", access(out, F_OK) != 0 && count_prefix("mm_svg_bad") == 0);

    if (!data) return;
    snprintf(dir, sizeof dir, "%s/other/tuberlin_svg", data);
    snprintf(out, sizeof out, "%s/mm_tuberlin", tmp);
    const char *a4[] = {"prepare", "--quiet", "--simplify", "--out", out, "--valid", "1", "--test", "1", dir};
    rc = prepare(10, a4);
    rc = rc ? rc : sb_mm_index_load(&idx, out);
    int in_range = !rc && idx.n_classes == 3 && !strcmp(idx.classes[1].name, "alarm_clock");
    for (uint32_t c = 0; in_range && c < idx.n_classes; c++) {
        sb_mm_split sp;
        in_range = sb_mm_split_open(&sp, &idx, c, SB_SPLIT_TRAIN) == 0 && idx.classes[c].count[0] == 3;
        for (uint32_t j = 0; in_range && j < 3; j++) {
            sb_mm_range r = idx.classes[c].ranges[0][j];
            int x = 0, y = 0, max = 0;
            for (uint64_t i = r.start; i < r.end; i++) {
                x += sp.points[3 * i], y += sp.points[3 * i + 1];
                in_range &= x >= 0 && y >= 0 && x <= 255 && y <= 255;
                max = x > max ? x : y > max ? y : max;
            }
            in_range &= max == 255 && r.end - r.start < 400; /* scaled to 255, RDP-simplified */
        }
        if (in_range) sb_mm_split_close(&sp);
    }
    t_check_true("real TU-Berlin SVGs with --simplify: 3 classes, drawings scaled to [0, 255] and simplified", in_range);
    if (!rc) sb_mm_index_free(&idx);
}

static void test_errors(const char *data) {
    char bad[300], out[300], list[300];
    snprintf(bad, sizeof bad, "%s/broken.npz", tmp);
    FILE *f = fopen(bad, "w");
    fputs("PK\003\004 this is not a zip", f);
    fclose(f);
    snprintf(out, sizeof out, "%s/mm_bad", tmp);
    char good[1200];
    snprintf(good, sizeof good, "%s/synth/circle.npz", tmp);
    const char *a1[] = {"prepare", "--quiet", "--out", out, good, bad};
    t_check_true("a corrupt npz fails the run", prepare(6, a1) == 1);
    t_check_true("... and leaves no folder behind", access(out, F_OK) != 0 && count_prefix("mm_bad") == 0);
    snprintf(list, sizeof list, "%s/list.txt", tmp);
    f = fopen(list, "w");
    fprintf(f, "%s\n/nonexistent/cat.npz\n", good);
    fclose(f);
    const char *a2[] = {"prepare", "--out", out, "--list", list};
    t_check_true("a missing file in the list fails", prepare(5, a2) == 1);
    const char *a3[] = {"prepare", "--out", out, "--valid", "150%", good};
    t_check_true("a bad --valid is a usage error", prepare(6, a3) == 2);
    (void)data;
}

int main(int argc, char **argv) {
    if (argc < 2 || !mkdtemp(tmp)) {
        fprintf(stderr, "usage: test_prepare SKETCHBERT-SYNTH\n");
        return 2;
    }
    test_synthetic(argv[1]);
    const char *data = getenv("SKETCHBERT_SHARED_DATA");
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/other/aaron_sheep.npz", data ? data : "");
    FILE *f = data ? fopen(probe, "rb") : NULL;
    if (f) {
        fclose(f);
        test_real_npz(data);
        test_ndjson_split(data);
    } else {
        printf("# SKIP real-data checks: %s not found (needs ../shared/data)\n", probe);
    }
    test_svg(f ? data : NULL);
    test_errors(data);
    test_overwrite();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) printf("# could not remove %s\n", tmp);
    return t_finish(NULL);
}
