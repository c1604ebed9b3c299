#!/usr/bin/env python3
"""Checks sketchbert-synth's .npz files with real NumPy.

Runs the generator into a temporary directory and loads every file the way
QuickDraw sketch-rnn files are loaded,
np.load(path, allow_pickle=True, encoding='latin1'); checks the arrays
(object arrays of int16 (n, 3), pen states 0/1 ending in a lift, split
sizes), the zip members (CRC via zipfile.testzip, deflate vs stored),
determinism by seed, and that a class does not depend on the others.

usage: python3 tools/check_synth.py PATH/TO/sketchbert-synth
Needs NumPy. Prints one line per check; exits 1 on any failure.
"""
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

failures = 0


def check(what, ok):
    global failures
    print(("OK " if ok else "NOT OK ") + what)
    failures += not ok


def synth(exe, out, *args):
    subprocess.run([exe, "--out", out, *args], check=True, stdout=subprocess.DEVNULL)
    return sorted(f for f in os.listdir(out))


def load(path):
    with np.load(path, allow_pickle=True, encoding="latin1") as z:
        return {k: z[k] for k in z.files}


def valid_sketch(s):
    return (isinstance(s, np.ndarray) and s.dtype == np.int16 and s.ndim == 2 and s.shape[1] == 3
            and len(s) >= 2 and set(np.unique(s[:, 2])) <= {0, 1} and s[-1, 2] == 1
            and np.abs(s[:, :2]).max() < 1000)


def main():
    exe = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        a, b, c, d = (os.path.join(tmp, x) for x in "abcd")
        files = synth(exe, a, "--seed", "5", "--train", "30", "--valid", "4", "--test", "3")
        check(f"{len(files)} classes written, no .tmp left: {' '.join(files)}",
              len(files) >= 8 and all(f.endswith(".npz") for f in files))
        strokes = {}
        for f in files:
            path = os.path.join(a, f)
            data = load(path)
            with zipfile.ZipFile(path) as zf:
                crc_ok = zf.testzip() is None
                methods = {i.compress_type for i in zf.infolist()}
            sizes = {k: v.shape for k, v in data.items()}
            check(f"{f}: np.load(allow_pickle=True, encoding='latin1') gives {sizes}",
                  sizes == {"train": (30,), "valid": (4,), "test": (3,)}
                  and all(v.dtype == object for v in data.values()))
            check(f"{f}: every sketch int16 (n, 3), p in {{0, 1}}, ends with a lift",
                  all(valid_sketch(s) for v in data.values() for s in v))
            check(f"{f}: zip CRCs good, members deflated", crc_ok and methods == {zipfile.ZIP_DEFLATED})
            lens = [len(s) for s in data["train"]]
            strokes[f] = np.mean([s[:, 2].sum() for s in data["train"]])
            print(f"   points per sketch {min(lens)}..{max(lens)}, mean strokes {strokes[f]:.2f}")
        check("several classes have several strokes", sum(v > 1.5 for v in strokes.values()) >= 3)

        synth(exe, b, "--seed", "5", "--train", "30", "--valid", "4", "--test", "3", "--stored")
        with zipfile.ZipFile(os.path.join(b, "star.npz")) as zf:
            stored = {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED} and zf.testzip() is None
        same = all(all(np.array_equal(x, y) for x, y in zip(load(os.path.join(a, f))[k], load(os.path.join(b, f))[k]))
                   for f in files for k in ("train", "valid", "test"))
        check("--stored: members stored, same sketches as deflated", stored and same)

        synth(exe, c, "--seed", "5", "--train", "30", "--valid", "4", "--test", "3", "--classes", "house,spiral")
        check("--classes house,spiral: same bytes as in the full run",
              synth_equal(a, c, ["house.npz", "spiral.npz"]) and sorted(os.listdir(c)) == ["house.npz", "spiral.npz"])
        synth(exe, d, "--seed", "6", "--train", "30", "--valid", "4", "--test", "3", "--classes", "house")
        check("another seed gives other sketches", not synth_equal(a, d, ["house.npz"]))

        bad = subprocess.run([exe, "--out", tmp, "--classes", "dragon"], capture_output=True, text=True)
        check("unknown class rejected with exit 2", bad.returncode == 2 and "dragon" in bad.stderr)
    print(f"{failures} failed")
    return 1 if failures else 0


def synth_equal(d1, d2, names):
    return all(open(os.path.join(d1, n), "rb").read() == open(os.path.join(d2, n), "rb").read() for n in names)


if __name__ == "__main__":
    sys.exit(main())
