#!/usr/bin/env python3
"""Interoperability of sketchbert's safetensors code with the Python
`safetensors` package, both ways:

1. the package writes a file (F32, F16, BF16 when torch is present, F64,
   I32, I64, a scalar, metadata); sketchbert reads it (st_interop dump) and
   every value must match (F16/BF16/F64 after conversion to float32);
2. sketchbert writes a file (st_interop write); the package opens it
   (safe_open, numpy framework) and the tensors and metadata must match;
   the checksums sketchbert stores (metadata "sketchbert_crc32", see
   docs/formats.md) are recomputed here with zlib and must match.

usage: python3 tools/check_safetensors.py PATH/TO/st_interop
Needs numpy and safetensors (pip install safetensors). Prints one line per
check; exits 1 on any failure.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import zlib

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

failures = 0


def crc_list(path):
    """The header's and each tensor's CRC-32 as sketchbert computes them."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    crc = 0
    for k, v in header.get("__metadata__", {}).items():
        if k != "sketchbert_crc32":
            crc = zlib.crc32(k.encode() + b"\0" + v.encode() + b"\0", crc)
    tensors = [(k, v) for k, v in header.items() if k != "__metadata__"]
    for k, v in tensors:
        b, e = v["data_offsets"]
        text = k.encode() + b"\0" + v["dtype"].encode() + b"\0" + "".join(f"{d}," for d in v["shape"]).encode()
        crc = zlib.crc32(text + f"[{b},{e}]".encode(), crc)
    out = [f"{crc:08x}"]
    for k, v in tensors:
        b, e = v["data_offsets"]
        out.append(f"{zlib.crc32(data[b:e]):08x}")
    return out


def check(what, ok):
    global failures
    print(("OK " if ok else "NOT OK ") + what)
    failures += not ok


def dump(exe, path):
    out = subprocess.run([exe, "dump", path], check=True, capture_output=True, text=True).stdout
    tensors, meta = {}, {}
    for line in out.splitlines():
        kind, rest = line.split(" ", 1)
        if kind == "T":
            name, dtype, shape, *vals = rest.split(" ")
            tensors[name] = (dtype, shape, vals)
        else:
            key, value = rest.split(" ", 1)
            meta[key] = value.replace("\\\\", "\0").replace("\\n", "\n").replace("\0", "\\")
    return tensors, meta


def main():
    exe = sys.argv[1]
    rng = np.random.default_rng(5)
    with tempfile.TemporaryDirectory() as tmp:
        # ---- 1. the package writes, sketchbert reads
        arrays = {
            "netE_state.encoder.sketch_layer.attention.attention.query.weight":
                rng.standard_normal((7, 5)).astype(np.float32),
            "half": rng.standard_normal((3, 4)).astype(np.float16),
            "double": rng.standard_normal(6).astype(np.float64),
            "i32": np.array([-3, 0, 2**31 - 1], dtype=np.int32),
            "i64": np.array([-(2**40), 9], dtype=np.int64),
            "scalar": np.array(2.5, dtype=np.float32),
        }
        meta = {"format": "pt", "config": "a: [1, 2]\nb: 'x'"}
        theirs = os.path.join(tmp, "theirs.safetensors")
        save_file(arrays, theirs, metadata=meta)
        expected = {k: v for k, v in arrays.items()}
        try:
            import torch
            from safetensors.torch import save_file as save_torch
            bf = torch.randn(2, 3).to(torch.bfloat16)
            bf_path = os.path.join(tmp, "bf16.safetensors")
            save_torch({"bf": bf}, bf_path)
            t, _ = dump(exe, bf_path)
            got = np.array([float(x) for x in t["bf"][2]], dtype=np.float32)
            check("BF16 written by safetensors.torch reads as float", t["bf"][0] == "BF16"
                  and np.array_equal(got, bf.float().numpy().ravel()))
        except ImportError:
            print("# torch not found: BF16 not checked")
        t, m = dump(exe, theirs)
        check("all tensors found", set(t) == set(arrays))
        for name, a in expected.items():
            dtype, shape, vals = t[name]
            want_shape = ",".join(str(d) for d in a.shape) or "-"
            if a.dtype.kind == "i":
                got = np.array([int(x) for x in vals], dtype=np.int64)
                ok = np.array_equal(got, a.ravel().astype(np.int64))
            else:
                got = np.array([float(x) for x in vals], dtype=np.float32)
                ok = np.array_equal(got, a.ravel().astype(np.float32))
            check(f"{name} ({dtype}, shape {shape}) equals what safetensors wrote", ok and shape == want_shape)
        check("metadata read", m == meta)

        # ---- 2. sketchbert writes, the package reads
        ours = os.path.join(tmp, "ours.safetensors")
        subprocess.run([exe, "write", ours], check=True)
        with safe_open(ours, framework="numpy") as f:
            keys = set(f.keys())
            check("safetensors lists our tensors", keys == {"netE_state.embedding.embedding.weight", "ints32",
                                                            "ints64", "scalar"})
            w = f.get_tensor("netE_state.embedding.embedding.weight")
            check("F32 tensor", w.dtype == np.float32 and w.shape == (2, 3) and np.array_equal(
                w, np.array([[0.5, -1.25, 3.0], [1e-7, -65536.0, 0.1]], dtype=np.float32)))
            check("I32 tensor", np.array_equal(f.get_tensor("ints32"), np.array([-7, 0, 123456789], np.int32)))
            check("I64 tensor", np.array_equal(f.get_tensor("ints64"), np.array([-5000000000, 42], np.int64)))
            s = f.get_tensor("scalar")
            check("scalar", s.shape == () and s == np.float32(0.5))
            md = f.metadata()
            sums = md.pop("sketchbert_crc32", "")
            check("metadata", md == {"config": "task_types: [maskrec]\nname: \"caf\u00e9\"", "step": "12"})
            check("checksums recomputed with zlib match", sums.split() == crc_list(ours))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
