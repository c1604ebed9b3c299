/* CRC-32 (zlib's polynomial) of byte ranges of any length, and its
 * 8-digit hex text as stored in file metadata. The one caller of zlib's
 * crc32, whose length is 32 bits: checkpoints, prepared datasets, retrieval
 * indexes, zip members.
 * defines: sb_crc32, sb_crc32_hex, sb_crc32_parse */
#ifndef SB_IO_CHECKSUM_H
#define SB_IO_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc (0 to start) over n bytes at p. */
uint32_t sb_crc32(uint32_t crc, const void *p, size_t n);
/* "%08x" of crc into buf (at least 9 bytes). */
void sb_crc32_hex(char *buf, uint32_t crc);
/* Reads 8 hex digits at s into *crc; 0 on success, -1 if s does not start
 * with them. */
int sb_crc32_parse(const char *s, uint32_t *crc);

#endif
