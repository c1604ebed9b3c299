#!/usr/bin/env python3
"""PyTorch CPU counterpart of `sketchbert bench model`: the same model (the
golden test's reference modules, imported from tools/torch_reference.py),
the same batch shape and the same step, timed on synthetic batches made
before timing.

Training step = forward + the config's loss terms + backward + one
torch.optim.Adam step per network (as the original trainer); inference =
forward of the encoder and the heads under torch.no_grad(), no loss.
The reference modules have no dropout layers, so this side does no dropout
(ours does, in training only: a few elementwise kernels).

Usage:
    python3 tools/bench_model_torch.py CONFIG.yml [--batch N] [--max-length T]
        [--steps N] [--warmup N] [--threads N] [--train | --infer]
Prints lines in the same form as the C command:
    train: best X ms/step, Y sketches/s; mean Z ms/step, CPU C ms/step (...)
    infer: best X ms/step, Y sketches/s; mean Z ms/step, CPU C ms/step (...)
    saved activations A MiB      (training: what autograd keeps for backward)
    peak RSS R MiB
CPU is the process CPU time per step (all threads; OpenMP threads that
spin-wait between parallel regions count too).
"""
import argparse
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402


def load_config(path):
    """The config YAML with `!include FILE` (relative to the including file)."""
    class Loader(yaml.SafeLoader):
        pass

    def include(loader, node):
        with open(os.path.join(os.path.dirname(path), loader.construct_scalar(node))) as f:
            return yaml.load(f, Loader)
    Loader.add_constructor('!include', include)
    with open(path) as f:
        return yaml.load(f, Loader)


def configure(cfg):
    """Points the reference module's model constants at the config."""
    tasks = cfg.get('task_types', ['maskrec'])
    cls, rel = 'sketchclsinput' in tasks, 'sketchretrieval' in tasks
    layers = cfg['layers_setting']
    if any(list(s) != list(layers[0]) for s in layers):
        sys.exit('bench_model_torch: the reference model needs equal layers, got %s' % layers)
    ref.LAYERS = layers
    ref.EMBED = list(cfg['embed_layers_setting'])
    ref.REC = list(cfg.get('rec_layers_setting', []))
    ref.CLS = list(cfg.get('cls_layers_setting', []))
    ref.REL = list(cfg.get('rel_layers_setting', []))
    ref.CLS_DIM = cfg.get('cls_dim', 345)
    ref.REL_FEAT = cfg.get('rel_feat_dim', 128)
    ref.T = cfg['max_length']
    ref.K = int(cls) + int(rel)
    return tasks, cls, rel


# Points per sketch of real QuickDraw sketches at percentiles (the table in
# src/cli/cmd_bench_model.c, which `sketchbert bench model --lengths
# quickdraw` draws from): both sides see the same length distribution.
QD_PCT = [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95, 97.5, 99, 99.5, 100]
QD_LEN = [3, 16, 20, 23, 25, 28, 30, 32, 35, 37, 40, 43, 45, 48, 52, 56, 61, 67, 75, 90, 108, 140, 175, 504]


