"""Border PSNR of the student (t = 0, seed 0) under four LR paddings: contract 1 (alignment only), 56 px replicate or
reflect on all sides, 56 px replicate on the right and bottom (contract 2). Prints one line per image, then the means
(bench/training/border_pad.json holds a run).

  .venv/bin/python bench/training/border_pad.py Set5 Set14
"""
import sys, math, json
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
import numpy as np, torch, torch.nn.functional as F
from oftsr.training_loop import load_checkpoint
from oftsr.networks import StudentGraph
from oftsr.data import degrade, load_test_set, to_signed
from oftsr.noise import noise_field
from oftsr.metrics import rgb_to_y, _as_tensor
from oftsr.evaluate import to_uint8
torch.set_num_threads(2)
student, _, _ = load_checkpoint(Path(__file__).resolve().parents[2] / "training/checkpoints/student.pt")
g = StudentGraph(student).eval()
P, A = 56, 4
def run(lr, mode):
    h, w = lr.shape[-2:]
    if mode == "old":
        l, t = 0, 0; r = (-w) % A; b = (-h) % A; x = F.pad(lr, (0, r, 0, b), mode="replicate") if r or b else lr
    else:
        pm = "replicate" if mode.startswith("replicate") else "reflect"
        l = t = 0 if mode.endswith("rb") else P
        x = F.pad(lr, (l, P + (-w) % A, t, P + (-h) % A), mode=pm) if pm == "replicate" else None
        if pm == "reflect":
            # reflect may need more than the size: replicate-extend beyond
            x = F.pad(lr, (l, min(P, w - 1), t, min(P, h - 1)), mode="reflect")
            x = F.pad(x, (0, P + (-w) % A - min(P, w - 1) + (0 if l == 0 else l - min(P, w-1)) * 0, 0, 0), mode="replicate")
    H, W = x.shape[-2:]
    # right-pad to alignment
    x = F.pad(x, (0, (-W) % A, 0, (-H) % A), mode="replicate")
    H, W = x.shape[-2:]
    noise = torch.from_numpy(noise_field(0, 0, 0, 4 * H, 4 * W))[None]
    with torch.no_grad():
        out = g(x, noise, torch.zeros(1))
    return to_uint8(out[..., 4 * t:4 * t + 4 * h, 4 * l:4 * l + 4 * w])
def ps(a, b):
    mse = float(np.mean((a - b) ** 2)); return 10 * math.log10(255 ** 2 / mse)
res = {}
modes = ["old", "replicate", "reflect", "replicate_rb"]
for s in sys.argv[1:]:
    for name, hr in load_test_set(Path(__file__).resolve().parents[3] / "shared/datasets/test" / s):
        hrt = to_signed(torch.from_numpy(hr.copy()).permute(2, 0, 1)[None])
        lr = degrade(hrt)
        yh = rgb_to_y(_as_tensor(hr, None)).numpy().astype(np.float64)
        mask = np.zeros(yh.shape, bool); B = 64; mask[:B] = mask[-B:] = True; mask[:, :B] = mask[:, -B:] = True
        inner = np.zeros(yh.shape, bool); inner[4:-4, 4:-4] = True
        ring = mask & inner
        for m in modes:
            y = rgb_to_y(_as_tensor(run(lr, m), None)).numpy().astype(np.float64)
            res.setdefault(m, {"full": [], "ring": []})
            res[m]["full"].append(ps(y[inner], yh[inner])); res[m]["ring"].append(ps(y[ring], yh[ring]))
        print(s, name, {m: round(res[m]["ring"][-1], 3) for m in modes}, flush=True)
print(json.dumps({m: {k: round(float(np.mean(v)), 3) for k, v in d.items()} for m, d in res.items()}))
