#!/usr/bin/env python3
"""Converts an ORIGINAL Sketch-BERT PyTorch checkpoint (.pth.tar, e.g. the
official qd_8_12_768.pth.tar) into a sketchbert checkpoint (safetensors).

The original's checkpoint dict holds netE_state / net_<task>_state
(state_dicts: copied under "netE_state.<key>", "net_<task>_state.<key>"),
optE_state / opt_<task>_state (torch optimizer state_dicts, whose state is
keyed by parameter index: mapped to parameter names through the original
networks rebuilt from the stored config, then written as
"<opt>_state.<key>.exp_avg", ".exp_avg_sq" and metadata "<opt>_state.step"),
args (the config: written as YAML metadata "config"), counters and best_t.
Optimizer states that are None are left out (restore without enc_opt /
task_opt then).

usage: python3 tools/convert_pth.py IN.pth.tar ORIGINAL_REPO OUT.safetensors
Needs torch, safetensors, pyyaml; ORIGINAL_REPO is a checkout of
avalonstrel/SketchBERT (its networks give the parameter order).
Loading uses torch.load(weights_only=False): only convert files you trust.
"""
import os
import sys

import torch
import yaml
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_checkpoint_torch import build_original, original_networks  # noqa: E402


def main():
    if len(sys.argv) != 4:
        print(__doc__.split("\n\n")[-2], file=sys.stderr)
        sys.exit(2)
    src, repo, dst = sys.argv[1:]
    ckpt = torch.load(src, map_location="cpu", weights_only=False)
    args = ckpt.get("args") or {}
    cfg = args.get("_cfg_dict", args)
    models = build_original(original_networks(repo), cfg)
    tensors, meta = {}, {"format": "pt", "sketchbert_checkpoint": "1",
                         "config": yaml.safe_dump(dict(cfg), default_flow_style=None, sort_keys=False)}
    counters = ckpt.get("counters") or {}
    meta["counters.t"] = str(counters.get("t") or 0)
    meta["counters.epoch"] = str(counters.get("epoch") or 1)
    meta["best_t"] = str(ckpt.get("best_t") or 0)
    meta["best_metric"] = "0"
    for name, model in models.items():
        net = "netE" if name == "netE" else "net_" + name
        opt = "optE" if name == "netE" else "opt_" + name
        state = ckpt.get(net + "_state")
        if state is None:
            print(f"no {net}_state: left out")
            continue
        for k, v in state.items():
            tensors[f"{net}_state.{k}"] = v.detach().float().contiguous()
        osd = ckpt.get(opt + "_state")
        if osd is None:
            continue
        names = [n for n, _ in model.named_parameters()]
        ids = osd["param_groups"][0]["params"]
        if len(ids) != len(names):
            sys.exit(f"{src}: {opt}_state has {len(ids)} parameters, the original {type(model).__name__} {len(names)}")
        steps = set()
        for n, i in zip(names, ids):
            st = osd["state"].get(i)
            if st is None:
                continue
            tensors[f"{opt}_state.{n}.exp_avg"] = st["exp_avg"].float().contiguous()
            tensors[f"{opt}_state.{n}.exp_avg_sq"] = st["exp_avg_sq"].float().contiguous()
            steps.add(int(st["step"]))
        if len(steps) > 1:
            sys.exit(f"{src}: {opt}_state has parameters at different steps {sorted(steps)}")
        meta[f"{opt}_state.step"] = str(steps.pop() if steps else 0)
    save_file(tensors, dst, metadata=meta)
    print(f"wrote {dst}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
