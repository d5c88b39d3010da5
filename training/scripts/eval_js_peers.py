"""Evaluates the UpscalerJS x4 models a JavaScript developer installs from npm (@upscalerjs/esrgan-slim, -medium,
-thick, run by tfjs in Node) under our protocol and writes training/results/peers_js.json, which the model card
shows beside our model ("peer esrgan-…" rows).

    source bin/env.sh   # Node 22 on PATH
    nice -n 19 .venv/bin/python training/scripts/eval_js_peers.py --skip esrgan-thick:B100,Kodak24,Kodak24-jpeg75

Same LR inputs as training/evaluate.py and scripts/eval_peers.py: HR -> `degrade` (bicubic x1/4, antialiased, 8-bit);
for "Kodak24-jpeg75" the LR then goes through `jpeg_roundtrip(lr, 75)`, as Evaluator.outputs(jpeg_quality=75) does.
The LR images are written as PNGs to a temporary folder, upscaled by scripts/js-peers/upscale.mjs (Node 22; the
package folder scripts/js-peers is installed on first use with `npm ci` from its own lockfile, outside the workspace;
the weights come from the installed npm packages, never a CDN) and scored with the metrics of oftsr/metrics.py on the
8-bit outputs (NIQE only for images of at least 96 px, as eval_peers.py).

tfjs-node cannot install here (it downloads libtensorflow from storage.googleapis.com at install time), so the
models run on tfjs's wasm backend (SIMD). `--skip PEER:SET,SET` leaves a slow peer out of some sets (esrgan-thick
runs at about a minute per output megapixel on this machine's shared cores); what was skipped is recorded in the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from oftsr.data import degrade, load_test_set, to_signed  # noqa: E402
from oftsr.evaluate import jpeg_roundtrip, to_uint8  # noqa: E402
from oftsr.metrics import NIQE, psnr_rgb, psnr_y, sharpness_ratio, ssim_y  # noqa: E402

HERE = Path(__file__).resolve().parents[1]
SHARED = HERE.parent.parent / "shared"
JS = Path(__file__).resolve().parent / "js-peers"
PEERS = ("esrgan-slim", "esrgan-medium", "esrgan-thick")
JPEG_SETS = {"Kodak24-jpeg75": ("Kodak24", 75)}  # extra set: (source set, JPEG quality of the LR)


def make_lr(hr: np.ndarray, jpeg_quality: int | None = None) -> np.ndarray:
    """HR uint8 H x W x 3 -> the protocol's 8-bit LR (H/4 x W/4 x 3), optionally through a JPEG at `jpeg_quality`."""
    lr = degrade(to_signed(torch.from_numpy(hr.copy()).permute(2, 0, 1)[None]))
    if jpeg_quality is not None:
        lr = jpeg_roundtrip(lr, jpeg_quality)
    return to_uint8(lr)


def score(pairs: list[tuple[np.ndarray, np.ndarray]], niqe: Callable[[np.ndarray], float] | None) -> dict:
    """Mean metrics over (output, HR) pairs of 8-bit images, as eval_peers.py computes them."""
    sums: dict[str, list[float]] = {}
    for out, hr in pairs:
        if out.shape != hr.shape:
            raise ValueError(f"output {out.shape} does not match HR {hr.shape}")
        m = {"psnr_y": psnr_y(out, hr), "ssim_y": ssim_y(out, hr), "psnr_rgb": psnr_rgb(out, hr),
             "sharpness": sharpness_ratio(out, hr)}
        if niqe is not None and min(out.shape[:2]) >= 96:
            m["niqe"] = niqe(out)
        for k, v in m.items():
            sums.setdefault(k, []).append(v)
    return {k: float(np.mean(v)) for k, v in sums.items()}


def parse_skip(items: list[str]) -> dict[str, set[str]]:
    """["esrgan-thick:B100,Kodak24"] -> {"esrgan-thick": {"B100", "Kodak24"}}."""
    skip: dict[str, set[str]] = {}
    for item in items:
        peer, _, sets = item.partition(":")
        if peer not in PEERS or not sets:
            raise SystemExit(f"--skip {item!r}: expected PEER:SET[,SET] with PEER one of {', '.join(PEERS)}")
        skip.setdefault(peer, set()).update(sets.split(","))
    return skip


def install() -> None:
    """npm ci of scripts/js-peers (its own package-lock.json) unless already installed."""
    if (JS / "node_modules" / "@upscalerjs" / "esrgan-thick").exists():
        return
    subprocess.run(["npm", "ci", "--prefix", str(JS), "--no-audit", "--no-fund", "--ignore-scripts"], check=True)


