// Philox4x32-10 (Random123) in 32-bit integer ops and the dropout keep
// decision built on it; the prelude of the programs that draw dropout masks
// (src/runtime/program.c). The host copy is src/ops/philox.c and must stay
// bit-identical: element i of a tensor uses word i % 4 of
// Philox(counter = {i / 4 (64 bits), stream (64 bits)}, key = seed), and is
// kept when that word >= threshold = round(p * 2^32).

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// The 32 x 32 -> 64-bit products as ulong multiplies rather than mul_hi and
// a low multiply: PoCL vectorises these (2x less CPU time for dropout), and
// GPU compilers map them to their widening multiply.
uint4 philox4x32_10(uint4 c, uint2 k) {
    for (int r = 0; r < 10; r++) {
        if (r > 0) k += (uint2)(PHILOX_W0, PHILOX_W1);
        ulong p0 = (ulong)PHILOX_M0 * c.x, p1 = (ulong)PHILOX_M1 * c.z;
        c = (uint4)((uint)(p1 >> 32) ^ c.y ^ k.x, (uint)p1, (uint)(p0 >> 32) ^ c.w ^ k.y, (uint)p0);
    }
    return c;
}

// A dropout stream is key = (seed_lo, seed_hi, stream_lo, stream_hi), the
// 64-bit seed and stream split in halves, with threshold and scale
// 1 / (1 - p). (A struct holding them crashed Oclgrind 21.10's
// uninitialised-value check.)

// The four words of Philox block `block` of the stream.
uint4 dropout_block(uint4 key, ulong block) {
    return philox4x32_10((uint4)((uint)block, (uint)(block >> 32), key.z, key.w), key.xy);
}

// v * scale if element i is kept, else 0. Callers walking elements in
// order pass the same *block / *words pair along, so each Philox block is
// computed once for its four elements; *block starts at ULONG_MAX.
float dropout_elem(uint4 key, uint threshold, float scale, ulong i, float v, ulong *block, uint4 *words) {
    if (i / 4 != *block) {
        *block = i / 4;
        *words = dropout_block(key, *block);
    }
    uint4 r = *words;
    uint ws[4] = {r.x, r.y, r.z, r.w}; // a ?: chain over r's lanes miscomputes in Oclgrind 21.10
    uint w = ws[i % 4];
    return w >= threshold ? v * scale : 0.0f;
}
