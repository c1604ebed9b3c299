/* The memmap sketch layout (docs/formats.md): per class and split one raw
 * file <dir>/<class>_<split>.dat of little-endian int16 [points, 3]
 * (stroke-3: dx, dy, pen lifted), all sketches of the split concatenated; a
 * sum file <dir>/memmap_sum.txt like the original's (one line per class,
 * "<dir>/<class>.dat<TAB><sketches in all splits>"); and an offsets index
 * <dir>/offsets.sbidx of our own (magic, version, per class and split the
 * [start, end) point range of every sketch); <dir>/checksums.crc32 holds
 * the CRC-32 of every .dat file ("<8 hex digits>  <class>_<split>.dat").
 * Writers put everything under temporary names and rename when complete.
 * defines: sb_mm_writer, sb_mm_writer_open, sb_mm_writer_open_as, sb_mm_writer_add,
 *          sb_mm_writer_finish, sb_mm_writer_abort, sb_mm_index,
 *          sb_mm_index_parse, sb_mm_index_load, sb_mm_index_free, sb_mm_split, sb_mm_split_open,
 *          sb_mm_split_close, sb_mm_verify_checksums */
#ifndef SB_DATA_MEMMAP_H
#define SB_DATA_MEMMAP_H

#include <stddef.h>
#include <stdint.h>

enum { SB_SPLIT_TRAIN = 0, SB_SPLIT_VALID = 1, SB_SPLIT_TEST = 2, SB_N_SPLITS = 3 };
extern const char *const sb_split_names[SB_N_SPLITS];
/* "train" -> 0 ...; -1 when not a split name. */
int sb_split_from_name(const char *name);

#define SB_MM_INDEX_MAGIC "SBMMIDX\0"
#define SB_MM_INDEX_VERSION 1u
#define SB_MM_SUM_FILE "memmap_sum.txt"
#define SB_MM_INDEX_FILE "offsets.sbidx"
#define SB_MM_CHECKSUM_FILE "checksums.crc32"

/* The longest sketch a reader accepts (the writer takes uint32 lengths;
 * readers hold them in an int). */
#define SB_MM_MAX_SKETCH_POINTS 2147483647u

typedef struct sb_mm_range {
    uint64_t start, end; /* points, [start, end) */
} sb_mm_range;

typedef struct sb_mm_class {
    char *name;
    sb_mm_range *ranges[SB_N_SPLITS];
    uint32_t count[SB_N_SPLITS];
} sb_mm_class;

typedef struct sb_mm_index {
    char *dir;
    sb_mm_class *classes;
    uint32_t n_classes;
} sb_mm_index;

/* ---- writing */

typedef struct sb_mm_writer sb_mm_writer;

/* Creates dir if needed. Classes are written one after another. */
int sb_mm_writer_open(sb_mm_writer **out, const char *dir);
/* The same, for a dataset built in dir that will then be renamed to
 * final_dir: the sum file names final_dir's files. */
int sb_mm_writer_open_as(sb_mm_writer **out, const char *dir, const char *final_dir);
/* Starts a class; its splits may then be added in any order. */
int sb_mm_writer_begin_class(sb_mm_writer *w, const char *class_name);
/* Appends one sketch of n stroke-3 points to the current class's split. */
int sb_mm_writer_add(sb_mm_writer *w, int split, const int16_t *points, uint32_t n);
/* Writes the index and sum file and renames every file into place. */
int sb_mm_writer_finish(sb_mm_writer *w);
/* Removes the temporary files; frees w. Safe after a failed call. */
void sb_mm_writer_abort(sb_mm_writer *w);

/* ---- reading */

/* The offsets index held in memory (n bytes of the file `path`) for the
 * .dat files in dir, without looking at them: magic, version, CRC, class
 * names that can be file names, ranges contiguous from 0. */
int sb_mm_index_parse(sb_mm_index *idx, const char *dir, const char *path, const unsigned char *d, size_t n);
/* Loads dir/offsets.sbidx and checks it against every .dat file's size:
 * ranges contiguous from 0, no sketch over SB_MM_MAX_SKETCH_POINTS, every
 * range within its .dat file, which holds exactly the split's points. */
int sb_mm_index_load(sb_mm_index *idx, const char *dir);
void sb_mm_index_free(sb_mm_index *idx);
int sb_mm_index_find(const sb_mm_index *idx, const char *class_name);

/* One class's split mapped read-only. */
typedef struct sb_mm_split {
    const int16_t *points; /* [n_points, 3] */
    uint64_t n_points;
    size_t map_bytes;
    void *map;
} sb_mm_split;

int sb_mm_split_open(sb_mm_split *s, const sb_mm_index *idx, uint32_t cls, int split);
void sb_mm_split_close(sb_mm_split *s);

/* Recomputes the CRC-32 of every .dat file listed in dir/checksums.crc32
 * and compares; *files says how many (0: a dataset prepared before
 * checksums, which is not an error). A mismatch names the file. */
int sb_mm_verify_checksums(const sb_mm_index *idx, int *files);

/* Path of a class's .dat file for a split into buf. */
int sb_mm_dat_path(char *buf, size_t cap, const char *dir, const char *class_name, int split);

#endif
