/* The host form of the attention (sb_attention_impl SB_ATTENTION_HOST),
 * for src/ops/attention.c and tests/test_attention.c only: the passes on
 * the mapped buffers, and the dropout keep mask they draw with the widest
 * vector Philox the CPU runs.
 * defines: sb_host_isa, sb_host_isa_name, sb_host_isa_supported,
 *          sb_attention_host_keep, sb_attention_host_forward,
 *          sb_attention_host_backward */
#ifndef SB_OPS_ATTENTION_HOST_H
#define SB_OPS_ATTENTION_HOST_H

#include <stdint.h>

#include "ops/attention.h"

/* The instruction sets the row work is compiled for (x86-64 only; plain is
 * the build's baseline everywhere). The CPU's widest runs. */
typedef enum { SB_HOST_ISA_PLAIN, SB_HOST_ISA_AVX2, SB_HOST_ISA_AVX512, SB_HOST_ISA_COUNT } sb_host_isa;

const char *sb_host_isa_name(sb_host_isa isa);
int sb_host_isa_supported(sb_host_isa isa);

/* keep[i] = sb_dropout_keep(key, threshold, first + i) for i < n, drawn by
 * the variant isa (which must be supported). */
void sb_attention_host_keep(sb_host_isa isa, unsigned char *keep, sb_rng_key key, uint32_t threshold,
                            uint64_t first, size_t n);

/* The passes of sb_attention_forward and sb_attention_backward, after
 * their checks; bufs holds the forward's tensors, p and key. */
int sb_attention_host_forward(sb_runtime *rt, const sb_attention_buffers *bufs);
int sb_attention_host_backward(sb_runtime *rt, const sb_tensor *dout, const sb_tensor *dq, const sb_tensor *dk,
                               const sb_tensor *dv, const sb_attention_buffers *bufs);

#endif
