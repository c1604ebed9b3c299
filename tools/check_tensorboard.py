#!/usr/bin/env python3
"""Checks `sketchbert train --tensorboard` event files with TensorBoard's
own reader.

Makes synthetic sketches, trains a tiny classifier for 20 steps with
--tensorboard, continues it to 30 steps (a second event file, which must
hold only the new lines), then reads every event file with the
`tensorboard` package (RawEventFileLoader and the Event protobuf, and EventAccumulator as TensorBoard
shows them) and checks: the framing (length and data CRC-32C, masked, as
TFRecord), the file_version event, and that the scalars are exactly the
numeric fields of log.jsonl's train and valid events (tags EVENT/KEY, the
steps, the values as float32).

usage: python3 tools/check_tensorboard.py SKETCHBERT SKETCHBERT-SYNTH
Needs the tensorboard package (pip install tensorboard): without it, says so
and exits 77 (skipped). $SKETCHBERT_TENSORBOARD_PYTHON names a Python that
has it (tools/setup.sh test makes a venv with it from PyPI): the script runs
itself under that one, and then a missing package is a failure, not a skip.
Prints one line per check; exits 1 on any failure.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

tb_python = os.environ.get('SKETCHBERT_TENSORBOARD_PYTHON', '')
if tb_python and not os.environ.get('SKETCHBERT_TENSORBOARD_CHILD'):
    if not os.access(tb_python, os.X_OK):
        print(f'NOT OK SKETCHBERT_TENSORBOARD_PYTHON={tb_python} is not an executable')
        sys.exit(1)
    os.environ['SKETCHBERT_TENSORBOARD_CHILD'] = '1'
    os.execv(tb_python, [tb_python] + sys.argv)

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto import event_pb2
except ImportError as e:
    if tb_python:
        print(f'NOT OK SKETCHBERT_TENSORBOARD_PYTHON={tb_python} cannot import tensorboard: {e}')
        sys.exit(1)
    print('# SKIP: the tensorboard Python package is not installed (pip install tensorboard, '
          'or tools/setup.sh test, which makes a venv with it)')
    sys.exit(77)

failed = 0


def check(name, ok, detail=''):
    global failed
    print(('OK ' if ok else 'NOT OK ') + name + ('' if ok else ': ' + detail))
    failed += not ok


def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82f63b78 if crc & 1 else crc >> 1
    return crc ^ 0xffffffff


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xa282ead8) & 0xffffffff


def records(path):
    """The framing checked by hand: yields (ok, detail) per record."""
    data = open(path, 'rb').read()
    pos = 0
    while pos < len(data):
        head = data[pos:pos + 8]
        n, = struct.unpack('<Q', head)
        hcrc, = struct.unpack('<I', data[pos + 8:pos + 12])
        body = data[pos + 12:pos + 12 + n]
        dcrc, = struct.unpack('<I', data[pos + 12 + n:pos + 16 + n])
        yield hcrc == masked(head) and dcrc == masked(body) and len(body) == n, f'record at byte {pos}'
        pos += 16 + n


def expected_scalars(log_lines):
    out = {}
    for line in log_lines:
        e = json.loads(line)
        if e.get('event') not in ('train', 'valid'):
            continue
        for k, v in e.items():
            if k in ('event', 'step', 'epoch', 'sketches', 'best', 'skipped', 'time'):
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out.setdefault(f"{e['event']}/{k}", []).append((e['step'], struct.unpack('f', struct.pack('f', v))[0]))
    return out


def file_scalars(path):
    out, version = {}, None
    for i, raw in enumerate(RawEventFileLoader(path).Load()):
        ev = event_pb2.Event.FromString(raw)
        if i == 0:
            version = ev.file_version
        for v in ev.summary.value:
            out.setdefault(v.tag, []).append((ev.step, v.simple_value))
    return version, out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sb, synth = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([synth, '--out', f'{tmp}/npz', '--classes', 'circle,square,triangle', '--train', '32',
                        '--valid', '8', '--test', '8'], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([sb, 'prepare', '--quiet', '--threads', '1', '--out', f'{tmp}/mm'] +
                       [f'{tmp}/npz/{c}.npz' for c in ('circle', 'square', 'triangle')], check=True)
        with open(f'{tmp}/c.yml', 'w') as f:
            f.write(f"""task_types: [sketchclsinput]
sum_path: {tmp}/mm/memmap_sum.txt
offset_path: {tmp}/mm/offsets.sbidx
max_length: 48
layers_setting: [[1, 16, 32]]
embed_layers_setting: [16]
cls_dim: 3
batch_size: 4
num_iterations: 30
log_dir: {tmp}/run
print_every: 5
checkpoint_every: 10
""")
        subprocess.run([sb, 'train', f'{tmp}/c.yml', '--quiet', '--tensorboard', '--steps', '20'], check=True)
        with open(f'{tmp}/run/log.jsonl') as f:
            first = f.readlines()
        subprocess.run([sb, 'train', f'{tmp}/c.yml', '--quiet', '--continue', '--set', 'tensorboard=true'], check=True)
        with open(f'{tmp}/run/log.jsonl') as f:
            second = f.readlines()[len(first):]
        files = sorted((os.path.getmtime(f'{tmp}/run/{n}'), n) for n in os.listdir(f'{tmp}/run') if 'tfevents' in n)
        check('one event file per run', len(files) == 2, str(files))
        for (_, name), lines in zip(files, (first, second)):
            path = f'{tmp}/run/{name}'
            framing = list(records(path))
            check(f'{name}: every record framed with masked CRC-32C', framing and all(ok for ok, _ in framing),
                  str([d for ok, d in framing if not ok][:3]))
            version, got = file_scalars(path)
            want = expected_scalars(lines)
            check(f'{name}: file_version brain.Event:2', version == 'brain.Event:2', repr(version))
            check(f'{name}: the tags are the log fields', sorted(got) == sorted(want),
                  f'{sorted(got)} vs {sorted(want)}')
            check(f'{name}: steps and values equal the log', got == want,
                  str([(t, got.get(t), want[t]) for t in want if got.get(t) != want[t]][:2]))
            check(f'{name}: has train and valid scalars',
                  'train/prediction' in got and 'valid/accuracy_1' in got, str(sorted(got)))
        acc = EventAccumulator(f'{tmp}/run')
        acc.Reload()
        shown = [(e.step, e.value) for e in acc.Scalars('train/total')]
        want = expected_scalars(first + second)['train/total']
        check('TensorBoard shows train/total of both runs, steps 5..30', shown == want and len(shown) == 6,
              f'{shown} vs {want}')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