def draw_lengths(n, T, mode, g):
    """n sketch lengths in 1..T: half (uniform T/2+1..T), full or quickdraw."""
    if mode == 'full':
        return torch.full((n,), T)
    if mode == 'half':
        return torch.randint(T // 2 + 1, T + 1, (n,), generator=g)
    u = 100.0 * torch.rand(n, generator=g, dtype=torch.float64)
    out = []
    for x in u.tolist():
        i = 0
        while i < 22 and x >= QD_PCT[i + 1]:
            i += 1
        v = QD_LEN[i] + (QD_LEN[i + 1] - QD_LEN[i]) * (x - QD_PCT[i]) / (QD_PCT[i + 1] - QD_PCT[i])
        out.append(min(max(int(v), 1), T))
    return torch.tensor(out)


def make_batch(n, T, K, classes, cls, rel, lengths='half'):
    """Random tensors of the batch's shapes (values do not matter for speed)."""
    g = torch.Generator().manual_seed(0)
    length = draw_lengths(n, T, lengths, g)
    pos = torch.arange(T)[None, :]
    stroke = torch.zeros(n, T, 5)
    stroke[:, :, :2] = (2 * torch.rand(n, T, 2, generator=g) - 1) * (pos < length[:, None])[..., None]
    pen = torch.where(pos >= length[:, None] - 1, 4, 2 + (torch.rand(n, T, generator=g) < 0.2).long())
    stroke.scatter_(2, pen[..., None], 1.0)
    mask = (torch.rand(n, T, 5, generator=g) < 0.85).float()
    tokens = torch.full((n, K, 5), -1.0)
    if rel:
        tokens[:, 0] = -2.0
    inp = torch.cat([tokens, stroke * mask], dim=1)
    length_mask = (torch.arange(K + T)[None, :] < K + length[:, None]).float()
    label = torch.randint(0, classes, (n,), generator=g)
    return dict(input=inp, stroke=stroke, mask=mask, length_mask=length_mask, label=label)


def forward(nets, batch, tasks, cls, rel):
    """Encoder and the config's heads over the batch: {head: output}."""
    K = ref.K
    h = nets['netE'](batch['input'], batch['length_mask'])
    out = {}
    if 'maskrec' in tasks:
        out['rec'] = nets['net_maskrec'](h[:, K:, :])
    if cls:
        out['cls'] = nets['net_sketchclsinput'](h[:, 1 if rel else 0, :])
    if rel:
        out['rel'] = nets['net_sketchretrieval'](h[:, 0, :])
    return out


def loss(out, batch, cfg, triplet):
    """The config's weighted loss terms (anchors only for the non-triplet
    terms), as torch_reference.run computes them."""
    n = batch['input'].shape[0]
    B = n // 3 if triplet else n
    w = lambda k: float(cfg.get(k + '_weight', 1.0))  # noqa: E731
    total = torch.zeros(())
    if 'rec' in out:
        rec, stroke, mask = out['rec'][:B], batch['stroke'][:B], batch['mask'][:B]
        target = torch.argmax(stroke[:, :, 2:5], dim=2)
        m2, mt = mask[:, :, :2], mask[:, :, 2]
        total = total + w('mask_axis') * F.l1_loss(rec[:, :, :2][m2 == 0], stroke[:, :, :2][m2 == 0])
        total = total + w('rec_axis') * F.l1_loss(rec[:, :, :2][m2 == 1], stroke[:, :, :2][m2 == 1])
        total = total + w('mask_type') * F.cross_entropy(rec[:, :, 2:5][mt == 0], target[mt == 0])
        total = total + w('rec_type') * F.cross_entropy(rec[:, :, 2:5][mt == 1], target[mt == 1])
    if 'cls' in out:
        total = total + w('prediction') * F.cross_entropy(out['cls'][:B], batch['label'][:B])
    if 'rel' in out:
        a, p, q = out['rel'][:B], out['rel'][B:2 * B], out['rel'][2 * B:]
        margin = float(cfg.get('triplet_margin', 2.0))
        total = total + w('triplet') * nn.TripletMarginLoss(margin=margin)(a, p, q)
    return total


def saved_bytes(step):
    """Bytes of the distinct tensor storages autograd saves for backward
    during one call of step (parameters included once)."""
    seen = {}

    def pack(t):
        st = t.untyped_storage()
        seen[st.data_ptr()] = st.nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return sum(seen.values())


def timed(step, warmup, steps):
    """Best and mean wall ms per step, mean process CPU ms per step."""
    for _ in range(warmup):
        step()
    times = []
    cpu0 = time.process_time()
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    cpu = 1e3 * (time.process_time() - cpu0) / steps
    return 1e3 * min(times), 1e3 * sum(times) / len(times), cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('config')
    ap.add_argument('--batch', type=int, default=0, help="sketches per step (default: the config's batch_size)")
    ap.add_argument('--max-length', type=int, default=0, help="points per sketch (default: the config's)")
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--lengths', choices=['half', 'quickdraw', 'full'], default='half',
                    help="sketch lengths as `sketchbert bench model --lengths` draws them (the original code "
                         "computes every padded position, so only the length mask changes)")
    phase = ap.add_mutually_exclusive_group()
    phase.add_argument('--train', action='store_true')
    phase.add_argument('--infer', action='store_true')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = load_config(args.config)
    if args.max_length:
        cfg['max_length'] = args.max_length
    tasks, cls, rel = configure(cfg)
    triplet = cfg.get('get_type', 'single') == 'triplet'
    n = (args.batch or cfg.get('batch_size', 1)) * (3 if triplet else 1)
    nets = ref.build(cfg.get('model_type', 'albert') == 'albert')
    used = {'netE': True, 'net_maskrec': 'maskrec' in tasks, 'net_sketchclsinput': cls, 'net_sketchretrieval': rel}
    nets = {k: v for k, v in nets.items() if used[k]}
    batch = make_batch(n, ref.T, ref.K, ref.CLS_DIM, cls, rel, args.lengths)
    params = sum(p.numel() for m in nets.values() for p in m.parameters())
    print('torch %s, %d threads; %s, %d layers, hidden %d, %d parameters; batch %d sketches of %d+%d tokens'
          % (torch.__version__, torch.get_num_threads(), cfg.get('model_type', 'albert'), len(ref.LAYERS),
             ref.LAYERS[0][1], params, n, ref.K, ref.T))
    lr = float(cfg.get('learning_rate', 1e-4))
    opts = [torch.optim.Adam(m.parameters(), lr=lr) for m in nets.values()]
    last = {}

    def train_step():
        for o in opts:
            o.zero_grad()
        total = loss(forward(nets, batch, tasks, cls, rel), batch, cfg, triplet)
        total.backward()
        for o in opts:
            o.step()
        last['loss'] = total.item()

    def infer_step():
        with torch.no_grad():
            forward(nets, batch, tasks, cls, rel)

    if not args.infer:
        best, mean, cpu = timed(train_step, args.warmup, args.steps)
        if not math.isfinite(last['loss']):
            sys.exit('bench_model_torch: training loss is %g' % last['loss'])
        print('train: best %.2f ms/step, %.2f sketches/s; mean %.2f ms/step, CPU %.2f ms/step '
              '(%d steps after %d warm-up, loss %.4f)'
              % (best, 1e3 * n / best, mean, cpu, args.steps, args.warmup, last['loss']))
        print('saved activations %.1f MiB' % (saved_bytes(train_step) / 2**20))
    if not args.train:
        best, mean, cpu = timed(infer_step, args.warmup, args.steps)
        print('infer: best %.2f ms/step, %.2f sketches/s; mean %.2f ms/step, CPU %.2f ms/step '
              '(%d steps after %d warm-up)' % (best, 1e3 * n / best, mean, cpu, args.steps, args.warmup))
    print('peak RSS %.1f MiB' % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


if __name__ == '__main__':
    main()
