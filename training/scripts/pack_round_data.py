"""Packs a compact training subset for a GPU round: lossless WebP files under an ignored folder (default .gpu/data).

A GPU round's whole working tree must fit in 64 MiB: the tracked files (about 30 MiB with the checkpoints and their
training states) plus this subset, so it is budgeted to about 27 MiB: one centred crop of every BSDS200 image
(256 px) and of every WikiPhotos image (384 px, the highest-quality set). The script fails when the tracked files
and the subset together would not travel. T91 is left out: its
images are small (many below the 192-pixel training patch) and the least clean. Pixels are unchanged. The small test
sets (Set5, Set14, Faces) go to .gpu/test for the round's own evaluation; the full evaluation runs where
../shared is readable.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image


TRAIN_SUBSETS = (("BSDS200", 256), ("WikiPhotos", 384))
TEST_SETS = ("Set5", "Set14", "Faces")
TRAVEL_LIMIT = 64 * 2**20  # what the device tool sends: tracked files + untracked-not-ignored + carried paths
REPO = Path(__file__).resolve().parents[2]


def tracked_bytes(repo: Path = REPO) -> int:
    """Bytes of the files git tracks in `repo` (0 outside a git checkout)."""
    import subprocess

    try:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return 0
    return sum((repo / n).stat().st_size for n in names.decode().split("\0") if n and (repo / n).is_file())


def _pack_one(job: tuple[str, str, int]) -> tuple[str, int, int, int]:
    src, dst, crop = job
    img = Image.open(src).convert("RGB")
    if crop:
        w, h = img.size
        cw, ch = min(crop, w), min(crop, h)
        left, top = (w - cw) // 2, (h - ch) // 2
        img = img.crop((left, top, left + cw, top + ch))
    img.save(dst, "WEBP", lossless=True, quality=100, method=4)
    return dst, img.size[0], img.size[1], Path(dst).stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train", default="../shared/datasets/train")
    ap.add_argument("--test", default="../shared/datasets/test")
    ap.add_argument("--out", default=".gpu")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    train, test, out = Path(args.train), Path(args.test), Path(args.out)
    jobs = []
    for subset, crop in TRAIN_SUBSETS:
        (out / "data").mkdir(parents=True, exist_ok=True)
        for src in sorted((train / subset).glob("*.png")):
            jobs.append((str(src), str(out / "data" / f"{subset}_{src.stem}.webp"), crop))
    for subset in TEST_SETS:
        (out / "test" / subset).mkdir(parents=True, exist_ok=True)
        for src in sorted((test / subset).glob("*.png")):
            jobs.append((str(src), str(out / "test" / subset / f"{src.stem}.webp"), 0))
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(_pack_one, jobs))
    total = sum(r[3] for r in rows)
    print(f"packed {len(rows)} images, {sum(r[1] * r[2] for r in rows) / 1e6:.1f} MP, {total / 2**20:.1f} MiB in {out}")
    travel = tracked_bytes() + total
    print(f"a GPU round carries {travel / 2**20:.1f} MiB of {TRAVEL_LIMIT / 2**20:.0f} (tracked files + this subset)")
    if travel > TRAVEL_LIMIT:
        raise SystemExit(f"over the device tool's {TRAVEL_LIMIT / 2**20:.0f} MiB: shrink TRAIN_SUBSETS")


if __name__ == "__main__":
    main()
