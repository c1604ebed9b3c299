#!/usr/bin/env python3
"""PyTorch reference for the golden model test (tests/test_golden.c).

Builds Sketch-BERT in PyTorch from the semantics in
docs/sketch-bert-reference.md (written for this test; the original
repository is not imported), with module attributes named so that the
state_dict keys are the original's, runs it on a fixed batch and writes a
small fixture.

Usage:
    build/tests/test_golden --write-batch /tmp/batch.bin
    python3 tools/torch_reference.py /tmp/batch.bin tests/data/golden_ref.bin

The batch comes from our own data path (synthetic stroke-3 sketches through
sb_transform_sketch and sb_sgm_mask, task tokens as the dataset puts them:
see tests/model_fixture.c) and is copied into the fixture.

Fixture format (little-endian): the 4 bytes "SBG1", then records, each
    u32 name length, name (UTF-8, no terminator),
    u32 dtype (0 float32, 1 int32), u32 ndim, u32 shape[ndim],
    the elements (row-major).
Records:
    batch.input (3B, Tin, 5), batch.stroke (3B, T, 5), batch.mask (3B, T, 5),
    batch.length_mask (3B, Tin), batch.label (3B) int32  -- anchors,
        positives, negatives, B each
and for each variant V in (albert, bert):
    V.param.<name>   initial parameter (PyTorch default init, seed 0 / 1)
    V.grad.<name>    its gradient of the total loss at those parameters
    V.out.encoder (3B, Tin, H), V.out.rec (3B, T, 5), V.out.cls (3B, cls_dim),
    V.out.rel (3B, rel_feat_dim)   encoder and head outputs
    V.loss  (7): mask_axis, rec_axis, mask_type, rec_type, prediction,
        triplet (each already times its weight), total
    V.trajectory (11): the total loss before each of 10 Adam steps (lr 1e-3,
        one torch.optim.Adam per network as the original) and after the last
<name> is the full parameter name with its network prefix, e.g.
netE.encoder.sketch_layer.attention.attention.query.weight.
Dropout is 0 throughout (the model in eval semantics).
"""
import math
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# The config tests/test_golden.c uses (keep the two in step).
LAYERS = [[4, 32, 64], [4, 32, 64]]
EMBED = [16, 24]
REC = [16]
CLS = []
CLS_DIM = 7
REL = []
REL_FEAT = 8
T = 20
K = 2  # retrieval token, then classification token
WEIGHTS = dict(mask_axis=1.0, rec_axis=0.5, mask_type=1.5, rec_type=0.25, prediction=0.7, triplet=1.3)
MARGIN = 2.0
LR = 1e-3
STEPS = 10


# ---- the model

class SelfAttention(nn.Module):
    def __init__(self, heads, hidden):
        super().__init__()
        self.heads, self.d = heads, hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def forward(self, x, add_mask):  # x (B, T, H), add_mask (B, 1, 1, T)
        B, Tn, H = x.shape

        def split(t):
            return t.view(B, Tn, self.heads, self.d).permute(0, 2, 1, 3)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d) + add_mask
        probs = F.softmax(scores, dim=-1)
        return (probs @ v).permute(0, 2, 1, 3).reshape(B, Tn, H)


class Output(nn.Module):  # LayerNorm(fc(x) + residual)
    def __init__(self, n_in, n_out):
        super().__init__()
        self.fc = nn.Linear(n_in, n_out)
        self.norm = nn.LayerNorm(n_out, eps=1e-5)

    def forward(self, x, residual):
        return self.norm(self.fc(x) + residual)


class MultiHeadAttention(nn.Module):
    def __init__(self, heads, hidden):
        super().__init__()
        self.attention = SelfAttention(heads, hidden)
        self.output = Output(hidden, hidden)

    def forward(self, x, add_mask):
        return self.output(self.attention(x, add_mask), x)


class Intermediate(nn.Module):
    def __init__(self, hidden, inter):
        super().__init__()
        self.fc = nn.Linear(hidden, inter)

    def forward(self, x):
        return F.gelu(self.fc(x))  # exact erf form


