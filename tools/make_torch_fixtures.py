#!/usr/bin/env python3
"""Writes the PyTorch checkpoint fixtures for tests/test_torch_load.c and
tests/check_import_torch.py: a tiny Sketch-BERT-shaped checkpoint dict
(ALBERT, layers [[2, 16, 32]] x 2, embed [8], max_length 12, tasks maskrec
and sketchclsinput, Adam state after two steps, counters, and `args` as an
instance of a custom dict subclass) saved by torch.save in the zip format
and in the legacy format, plus a file with a non-contiguous view and
float16 / bfloat16 / float64 / int64 tensors, and a BERT-encoder checkpoint
without args (zip). Key names, shapes and order were checked against the
original model classes' state_dict(). Tensors are made by key name
and shape only (no model class). Expected values go to torch_expected.txt:
one line per tensor, "<file> <path> <dtype> <shape> <sum> <abs sum>
<index-weighted sum>", sums in float64 over the values as float32.

usage: make_torch_fixtures.py OUT_DIR   (needs torch and numpy)"""
import collections
import os
import sys

import numpy as np
import torch


class Config(dict):
    """Stands in for the original util/config.py Config: a dict subclass
    whose instance __dict__ holds _cfg_dict. Pickled as __main__.Config."""

    def __init__(self, cfg):
        super().__init__()
        self._cfg_dict = cfg


H, I, HEADS, E, T = 16, 32, 2, 8, 12
LAYERS = [[HEADS, H, I], [HEADS, H, I]]


def encoder_shapes(albert=True, layers=LAYERS, embed=(E,), positions=T + 1):
    # state_dict order of SketchTransformerModel (linear embedding, learned
    # positions, no segments): registration order of the modules.
    s = collections.OrderedDict()
    s["embedding.embedding.weight"] = (embed[0], 5)
    s["embedding.embedding.bias"] = (embed[0],)
    s["pos_embedding.pos_embedding.weight"] = (positions, embed[0])
    dims = list(embed) + [layers[0][1]]
    for i in range(len(dims) - 1):
        s["embed_refine_net.layers.%d.weight" % i] = (dims[i + 1], dims[i])
        s["embed_refine_net.layers.%d.bias" % i] = (dims[i + 1],)
    for l, (_, h, inter) in enumerate(layers[:1] if albert else layers):
        p = "encoder.sketch_layer." if albert else "encoder.layers.%d." % l
        for name in ("query", "key", "value"):
            s[p + "attention.attention." + name + ".weight"] = (h, h)
            s[p + "attention.attention." + name + ".bias"] = (h,)
        s[p + "attention.output.fc.weight"] = (h, h)
        s[p + "attention.output.fc.bias"] = (h,)
        s[p + "attention.output.norm.weight"] = (h,)
        s[p + "attention.output.norm.bias"] = (h,)
        s[p + "inter_layer.fc.weight"] = (inter, h)
        s[p + "inter_layer.fc.bias"] = (inter,)
        s[p + "output.fc.weight"] = (h, inter)
        s[p + "output.fc.bias"] = (h,)
        s[p + "output.norm.weight"] = (h,)
        s[p + "output.norm.bias"] = (h,)
    return s


def linear_stack(prefix, dims):
    s = collections.OrderedDict()
    for i in range(len(dims) - 1):
        s["%s.%d.weight" % (prefix, i)] = (dims[i + 1], dims[i])
        s["%s.%d.bias" % (prefix, i)] = (dims[i + 1],)
    return s


def make_net(shapes, gen):
    net = collections.OrderedDict((k, torch.randn(*shape, generator=gen)) for k, shape in shapes.items())
    net._metadata = collections.OrderedDict([("", {"version": 1})])  # as Module.state_dict() sets
    return net


def adam_state(net, gen):
    """Two Adam steps on random gradients: state by parameter index in
    state_dict order, as torch.optim.Optimizer.state_dict() writes it."""
    params = [torch.nn.Parameter(v.clone()) for v in net.values()]
    opt = torch.optim.Adam(params, lr=1e-4)
    for _ in range(2):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen)
        opt.step()
    return opt.state_dict()