def lockfile_versions() -> dict[str, str]:
    lock = json.loads((JS / "package-lock.json").read_text())
    deps = json.loads((JS / "package.json").read_text())["dependencies"]
    return {name: lock["packages"][f"node_modules/{name}"]["version"] for name in deps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--test", default=str(SHARED / "datasets" / "test"))
    ap.add_argument("--niqe", default=str(SHARED / "metrics" / "niqe_pris_params.npz"))
    ap.add_argument("--out", default=str(HERE / "results" / "peers_js.json"))
    ap.add_argument("--sets", nargs="*", help="only these sets (default: every folder of --test and Kodak24-jpeg75)")
    ap.add_argument("--peers", nargs="*", default=list(PEERS), choices=PEERS)
    ap.add_argument("--skip", nargs="*", default=[], metavar="PEER:SET,SET", help="leave a peer out of some sets")
    ap.add_argument("--backend", default="wasm", choices=("wasm", "cpu"), help="tfjs backend in Node")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for the metrics and wasm threads (tfjs wasm in Node runs single-threaded)")
    ap.add_argument("--patch", type=int, help="LR patch size (default: the whole image at once)")
    ap.add_argument("--padding", type=int, default=16, help="LR context per side of a patch")
    ap.add_argument("--note", help="recorded in the JSON, e.g. why a peer was skipped")
    ap.add_argument("--work", help="keep the LR and output PNGs here (default: a temporary folder)")
    args = ap.parse_args()
    torch.set_num_threads(max(1, args.threads))
    skip = parse_skip(args.skip)
    t0 = time.time()
    install()

    sources = {d.name: (d, None) for d in sorted(Path(args.test).iterdir()) if d.is_dir()}
    sources.update({name: (sources[src][0], q) for name, (src, q) in JPEG_SETS.items() if src in sources})
    names = args.sets or list(sources)
    unknown = [s for s in names if s not in sources]
    if unknown:
        raise SystemExit(f"unknown sets {unknown}; available: {', '.join(sources)}")

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="js-peers-"))
    try:
        hrs: dict[str, list[tuple[str, np.ndarray]]] = {}
        for name in names:
            folder, quality = sources[name]
            (work / "lr" / name).mkdir(parents=True, exist_ok=True)
            hrs[name] = load_test_set(folder)
            for stem, hr in hrs[name]:
                Image.fromarray(make_lr(hr, quality)).save(work / "lr" / name / f"{stem}.png")

        runs = {}
        for peer in args.peers:
            todo = [str(work / "lr" / s) for s in names if s not in skip.get(peer, set())]
            if not todo:
                continue
            cmd = ["node", str(JS / "upscale.mjs"), "--peer", peer, "--out", str(work / "out"),
                   "--backend", args.backend, "--threads", str(args.threads), "--padding", str(args.padding)]
            if args.patch:
                cmd += ["--patch", str(args.patch)]
            subprocess.run(cmd + todo, check=True)
            runs[peer] = json.loads((work / "out" / peer / "run.json").read_text())

        niqe = NIQE(args.niqe)
        sets: dict[str, dict] = {}
        for name in names:
            sets[name] = {}
            for peer in runs:
                folder = work / "out" / peer / name
                if not folder.exists():
                    continue
                pairs = [(np.asarray(Image.open(folder / f"{stem}.png").convert("RGB")), hr) for stem, hr in hrs[name]]
                sets[name][peer] = score(pairs, niqe)
            print(name, {p: round(v["psnr_y"], 2) for p, v in sets[name].items()}, flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)

    first = next(iter(runs.values()))
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "packages": lockfile_versions(),
        "tfjs_backend": first["backend"] + ("" if first["backend"] != "wasm" else f" (SIMD, {args.threads} thread)"),
        "node": first["node"],
        "inference": first["patch"] if isinstance(first["patch"], str) else
                     f"patches of {args.patch} LR px with {args.padding} px padding",
        "protocol": "LR = degrade(HR) (bicubic x1/4 antialiased, 8-bit), Kodak24-jpeg75: then jpeg_roundtrip(lr, 75); "
                    "outputs clipped and rounded to 8-bit RGB; metrics from oftsr/metrics.py",
        "skipped": {p: sorted(s) for p, s in skip.items()},
        **({"note": args.note} if args.note else {}),
        "peers": {p: {k: r[k] for k in ("package", "weights", "input_range", "output_range", "seconds", "sets")}
                  for p, r in runs.items()},
        "seconds": round(time.time() - t0, 1),
        "cpu_threads": args.threads,
        "host_cpus": os.cpu_count(),
        "sets": sets,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
