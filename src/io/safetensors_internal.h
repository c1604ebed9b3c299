/* What the parts of the safetensors reader and writer share (not
 * installed): safetensors.c (reading), safetensors_header.c (the header
 * JSON) and safetensors_write.c (writing).
 * defines: st_parse_header, st_crc_meta, st_crc_entry */
#ifndef SB_IO_SAFETENSORS_INTERNAL_H
#define SB_IO_SAFETENSORS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "io/safetensors.h"

/* Parses the header JSON (len bytes at text) into f's tensors and
 * metadata and checks the tensor table against the data section's
 * data_len bytes; errors name f->path and the tensor. */
int st_parse_header(sb_st_file *f, const char *text, size_t len, uint64_t data_len);

/* The header's checksum (SB_ST_CHECKSUM_KEY) continued over one metadata
 * entry, or over one tensor's name, dtype, shape and offsets. */
uint32_t st_crc_meta(uint32_t crc, const char *key, const char *value);
uint32_t st_crc_entry(uint32_t crc, const char *name, sb_st_dtype dtype, int ndim, const int64_t *shape,
                      uint64_t begin, uint64_t end);

#endif
