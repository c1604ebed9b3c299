/* Writing sketch-rnn style .npz files: a zip archive (members stored, or
 * deflated through zlib as np.savez_compressed does) whose members are
 * .npy v1.0 files of NumPy object arrays, each element an int16 (n, 3)
 * stroke-3 array, pickled with protocol 2 in the Python 2 form that the
 * QuickDraw release uses. NumPy reads the result with
 * np.load(path, allow_pickle=True, encoding='latin1').
 * The archive is written to "<path>.tmp" and renamed to path only when
 * sb_npz_writer_close succeeds, so a half-written file never has the final
 * name. No zip64: members and the archive must stay below 4 GiB.
 * The readers are elsewhere (io/zip.c, io/npy.c, io/pickle.c, io/npz.c).
 * Plain numeric and string arrays (sb_npy_encode) go into an archive
 * with sb_npz_writer_add or alone into a .npy file (`embed`).
 * defines: sb_npz_writer, sb_npz_writer_open, sb_npz_writer_add,
 *          sb_npz_writer_add_sketches, sb_npz_writer_close,
 *          sb_npz_writer_abort, sb_npy_encode, sb_npy_encode_sketches */
#ifndef SB_IO_NPZ_WRITE_H
#define SB_IO_NPZ_WRITE_H

#include <stddef.h>
#include <stdint.h>

typedef struct sb_npz_writer sb_npz_writer;

/* Starts "<path>.tmp". deflate != 0 compresses members (method 8),
 * else they are stored (method 0). */
int sb_npz_writer_open(sb_npz_writer **out, const char *path, int deflate);

/* Adds one member named `name` holding size bytes. After a failed add the
 * archive is unusable: call sb_npz_writer_abort. */
int sb_npz_writer_add(sb_npz_writer *w, const char *name, const void *data, size_t size);

/* Adds member "<array>.npy": an object array of `count` sketches. points
 * is (total, 3) int16 row-major (dx, dy, p); sketch i is rows
 * starts[i] .. starts[i + 1] - 1, so starts has count + 1 entries. */
int sb_npz_writer_add_sketches(sb_npz_writer *w, const char *array, const int16_t *points, const size_t *starts,
                               size_t count);

/* Writes the central directory, flushes and syncs, renames "<path>.tmp"
 * to path and frees w. On failure the temporary file is removed. */
int sb_npz_writer_close(sb_npz_writer *w);

/* Drops the archive: removes "<path>.tmp" and frees w (NULL is fine). */
void sb_npz_writer_abort(sb_npz_writer *w);

/* The .npy v1.0 bytes of a plain array, in a malloc'd buffer the caller
 * frees: descr as NumPy spells the dtype ("<f4", "<i4", "<U12"), shape
 * of ndim (1..8) sizes, data the data_size payload bytes already in that
 * layout (C order). */
int sb_npy_encode(const char *descr, const int64_t *shape, int ndim, const void *data, size_t data_size,
                  uint8_t **out, size_t *out_size);

/* The .npy bytes of such an object array, in a malloc'd buffer the caller
 * frees. */
int sb_npy_encode_sketches(const int16_t *points, const size_t *starts, size_t count, uint8_t **out,
                           size_t *out_size);

#endif
