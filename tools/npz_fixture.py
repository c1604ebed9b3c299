#!/usr/bin/env python3
"""Dump NumPy's view of the sketch-rnn npz datasets as a small text fixture
for tests/test_npz.c (tests/data/npz_checksums.txt).

One line per file and split:
  file split count total_points sum weighted rounded first_n v0..v8
where values are the stroke-3 arrays as int16 (float arrays rounded with
np.round, ties to even, as the C reader does), `sum` adds every value,
`weighted` adds value * (k % 13 + 1) over the split's values flattened in
order (catches reordering), `rounded` counts values that rounding changed,
and v0..v8 are the first three points of the first sketch.

usage: tools/npz_fixture.py DATA_DIR/other > tests/data/npz_checksums.txt
needs: numpy
"""
import os
import sys

import numpy as np


def main():
    folder = sys.argv[1]
    print("# file split count total_points sum weighted rounded first_n v0..v8 (tools/npz_fixture.py)")
    for name in sorted(f for f in os.listdir(folder) if f.endswith(".npz")):
        data = np.load(os.path.join(folder, name), allow_pickle=True, encoding="latin1")
        for split in ("train", "valid", "test"):
            arrays = data[split]
            flat = np.concatenate([np.asarray(a).reshape(-1) for a in arrays])
            as16 = np.round(flat).astype(np.int16) if flat.dtype.kind == "f" else flat.astype(np.int16)
            rounded = int(np.count_nonzero(flat != np.round(flat))) if flat.dtype.kind == "f" else 0
            v = as16.astype(np.int64)
            weighted = int((v * (np.arange(v.size) % 13 + 1)).sum())
            first = np.asarray(arrays[0])
            head = (np.round(first) if first.dtype.kind == "f" else first).astype(np.int16).reshape(-1)[:9]
            total_points = sum(len(a) for a in arrays)
            print(name, split, len(arrays), total_points, int(v.sum()), weighted, rounded, len(first),
                  " ".join(str(int(x)) for x in head))


if __name__ == "__main__":
    main()
