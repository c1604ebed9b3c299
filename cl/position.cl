// Learned position embedding, backward (the forward is a bias add over the
// flattened (T * C) positions: see src/ops/position.c).
// dy is (B, T, C); dpos is (Tmax, C), T <= Tmax; TC = T * C, n = Tmax * C.

// dpos[t, c] = sum_b dy[b, t, c] for t < T and 0 for t >= T (no gradient
// reaches unused positions); with accumulate set, added to the old values.
// One work-item per (t, c), looping over the B rows in order: B is a batch
// size, T * C plenty of parallel work. Deterministic, no atomics.
__kernel void position_backward(__global const float *dy, __global float *dpos, const uint B, const uint TC,
                                const uint n, const int accumulate) {
    uint i = get_global_id(0);
    if (i >= n) return;
    float s = 0.0f;
    if (i < TC)
        for (uint b = 0; b < B; b++) s += dy[(size_t)b * TC + i];
    dpos[i] = accumulate ? dpos[i] + s : s;
}
