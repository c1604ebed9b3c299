/* float16 and bfloat16 decoding: all 65,536 bit patterns of each against
 * the formats' arithmetic definition in double (sign, 2^(e - bias) times
 * 1.m, subnormals, infinities, NaNs). Host only. */
#include <math.h>
#include <stdio.h>

#include "io/float16.h"
#include "test_util.h"

/* The value of a binary format with `mbits` stored mantissa bits and
 * exponent bias `bias` (exponent field all ones: inf / NaN). */
static double decode(unsigned sign, unsigned e, unsigned m, int mbits, int bias, unsigned e_max) {
    double s = sign ? -1.0 : 1.0;
    if (e == e_max) return m ? NAN : s * INFINITY;
    if (e == 0) return s * ldexp((double)m, 1 - bias - mbits);
    return s * ldexp(1.0 + ldexp((double)m, -mbits), (int)e - bias);
}

static int same(float got, double want) {
    if (isnan(want)) return isnan(got);
    return (double)got == want && !signbit(got) == !signbit(want); /* signbit: any non-zero */
}

int main(void) {
    printf("# test_float16\n");
    long f16_bad = 0, bf16_bad = 0;
    for (unsigned h = 0; h < 65536; h++) {
        f16_bad += !same(sb_f16_to_f32((uint16_t)h), decode(h >> 15, h >> 10 & 31, h & 1023, 10, 15, 31));
        bf16_bad += !same(sb_bf16_to_f32((uint16_t)h), decode(h >> 15, h >> 7 & 255, h & 127, 7, 127, 255));
    }
    t_check_true("float16: all 65536 patterns decode to their value", f16_bad == 0);
    t_check_true("bfloat16: all 65536 patterns decode to their value", bf16_bad == 0);
    t_check_true("float16 spot values: 1, -2, 65504, 2^-24",
                 sb_f16_to_f32(0x3c00) == 1.0f && sb_f16_to_f32(0xc000) == -2.0f &&
                     sb_f16_to_f32(0x7bff) == 65504.0f && sb_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    return t_finish(NULL);
}
