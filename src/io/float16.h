/* IEEE half (float16) and bfloat16 bit patterns to float, for the readers
 * of PyTorch checkpoints and safetensors files (both store weights in
 * either). Both convert exactly: every value of either format is a float.
 * defines: sb_f16_to_f32, sb_bf16_to_f32 */
#ifndef SB_IO_FLOAT16_H
#define SB_IO_FLOAT16_H

#include <stdint.h>

float sb_f16_to_f32(uint16_t h);
float sb_bf16_to_f32(uint16_t h);

#endif
