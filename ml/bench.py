"""Benchmark the whole path, file -> measured polygons, on 2 threads.

    python -m ml.bench                       # 1000x1000, 2048x2048, 4000x4000, default model
    python -m ml.bench --model classical --repeat 5
    python -m ml.bench --sizes 1000 --reference   # and the speed-up over the replaced model

With ``--reference``, a stand-in of the replaced model (``ml.replaced``: a 131 M-parameter
attention residual U-Net with random weights) runs on a 1024 x 1024 input on the same threads,
in its own subprocess (median of ``--reference-repeat`` runs after a 256 x 256 warm-up), and the
speed-up is its median over the 1000 x 1000 median (target: 80).

Each size runs in a fresh subprocess (so its peak RSS is its own): read PNG, normalise, infer,
post-process, measure. The first call (model loading) is timed separately; the figure is the
median of ``--repeat`` further calls. Test images: the real ``demo/spheroids/spheroid_pair.png``
(1000x1000) and the same image enlarged (bilinear) to 2048 and 4000 px.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "demo" / "spheroids" / "spheroid_pair.png"


def _one(path: str, model: str, repeat: int) -> dict:
    import resource

    import numpy as np

    from ml.engine import segment
    from ml.io import read_image

    t0 = time.perf_counter()
    img, _ = read_image(path)
    res = segment(img, model=model)
    first = time.perf_counter() - t0
    del img
    times, stages = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        img, _ = read_image(path)
        t_read = time.perf_counter() - t
        res = segment(img, model=model)
        times.append(time.perf_counter() - t)
        stages.append({"read": t_read, **res.timings})
        del img
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    med = float(np.median(times))
    mid = stages[int(np.argsort(times)[len(times) // 2])]
    return {"median_s": round(med, 4), "min_s": round(min(times), 4), "first_call_s": round(first, 3),
            "peak_rss_mb": round(rss_mb, 1), "objects": len(res.polygons),
            "stages_s": {k: round(v, 4) for k, v in mid.items() if isinstance(v, float)}}


def _reference(repeat: int, size: int) -> dict:
    """The replaced model's stand-in on a ``size`` x ``size`` input: median seconds, peak RSS."""
    import resource

    import numpy as np
    import torch

    from ml.replaced import ReplacedModel

    n = os.environ.get("ML_NUM_THREADS")
    if n:
        torch.set_num_threads(int(n))
    torch.manual_seed(0)
    model = ReplacedModel().eval()
    times = []
    with torch.inference_mode():
        model(torch.rand(1, 1, min(size, 256), min(size, 256)))  # warm-up: kernels chosen, memory mapped
        x = torch.rand(1, 1, size, size)
        for _ in range(repeat):
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    return {"input": size, "median_s": round(float(np.median(times)), 3), "min_s": round(min(times), 3),
            "parameters": sum(p.numel() for p in model.parameters()),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m ml.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--sizes", default="1000,2048,4000")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reference", action="store_true",
                    help="also time the replaced model's stand-in (about 25-40 s a run) and print the speed-up")
    ap.add_argument("--reference-repeat", type=int, default=3)
    ap.add_argument("--reference-size", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--one-reference", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    from ml.engine import DEFAULT_MODEL

    model = args.model or DEFAULT_MODEL
    if args.one:
        print(json.dumps(_one(args.one, model, args.repeat)))
        return 0
    if args.one_reference:
        from ml.replaced import INPUT_SIZE

        print(json.dumps(_reference(args.reference_repeat, args.reference_size or INPUT_SIZE)))
        return 0
    import cv2

    env = dict(os.environ, ML_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    src = cv2.imread(str(DEMO), cv2.IMREAD_UNCHANGED)
    print(f"model {model}, {args.threads} threads, median of {args.repeat} runs after a warm-up call")
    print(f"{'size':>11s} {'median s':>9s} {'min s':>7s} {'1st call s':>10s} {'peak RSS MB':>11s} {'objects':>7s}")
    rows = {}
    with tempfile.TemporaryDirectory() as td:
        for s in [int(x) for x in args.sizes.split(",")]:
            p = Path(td) / f"bench_{s}.png"
            im = src if src.shape[0] == s else cv2.resize(src, (s, s), interpolation=cv2.INTER_LINEAR)
            cv2.imwrite(str(p), im)
            out = subprocess.run([sys.executable, "-m", "ml.bench", "--one", str(p), "--model", model,
                                  "--repeat", str(args.repeat if s <= 2048 else max(3, args.repeat // 2))],
                                 env=env, capture_output=True, text=True)
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                return 1
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows[s] = r
            print(f"{s:>5d}x{s:<5d} {r['median_s']:9.3f} {r['min_s']:7.3f} {r['first_call_s']:10.2f} "
                  f"{r['peak_rss_mb']:11.0f} {r['objects']:7d}   stages {r['stages_s']}")
    if args.reference:
        cmd = [sys.executable, "-m", "ml.bench", "--one-reference", "--reference-repeat", str(args.reference_repeat)]
        if args.reference_size:
            cmd += ["--reference-size", str(args.reference_size)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])
        side = r["input"]
        print(f"replaced model's stand-in ({r['parameters'] / 1e6:.1f} M parameters, random weights, {side} x {side} "
              f"input, network only): median {r['median_s']:.2f} s, min {r['min_s']:.2f} s of "
              f"{args.reference_repeat} runs, peak RSS {r['peak_rss_mb']:.0f} MB")
        if 1000 in rows:
            print(f"speed-up at 1000 x 1000 (stand-in median / whole-path median): "
                  f"{r['median_s'] / rows[1000]['median_s']:.0f} x (target 80 x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
