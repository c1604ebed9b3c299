#!/usr/bin/env python3
"""Loads a sketchbert checkpoint into the ORIGINAL PyTorch Sketch-BERT.

Builds the original's networks (SketchTransformerModel and the task heads
of models/SketchTransformer/models/networks.py in a checkout of
avalonstrel/SketchBERT) with the arguments its trainer's build_models
derives from the config stored in the checkpoint, then
- load_state_dict(strict=True) of every "netE_state.*" / "net_<task>_state.*"
  group: same keys, same shapes, nothing missing or left over;
- torch.optim.Adam(...).load_state_dict of every optimizer group built from
  "<opt>_state.<key>.exp_avg/.exp_avg_sq" and "<opt>_state.step";
- one forward of the original model on a zero batch, to see it runs.
With --write OUT.pth.tar it also saves the checkpoint dict the original's
trainer writes (args, counters, netE_state, optE_state, net_<task>_state,
opt_<task>_state, best_t), which its restore_models reads.

usage: python3 tools/check_checkpoint_torch.py CKPT.safetensors ORIGINAL_REPO [--write OUT.pth.tar]
Needs torch, safetensors, pyyaml. torchvision is not needed (stubbed: the
original imports it for image models only). Exits 1 on any failure.
"""
import copy
import sys
import types

import torch
import yaml
from safetensors import safe_open
from safetensors.torch import load_file


def original_networks(repo):
    sys.path.insert(0, repo)
    if "torchvision" not in sys.modules:
        tv = types.ModuleType("torchvision")
        tv.models = types.ModuleType("torchvision.models")
        sys.modules["torchvision"], sys.modules["torchvision.models"] = tv, tv.models
    from models.SketchTransformer.models import networks
    return networks


def build_original(nets, cfg):
    """The original's networks for a config dict, as its trainer's
    build_models: {"netE": encoder, "<task>": head, ...}. The original's
    constructors extend the lists they get, so they get copies."""
    cfg = copy.deepcopy(cfg)
    tasks = cfg["task_types"]
    cls_in, rel_in = "sketchclsinput" in tasks, "sketchretrieval" in tasks
    hidden = cfg["layers_setting"][0][1]
    models = {"netE": nets.SketchTransformerModel(
        model_type=cfg["model_type"], layers_setting=cfg["layers_setting"],
        embed_layers_setting=cfg["embed_layers_setting"], input_dim=cfg["input_dim"],
        max_length=cfg["max_length"] + cls_in + rel_in, max_size=[128, 128], type_size=3,
        position_type=cfg["position_type"], segment_type=cfg.get("segment_type", "none"),
        sketch_embed_type=cfg.get("sketch_embed_type", "linear"), embed_pool_type="sum",
        attention_norm_type=cfg.get("attention_norm_type", "LN"), inter_activation=cfg.get("inter_activation", "gelu"),
        attention_dropout_prob=cfg["attention_dropout_prob"], hidden_dropout_prob=cfg["hidden_dropout_prob"],
        output_dropout_prob=cfg["output_dropout_prob"])}
    heads = {
        "maskrec": lambda: nets.MaskSketchRecModel(cfg["rec_layers_setting"], hidden, cfg["input_dim"], cls_in, rel_in),
        "sketchclsinput": lambda: nets.SketchClsPoolingModel(cfg["cls_layers_setting"], hidden, cfg["cls_dim"], rel_in),
        "sketchretrieval": lambda: nets.SketchRetrievalPoolingModel(cfg["rel_layers_setting"], hidden,
                                                                   cfg["rel_feat_dim"], 0),
    }
    for t in tasks:
        models[t] = heads[t]()
    return models


def main():
    if len(sys.argv) not in (3, 5) or (len(sys.argv) == 5 and sys.argv[3] != "--write"):
        print(__doc__.split("\n\n")[-2], file=sys.stderr)
        sys.exit(2)
    path, repo = sys.argv[1], sys.argv[2]
    out = sys.argv[4] if len(sys.argv) == 5 else None
    nets = original_networks(repo)
    tensors = load_file(path)
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    cfg = yaml.safe_load(meta["config"])
    tasks = cfg["task_types"]
    cls_in, rel_in = "sketchclsinput" in tasks, "sketchretrieval" in tasks
    models = build_original(nets, cfg)
    failures = 0
    ckpt = {"args": {"_cfg_dict": cfg}, "counters": {"t": int(meta["counters.t"]), "epoch": int(meta["counters.epoch"])},
            "best_t": int(meta["best_t"]), "netE_best_state": None}
    for name, model in models.items():
        net = "netE" if name == "netE" else "net_" + name
        opt = "optE" if name == "netE" else "opt_" + name
        prefix = net + "_state."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            model.load_state_dict(state, strict=True)
            print(f"OK {net}_state: {len(state)} tensors load strictly into the original {type(model).__name__}")
            ckpt[net + "_state"] = model.state_dict()
        except RuntimeError as e:
            failures += 1
            print(f"NOT OK {net}_state: {str(e).splitlines()[0]}")
            continue
        oprefix = opt + "_state."
        if not any(k.startswith(oprefix) for k in tensors):
            continue
        adam = torch.optim.Adam(model.parameters(), lr=cfg["learning_rate"])
        step = float(meta[opt + "_state.step"])
        names = [n for n, _ in model.named_parameters()]
        osd = adam.state_dict()
        osd["state"] = {i: {"step": torch.tensor(step), "exp_avg": tensors[f"{oprefix}{n}.exp_avg"],
                            "exp_avg_sq": tensors[f"{oprefix}{n}.exp_avg_sq"]} for i, n in enumerate(names)}
        try:
            adam.load_state_dict(osd)
            shapes_ok = all(adam.state[p]["exp_avg"].shape == p.shape for p in model.parameters())
            print(f"{'OK' if shapes_ok else 'NOT OK'} {opt}_state: Adam state for {len(names)} parameters, step {step:g}")
            failures += not shapes_ok
            ckpt[opt + "_state"] = adam.state_dict()
        except (RuntimeError, KeyError, ValueError) as e:
            failures += 1
            print(f"NOT OK {opt}_state: {e}")
    # one forward of the original networks
    with torch.no_grad():
        T = cfg["max_length"] + cls_in + rel_in
        x, mask = torch.zeros(2, T, cfg["input_dim"]), torch.ones(2, T)
        for m in models.values():
            m.eval()
        h = models["netE"](x, mask, segments=torch.zeros(2, T, dtype=torch.long))
        outs = {t: tuple(models[t](h).shape) for t in tasks}
        print(f"OK the original model runs on the weights: encoder {tuple(h.shape)}, heads {outs}")
    if out and not failures:
        torch.save(ckpt, out)
        print(f"wrote {out}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