class Layer(nn.Module):
    def __init__(self, heads, hidden, inter):
        super().__init__()
        self.attention = MultiHeadAttention(heads, hidden)
        self.inter_layer = Intermediate(hidden, inter)
        self.output = Output(inter, hidden)

    def forward(self, x, add_mask):
        a = self.attention(x, add_mask)
        return self.output(self.inter_layer(a), a)


class AlbertEncoder(nn.Module):  # one layer, used len(layers) times
    def __init__(self, layers):
        super().__init__()
        self.sketch_layer = Layer(*layers[0])
        self.uses = len(layers)

    def forward(self, x, add_mask):
        for _ in range(self.uses):
            x = self.sketch_layer(x, add_mask)
        return x


class BertEncoder(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList([Layer(*s) for s in layers])

    def forward(self, x, add_mask):
        for layer in self.layers:
            x = layer(x, add_mask)
        return x


class Embedding(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.embedding = nn.Linear(n_in, n_out)


class PosEmbedding(nn.Module):
    def __init__(self, rows, dim):
        super().__init__()
        self.pos_embedding = nn.Embedding(rows, dim)


class Stack(nn.Module):  # Linear layers without activations, as `attr`.<i>
    def __init__(self, attr, dims):
        super().__init__()
        self.attr = attr
        setattr(self, attr, nn.ModuleList([nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]))

    def forward(self, x):
        for lin in getattr(self, self.attr):
            x = lin(x)
        return x


class Encoder(nn.Module):  # netE
    def __init__(self, albert):
        super().__init__()
        H = LAYERS[0][1]
        self.embedding = Embedding(5, EMBED[0])
        self.pos_embedding = PosEmbedding(T + K, EMBED[0])
        self.embed_refine_net = Stack('layers', EMBED + [H])
        self.encoder = AlbertEncoder(LAYERS) if albert else BertEncoder(LAYERS)

    def forward(self, inp, length_mask):  # inp (B, Tin, 5), length_mask (B, Tin)
        add_mask = ((1.0 - length_mask) * -10000.0)[:, None, None, :]
        x = self.embedding.embedding(inp) + self.pos_embedding.pos_embedding.weight[: inp.shape[1]]
        return self.encoder(self.embed_refine_net(x), add_mask)


def build(albert):
    H = LAYERS[0][1]
    return {
        'netE': Encoder(albert),
        'net_maskrec': Stack('re_fcs', [H] + REC + [5]),
        'net_sketchclsinput': Stack('cls_fcs', [H] + CLS + [CLS_DIM]),
        'net_sketchretrieval': Stack('rel_fcs', [H] + REL + [REL_FEAT]),
    }


def run(nets, batch):
    """Forward as the original trainer: netE and the heads on each third
    (anchors, positives, negatives); the non-triplet losses on the anchors."""
    B = batch['input'].shape[0] // 3
    outs = []
    for i in range(3):
        part = slice(i * B, (i + 1) * B)
        h = nets['netE'](batch['input'][part], batch['length_mask'][part])
        outs.append({
            'encoder': h,
            'rec': nets['net_maskrec'](h[:, K:, :]),
            'cls': nets['net_sketchclsinput'](h[:, 1, :]),  # pool_dim = rel token present
            'rel': nets['net_sketchretrieval'](h[:, 0, :]),
        })
    stroke, mask, label = batch['stroke'][:B], batch['mask'][:B], batch['label'][:B]
    rec = outs[0]['rec']
    target_type = torch.argmax(stroke[:, :, 2:5], dim=2)
    ce = nn.CrossEntropyLoss()
    terms = {
        'mask_axis': F.l1_loss(rec[:, :, :2][mask[:, :, :2] == 0], stroke[:, :, :2][mask[:, :, :2] == 0]),
        'rec_axis': F.l1_loss(rec[:, :, :2][mask[:, :, :2] == 1], stroke[:, :, :2][mask[:, :, :2] == 1]),
        'mask_type': ce(rec[:, :, 2:5][mask[:, :, 2] == 0, :], target_type[mask[:, :, 2] == 0]),
        'rec_type': ce(rec[:, :, 2:5][mask[:, :, 2] == 1, :], target_type[mask[:, :, 2] == 1]),
        'prediction': ce(outs[0]['cls'], label),
        'triplet': nn.TripletMarginLoss(margin=MARGIN)(*[o['rel'] for o in outs]),
    }
    terms = {k: WEIGHTS[k] * v for k, v in terms.items()}
    total = torch.zeros(1)
    for k in ['mask_axis', 'rec_axis', 'mask_type', 'rec_type', 'prediction', 'triplet']:
        total = total + terms[k]
    joined = {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
    return total, terms, joined


# ---- records

def read_records(path):
    recs = {}
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:4] == b'SBG1', path + ': not a record file'
    at = 4
    while at < len(data):
        (n,) = struct.unpack_from('<I', data, at)
        name = data[at + 4: at + 4 + n].decode()
        at += 4 + n
        dtype, ndim = struct.unpack_from('<II', data, at)
        shape = struct.unpack_from('<%dI' % ndim, data, at + 8)
        at += 8 + 4 * ndim
        count = int(np.prod(shape)) if ndim else 1
        arr = np.frombuffer(data, dtype='<f4' if dtype == 0 else '<i4', count=count, offset=at).reshape(shape)
        at += 4 * count
        recs[name] = arr
    return recs


def write_record(f, name, arr):
    arr = np.ascontiguousarray(arr)
    dtype = 1 if arr.dtype.kind == 'i' else 0
    arr = arr.astype('<i4' if dtype else '<f4')
    raw = name.encode()
    f.write(struct.pack('<I', len(raw)) + raw + struct.pack('<II', dtype, arr.ndim))
    f.write(struct.pack('<%dI' % arr.ndim, *arr.shape))
    f.write(arr.tobytes())


def main():
    batch_path, out_path = sys.argv[1], sys.argv[2]
    recs = read_records(batch_path)
    batch = {k[len('batch.'):]: torch.from_numpy(np.array(v)) for k, v in recs.items()}
    batch['label'] = batch['label'].long()
    assert batch['input'].shape[1:] == (T + K, 5), batch['input'].shape
    with open(out_path, 'wb') as f:
        f.write(b'SBG1')
        for k, v in recs.items():
            write_record(f, k, v)
        for seed, variant in enumerate(['albert', 'bert']):
            torch.manual_seed(seed)
            nets = build(variant == 'albert')
            params = [(net + '.' + k, p) for net, m in nets.items() for k, p in m.named_parameters()]
            for name, p in params:
                write_record(f, variant + '.param.' + name, p.detach().numpy())
            total, terms, outs = run(nets, batch)
            total.backward()
            for name, p in params:
                write_record(f, variant + '.grad.' + name, p.grad.numpy())
            for k, v in outs.items():
                write_record(f, variant + '.out.' + k, v.detach().numpy())
            order = ['mask_axis', 'rec_axis', 'mask_type', 'rec_type', 'prediction', 'triplet']
            write_record(f, variant + '.loss', np.array([terms[k].item() for k in order] + [total.item()]))
            opts = {net: torch.optim.Adam(m.parameters(), lr=LR) for net, m in nets.items()}
            trajectory = []
            for _ in range(STEPS):
                for o in opts.values():
                    o.zero_grad()
                total, _, _ = run(nets, batch)
                total.backward()
                for o in opts.values():
                    o.step()
                trajectory.append(total.item())
            with torch.no_grad():
                trajectory.append(run(nets, batch)[0].item())
            write_record(f, variant + '.trajectory', np.array(trajectory))
            print(variant, 'loss', [round(terms[k].item(), 6) for k in order], 'trajectory', trajectory)


if __name__ == '__main__':
    main()
