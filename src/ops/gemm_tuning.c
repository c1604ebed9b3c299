/* Shipped CLBlast GEMM parameters (see gemm_tuning.h).
 *
 * PoCL's CPU device on Skylake-AVX512 cores ("pthread-skylake-avx512-..."):
 * CLBlast 1.5.3's database has no entry for it, so CLBlast falls back to its
 * generic Intel-CPU parameters. Found on the project's 2-core "Intel(R)
 * Xeon(R) Processor" (PoCL 3.1, CLBlast 1.5.3) by
 *     tools/tune-gemm.sh
 * which runs (under nice, each bounded by `timeout`):
 *     clblast_tuner_xgemm -platform 0 -device 0 -precision 32 -m 512 -n 512 -k 512 -runs 2 -fraction 3
 *     clblast_tuner_xgemm_direct -platform 0 -device 0 -precision 32 -m 256 -n 256 -k 256 -runs 4
 * and kept since `sketchbert bench gemm` ran faster with them than without
 * (SKETCHBERT_NO_GEMM_TUNING=1); numbers in docs/performance.md. The device
 * key is PoCL's CPU target name, so any Skylake-AVX512-class core under
 * PoCL's pthread driver gets these. */
#include "ops/gemm_tuning.h"

#include <string.h>

const sb_gemm_tuning sb_gemm_tunings[] = {
    /* tiled kernel: 58.4 GFLOP/s at 512^3 in the tuner (best of 425 tried) */
    {"pthread-skylake-avx512", "Xgemm", 16,
     {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB", "NDIMC", "NWG", "SA", "SB", "STRM", "STRN",
      "VWM", "VWN"},
     {0, 1, 32, 2, 8, 8, 128, 32, 16, 128, 0, 0, 1, 0, 1, 2}},
    /* direct kernel: 42.5 GFLOP/s at 256^3 in the tuner (best of 74 tried) */
    {"pthread-skylake-avx512", "XgemmDirect", 10,
     {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD"},
     {16, 32, 32, 16, 8, 0, 1, 2, 2, 64}},
    /* CLBlast's switch to the tiled kernel at m*n*k >= 192^3 instead of its
     * Intel-CPU default 576^3: chosen by hand with `sketchbert bench gemm`
     * (tiny model: 1.13x less CPU time for its 12 GEMMs together; the NT
     * forward products of the tiny and small models run 2-3x faster tiled,
     * a few NN/TN backward products slower). Attention (251 x 251 x 64 per
     * head) stays on the direct kernel. */
    {"pthread-skylake-avx512", "GemmRoutine", 1, {"XGEMM_MIN_INDIRECT_SIZE"}, {192}},
};
const int sb_gemm_n_tunings = (int)(sizeof sb_gemm_tunings / sizeof sb_gemm_tunings[0]);

const char *sb_gemm_tuning_device(const char *device_name) {
    for (int i = 0; i < sb_gemm_n_tunings; i++)
        if (strstr(device_name, sb_gemm_tunings[i].device)) return sb_gemm_tunings[i].device;
    return NULL;
}
