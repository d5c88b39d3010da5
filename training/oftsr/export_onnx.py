"""ONNX export of the student per the shared model contract (packages/shared/README.md).

The graph takes `lr` [N,3,H,W], `noise` [N,3,4H,4W] and `t` [N] and returns `sr` [N,3,4H,4W], all float32 in
[-1, 1]; bicubic up-sampling and x0 are inside the graph. Opset 17 through the TorchScript exporter: onnxruntime-web's
WebGPU backend lacks or falls back on several opset-18+ ops. Beside <name>.onnx go <name>.json (the manifest the
runtimes validate) and <name>.reference.json (a small input with its PyTorch output, which the TypeScript suite
checks through onnxruntime-node).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import onnx
import torch

from .networks import OneStepStudent, StudentGraph, count_params, receptive_radius
from .noise import noise_field

OPSET = 17
# 2: every image gets `margin` replicated LR pixels of context on its right and bottom before tiling (evaluate.py's
# pad_to, packages/shared frameSize), so output pixels no longer depend on the tile list.
CONTRACT = 2
INPUTS, OUTPUTS = ("lr", "noise", "t"), ("sr",)


def measure_margin(graph: StudentGraph) -> int:
    """Receptive-field radius in LR pixels of the whole graph (up-sampling included), probed on a copy whose
    zero-initialised layers are randomised so that every path carries gradient."""
    import copy

    probe = copy.deepcopy(graph).float().eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in probe.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.05)
    size = 4 * (probe.student.backbone.alignment * 40 // 4)
    make = lambda h, w: (torch.randn(1, 3, h, w), torch.randn(1, 3, 4 * h, 4 * w), torch.tensor([0.5]))  # noqa: E731
    return receptive_radius(probe.unclamped, make, size, phases=probe.student.backbone.alignment)


def reference_case(graph: StudentGraph, alignment: int) -> dict:
    """A fixed small input (a smooth pattern plus a checker, LR 2*alignment square, two values of t, noise seed 1)
    and the PyTorch output for it."""
    h = w = 2 * alignment
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    lr = np.stack([np.sin(0.7 * xx + 0.3 * c) * np.cos(0.5 * yy) * 0.8 + 0.15 * ((xx + yy + c) % 2)
                   for c in range(3)]).astype(np.float32)[None]
    noise = noise_field(1, 0, 0, 4 * h, 4 * w)[None]
    ts = np.array([0.0, 0.7], dtype=np.float32)
    with torch.no_grad():
        out = graph(torch.from_numpy(lr).repeat(2, 1, 1, 1), torch.from_numpy(noise).repeat(2, 1, 1, 1),
                    torch.from_numpy(ts))
    return {"description": "LR pattern (see training/oftsr/export_onnx.py), noise field seed 1 at origin (0, 0), "
                           "batch of 2 with t = 0 and 0.7; sr is the PyTorch output",
            "noise_seed": 1, "t": ts.tolist(), "lr_shape": list(lr.shape),
            "lr": [round(float(v), 7) for v in lr.ravel()], "sr_shape": [2, 3, 4 * h, 4 * w],
            "sr": [round(float(v), 6) for v in out.numpy().ravel()], "tolerance": 1e-3}


def export_student(student: OneStepStudent, out_dir: Path, name: str, trained: bool, tile: int,
                   training_meta: dict | None = None, version: str | None = None) -> dict:
    """Export, stamp metadata, write manifest and reference; returns the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    graph = StudentGraph(student.float().cpu()).eval()
    alignment = graph.student.backbone.alignment
    margin = measure_margin(graph)
    onnx_path = out_dir / f"{name}.onnx"
    h = w = 4 * alignment
    args = (torch.zeros(1, 3, h, w), torch.zeros(1, 3, 4 * h, 4 * w), torch.zeros(1))
    dyn = {"lr": {0: "N", 2: "H", 3: "W"}, "noise": {0: "N", 2: "H4", 3: "W4"}, "t": {0: "N"},
           "sr": {0: "N", 2: "H4", 3: "W4"}}
    torch.onnx.export(graph, args, str(onnx_path), opset_version=OPSET, dynamo=False, input_names=list(INPUTS),
                      output_names=list(OUTPUTS), dynamic_axes=dyn, do_constant_folding=True)
    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model)
    # The contract is in the digest: the same graph under a new contract makes other pixels, so another version
    # (and so other cache keys).
    digest_src = hashlib.sha256(model.graph.SerializeToString() + f"contract={CONTRACT}".encode()).hexdigest()[:10]
    version = version or f"{time.strftime('%Y.%m.%d')}-{digest_src}"
    meta = {"contract": str(CONTRACT), "name": name, "version": version, "scale": "4",
            "sigma_p": repr(float(graph.student.sigma_p)), "alignment": str(alignment), "margin": str(margin),
            "tile": str(tile), "trained": "true" if trained else "false"}
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    model.producer_name = "oftsr-edge training/export.py"
    onnx.save(model, str(onnx_path))
    data = onnx_path.read_bytes()
    manifest = {"contract": CONTRACT, "name": name, "version": version, "file": onnx_path.name,
                "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "trained": trained, "scale": 4,
                "sigma_p": float(graph.student.sigma_p), "alignment": alignment, "margin": margin, "tile": tile,
                "opset": OPSET, "inputs": list(INPUTS), "outputs": list(OUTPUTS), "params": count_params(student),
                "training": training_meta or {}}
    (out_dir / f"{name}.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (out_dir / f"{name}.reference.json").write_text(json.dumps(reference_case(graph, alignment)) + "\n")
    return manifest


def onnx_parity(onnx_path: Path, student: OneStepStudent, h: int = 24, w: int = 40, n: int = 2, seed: int = 0) -> float:
    """Max |onnxruntime - PyTorch| on random inputs of a size other than the export's."""
    import onnxruntime as ort

    gen = torch.Generator().manual_seed(seed)
    lr = torch.rand(n, 3, h, w, generator=gen) * 2 - 1
    noise = torch.randn(n, 3, 4 * h, 4 * w, generator=gen)
    t = torch.rand(n, generator=gen)
    with torch.no_grad():
        ref = StudentGraph(student.float().cpu()).eval()(lr, noise, t).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(["sr"], {"lr": lr.numpy(), "noise": noise.numpy(), "t": t.numpy()})[0]
    return float(np.abs(got - ref).max())
