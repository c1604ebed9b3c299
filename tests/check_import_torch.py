#!/usr/bin/env python3
"""`sketchbert import-torch` on the PyTorch fixtures (tools/make_torch_fixtures.py):
the safetensors file it writes holds exactly the expected names (netE_state.<key>,
net_<task>_state.<key>, and with --with-optimizer <opt>_state.<key>.exp_avg[_sq],
optimizer indices mapped through the network's state_dict order), with torch's
shapes and checksums; the printed and stored config is the fixture's; bad input
fails with exit code 1 or 2 and leaves no output. Standard library only.

usage: check_import_torch.py SKETCHBERT_EXE FIXTURE_DIR"""
import json
import os
import struct
import subprocess
import sys
import tempfile

failures = 0


def check(what, ok, detail=""):
    global failures
    print("%s %s%s" % ("OK" if ok else "NOT OK", what, (": " + detail) if detail and not ok else ""))
    failures += not ok


def expected(fixtures, fname, with_opt):
    """name -> (shape, sum, abs sum) from torch_expected.txt."""
    rows = []
    with open(os.path.join(fixtures, "torch_expected.txt")) as f:
        for line in f:
            p = line.split()
            if line.startswith("#") or p[0] != fname:
                continue
            shape = [] if p[3] == "scalar" else [int(x) for x in p[3].split("x")]
            rows.append((p[1], shape, float(p[4]), float(p[5])))
    order = {}  # net -> keys in state_dict order
    for path, _, _, _ in rows:
        top, _, rest = path.partition("/")
        if top.startswith("net") and top.endswith("_state"):
            order.setdefault(top, []).append(rest)
    out = {}
    for path, shape, s, a in rows:
        parts = path.split("/")
        top = parts[0]
        if top in order:
            out["%s.%s" % (top, parts[1])] = (shape, s, a)
        elif with_opt and top.startswith("opt") and parts[1] == "state" and parts[3] != "step":
            net = "netE_state" if top == "optE_state" else "net_" + top[len("opt_"):]
            out["%s.%s.%s" % (top, order[net][int(parts[2])], parts[3])] = (shape, s, a)
    return out


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    tensors = {}
    end = 0
    for name, t in header.items():
        b, e = t["data_offsets"]
        count = (e - b) // 4
        vals = struct.unpack("<%df" % count, body[b:e])
        tensors[name] = (t["dtype"], t["shape"], vals)
        end = max(end, e)
    return n, meta, tensors, end == len(body)


def run(exe, *args):
    p = subprocess.run([exe, "import-torch"] + list(args), capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def main():
    exe, fixtures = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        for fname in ("torch_ckpt_zip.pth.tar", "torch_ckpt_legacy.pth.tar"):
            for with_opt in (False, True):
                out = os.path.join(tmp, "out.safetensors")
                args = (["--with-optimizer"] if with_opt else []) + [os.path.join(fixtures, fname), out]
                rc, so, se = run(exe, *args)
                tag = "%s%s" % (fname, " --with-optimizer" if with_opt else "")
                check(tag + ": exit 0", rc == 0, se)
                if rc:
                    continue
                check(tag + ": prints the inferred shape",
                      "model_type: albert" in so and "layers_setting: [[2, 16, 32], [2, 16, 32]]" in so and
                      "max_length: 12" in so and "embed_layers_setting: [8]" in so and "cls_dim: 7" in so and
                      "counters.t: 41" in so, so)
                hlen, meta, tensors, exact = read_safetensors(out)
                want = expected(fixtures, fname, with_opt)
                check(tag + ": header padded to 8 bytes and data fills the file", hlen % 8 == 0 and exact)
                check(tag + ": %d names, exactly the expected ones" % len(want), set(tensors) == set(want),
                      "missing %s, extra %s" % (sorted(set(want) - set(tensors))[:5], sorted(set(tensors) - set(want))[:5]))
                bad = []
                for name, (shape, s, a) in want.items():
                    if name not in tensors:
                        continue
                    dtype, got_shape, vals = tensors[name]
                    gs, ga = sum(vals), sum(abs(v) for v in vals)
                    if dtype != "F32" or got_shape != shape or abs(gs - s) > 1e-6 * abs(s) + 1e-5 or \
                            abs(ga - a) > 1e-6 * abs(a) + 1e-5:
                        bad.append(name)
                check(tag + ": shapes and checksums match torch", not bad, str(bad[:5]))
                check(tag + ": metadata holds config and counters",
                      meta.get("counters.t") == "41" and meta.get("counters.epoch") == "3" and
                      "max_length: 12" in meta.get("config", "") and
                      (not with_opt or meta.get("optE_state.step") == "2"), str(meta))
        bert = os.path.join(fixtures, "torch_bert_noargs.pth")
        out = os.path.join(tmp, "bert.safetensors")
        rc, so, se = run(exe, bert, out)
        check("BERT without args: heads are required", rc == 1 and "--heads" in se, se)
        rc, so, se = run(exe, "--heads", "2", bert, out)
        check("BERT without args, --heads 2: exit 0", rc == 0, se)
        check("BERT: layers counted, max_length less two task tokens, heads' dims, unknown task skipped",
              "model_type: bert" in so and "layers_setting: [[2, 16, 32], [2, 16, 24]]" in so and
              "embed_layers_setting: [8, 12]" in so and "max_length: 12" in so and
              "cls_layers_setting: [10]" in so and "cls_dim: 7" in so and "rel_layers_setting: []" in so and
              "rel_feat_dim: 6" in so and "skipped net_maskgmm_state" in so, so)
        if rc == 0:
            _, meta, tensors, _ = read_safetensors(out)
            want = expected(fixtures, "torch_bert_noargs.pth", False)
            want = {k: v for k, v in want.items() if not k.startswith("net_maskgmm")}
            check("BERT: names and shapes", {k: t[1] for k, t in tensors.items()} == {k: v[0] for k, v in want.items()})
        rc, so, se = run(exe, "--heads", "3", bert, out)
        check("--heads that do not divide hidden: exit 1", rc == 1 and "divisible" in se, se)
        tmp = os.path.join(tmp, "failures")
        os.mkdir(tmp)
        out = os.path.join(tmp, "bad.safetensors")
        junk = os.path.join(tmp, "junk.pth")
        with open(junk, "wb") as f:
            f.write(b"\x80\x02cposix\nsystem\nX\x02\x00\x00\x00ls\x85R.")
        rc, so, se = run(exe, junk, out)
        check("a hostile file: exit 1 with a message naming it", rc == 1 and "junk.pth" in se, se)
        rc, so, se = run(exe, os.path.join(fixtures, "torch_views_zip.pth"), out)
        check("a checkpoint without netE_state: exit 1", rc == 1 and "netE_state" in se, se)
        rc, so, se = run(exe, "--layers", "zero", junk, out)
        check("bad usage: exit 2", rc == 2, se)
        check("failures leave no output or temporary file", os.listdir(tmp) == ["junk.pth"], str(os.listdir(tmp)))
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
