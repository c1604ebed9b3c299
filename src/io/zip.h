/* Read-only zip archives (as written by numpy.savez and torch.save): the
 * whole file is read into memory, the central directory is checked and
 * listed, and members are extracted (stored or deflate) with their CRC-32
 * verified. Zip64 fields (a zip64 end record alone is fine, as torch.save
 * writes one), encryption and other compression methods are rejected
 * with a message naming the file and member.
 * defines: sb_zip, sb_zip_entry, sb_zip_open, sb_zip_open_memory,
 *          sb_zip_close, sb_zip_find, sb_zip_extract */
#ifndef SB_IO_ZIP_H
#define SB_IO_ZIP_H

#include <stddef.h>
#include <stdint.h>

typedef struct sb_zip_entry {
    char *name;           /* NUL-terminated member name */
    uint64_t header_off;  /* offset of the local file header */
    uint64_t comp_size;   /* bytes stored in the archive */
    uint64_t size;        /* bytes after extraction */
    uint32_t crc32;
    uint16_t method;      /* 0 stored, 8 deflate */
    uint16_t flags;       /* general purpose bit flags */
} sb_zip_entry;

typedef struct sb_zip {
    char *path;              /* for messages */
    unsigned char *data;     /* the whole archive */
    size_t size;
    sb_zip_entry *entries;   /* central directory order */
    size_t n_entries;
} sb_zip;

/* Reads `path` and checks its central directory. SB_ERR_IO when the file
 * cannot be read, SB_ERR_FORMAT when it is not a valid zip. On failure *z
 * holds nothing to free. */
int sb_zip_open(sb_zip *z, const char *path);
/* The same on a copy of `size` bytes at `data`; `label` names it in errors. */
int sb_zip_open_memory(sb_zip *z, const char *label, const void *data, size_t size);
void sb_zip_close(sb_zip *z);

/* The member called `name`, or NULL. */
const sb_zip_entry *sb_zip_find(const sb_zip *z, const char *name);

/* Extracts a member into a fresh malloc'd buffer (*out, *size; the caller
 * frees), checking its local header, length and CRC-32. */
int sb_zip_extract(const sb_zip *z, const sb_zip_entry *e, unsigned char **out, size_t *size);

#endif