def checkpoint():
    gen = torch.Generator().manual_seed(7)
    netE = make_net(encoder_shapes(), gen)
    rec = make_net(linear_stack("re_fcs", [H, 12, 5]), gen)
    cls = make_net(linear_stack("cls_fcs", [H, 7]), gen)
    cfg = {"task_types": ["maskrec", "sketchclsinput"], "max_length": T, "layers_setting": LAYERS,
           "embed_layers_setting": [E], "rec_layers_setting": [12], "cls_layers_setting": [], "cls_dim": 7,
           "model_type": "albert", "position_type": "learn", "learning_rate": 1e-4, "mask_prob": 0.85}
    args = Config(cfg)
    args["note"] = "dict items of the Config object"
    return collections.OrderedDict([
        ("args", args),
        ("counters", {"t": 41, "epoch": 3}),
        ("netE_state", netE),
        ("optE_state", adam_state(netE, gen)),
        ("net_maskrec_state", rec),
        ("opt_maskrec_state", adam_state(rec, gen)),
        ("net_sketchclsinput_state", cls),
        ("opt_sketchclsinput_state", adam_state(cls, gen)),
        ("best_t", 40),
    ])


def bert_without_args():
    """BERT encoder (layers differ), embed [8, 12], classification and
    retrieval heads (two task tokens), no args and no optimizer: the import
    needs --heads and counts tokens from the heads present."""
    gen = torch.Generator().manual_seed(13)
    layers = [[2, H, I], [2, H, 24]]
    return collections.OrderedDict([
        ("netE_state", make_net(encoder_shapes(False, layers, (8, 12), T + 2), gen)),
        ("net_sketchclsinput_state", make_net(linear_stack("cls_fcs", [H, 10, 7]), gen)),
        ("net_sketchretrieval_state", make_net(linear_stack("rel_fcs", [H, 6]), gen)),
        ("net_maskgmm_state", make_net(collections.OrderedDict([("re_fc.weight", (9, H))]), gen)),
        ("counters", {"t": 5, "epoch": 1}),
    ])


def views():
    gen = torch.Generator().manual_seed(11)
    base = torch.randn(6, 5, generator=gen)
    return collections.OrderedDict([
        ("transposed", base.t()),                  # strides (1, 5)
        ("column", base[:, 2]),                    # offset 2, stride 5
        ("block", base[1:4, 1:3]),                 # offset 6, strides (5, 1)
        ("half", torch.randn(3, 4, generator=gen).half()),
        ("bfloat", torch.randn(4, 3, generator=gen).bfloat16()),
        ("double", torch.randn(5, generator=gen).double()),
        ("long", torch.arange(-3, 6, dtype=torch.int64).reshape(3, 3)),
        ("int", torch.arange(4, dtype=torch.int32)),
        ("byte", torch.arange(250, 256, dtype=torch.uint8)),
        ("scalar", torch.tensor(2.5)),
        ("param", torch.nn.Parameter(torch.ones(2, 2) * 0.5)),
    ])


def walk(v, path, out):
    if isinstance(v, torch.Tensor):
        out.append((path, v))
    elif isinstance(v, dict):
        for k, x in v.items():
            walk(x, "%s/%s" % (path, k) if path else str(k), out)
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            walk(x, "%s/%d" % (path, i), out)


def expected_lines(fname, obj):
    tensors = []
    walk(obj, "", tensors)
    lines = []
    for path, t in tensors:
        x = t.detach().to(torch.float32).contiguous().reshape(-1).numpy().astype(np.float64)
        w = np.arange(1, x.size + 1, dtype=np.float64)
        shape = "x".join(str(d) for d in t.shape) or "scalar"
        lines.append("%s %s %s %s %.9g %.9g %.9g" % (fname, path, str(t.dtype).replace("torch.", ""), shape,
                                                   x.sum(), np.abs(x).sum(), (x * w).sum()))
    return lines


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data"
    ck, vw = checkpoint(), views()
    files = [("torch_ckpt_zip.pth.tar", ck, True), ("torch_ckpt_legacy.pth.tar", ck, False),
             ("torch_views_zip.pth", vw, True), ("torch_views_legacy.pth", vw, False),
             ("torch_bert_noargs.pth", bert_without_args(), True)]
    lines = []
    for name, obj, zipped in files:
        torch.save(obj, os.path.join(out, name), _use_new_zipfile_serialization=zipped)
        lines += expected_lines(name, obj)
    with open(os.path.join(out, "torch_expected.txt"), "w") as f:
        f.write("# written by tools/make_torch_fixtures.py (torch %s)\n" % torch.__version__)
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
