"""A training campaign that outlives one run: the training state (raw weights and Adam's moments) is saved beside
the EMA checkpoint and restored by the next round, which then skips the warm-up; SIGTERM ends a stage cleanly."""

from __future__ import annotations

import json

import torch

from _util import TINY
from oftsr.data import PatchSampler
from oftsr.loss import DistillLoss, ground_truth_boundary_loss
from oftsr.networks import FlowDenoiser, OneStepStudent
from oftsr.training_loop import StageOptions, StopRequest, ThreadTuner, Trainer, flow_loss_fn, state_path


def _sampler():
    rng = torch.Generator().manual_seed(0)
    images = [(torch.rand(80, 96, 3, generator=rng) * 255).to(torch.uint8).numpy() for _ in range(2)]
    return PatchSampler(images, 32, "cpu")


def _trainer(net, **kw):
    opt = StageOptions(minutes=10, batch=2, lr=1e-3, warmup=50, ema=0.9, log_every_s=1e9, **kw)
    return Trainer(net, flow_loss_fn(0.1, "x1"), _sampler(), opt, "cpu", log=lambda m: None)


def test_state_round_trip_restores_weights_and_moments(tmp_path):
    first = _trainer(FlowDenoiser(TINY, 0.1), max_steps=4)
    first.run()
    path = state_path(tmp_path / "teacher.pt")
    assert path.name == "teacher.state.pt"
    first.save_state(path, steps=4)

    second = _trainer(FlowDenoiser(TINY, 0.1), max_steps=0)
    assert not second.restore(path, steps=3)  # a state of another checkpoint is not used
    assert second.opt.warmup == 50
    assert second.restore(path, steps=4)
    assert second.opt.warmup == 0 and second.resumed
    for a, b in zip(first.net.parameters(), second.net.parameters()):
        assert torch.allclose(a, b, atol=1e-3, rtol=1e-3)
    m1, m2 = first.optim.state_dict()["state"], second.optim.state_dict()["state"]
    assert m1.keys() == m2.keys()
    for k in m1:
        assert torch.allclose(m1[k]["exp_avg_sq"], m2[k]["exp_avg_sq"], rtol=2e-2, atol=1e-12)
        assert float(m2[k]["step"]) == float(m1[k]["step"]) == 4.0


def test_sigterm_ends_the_stage_at_the_next_step():
    trainer = _trainer(FlowDenoiser(TINY, 0.1))
    StopRequest.requested = True
    try:
        stats = trainer.run()
    finally:
        StopRequest.requested = False
    assert stats["steps"] == 0


def test_thread_tuner_probes_each_count_and_keeps_the_faster():
    before = torch.get_num_threads()
    logs = []
    tuner = ThreadTuner((1, 2), every_s=0.0, probe=2, log=logs.append)
    try:
        tuner.after_step(0.0)  # starts a probe: 1 thread first
        assert torch.get_num_threads() == 1
        for s in (0.1, 0.1):
            tuner.after_step(s)
        assert torch.get_num_threads() == 2
        tuner.after_step(0.5)  # 5x the one-thread step: the probe stops paying for two threads at once
        assert tuner.current == 1 and torch.get_num_threads() == 1
        assert json.loads(logs[-1])["threads"] == 1
    finally:
        torch.set_num_threads(before)


def test_thread_tuner_backs_off_while_its_choice_holds():
    before = torch.get_num_threads()
    tuner = ThreadTuner((1, 2), every_s=10.0, probe=2, log=lambda m: None)
    try:
        tuner.current = 1
        for _ in range(3):
            tuner.last = 0.0  # long ago: a probe starts at the next step
            tuner.after_step(0.0)
            for s in (0.1, 0.1, 0.2, 0.2):
                tuner.after_step(s)
        assert tuner.current == 1 and tuner.interval == 80.0
        tuner.last = 0.0
        tuner.after_step(0.0)
        for s in (0.2, 0.2, 0.1, 0.1):  # now two threads win: back to probing often
            tuner.after_step(s)
        assert tuner.current == 2 and tuner.interval == 10.0
    finally:
        torch.set_num_threads(before)


def test_ground_truth_boundary_term_is_l1_of_the_t0_output():
    x0, v0, x1 = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.25), torch.full((2, 3, 4, 4), 0.5)
    assert torch.allclose(ground_truth_boundary_loss(x0, v0, x1), torch.full((2,), 0.25))
    teacher, student = FlowDenoiser(TINY, 0.1).eval(), OneStepStudent(TINY, 0.1)
    hr = torch.rand(2, 3, 32, 32) * 2 - 1
    up = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(hr, 4), scale_factor=4.0)
    torch.manual_seed(0)
    total0, parts0 = DistillLoss(0.1)(student, teacher, up, hr)
    torch.manual_seed(0)
    total1, parts1 = DistillLoss(0.1, lambda_gt=0.5)(student, teacher, up, hr)
    assert "gt" not in parts0 and "gt" in parts1
    assert torch.allclose(total1, total0 + 0.5 * parts1["gt"])


def test_cpu_clock_budget_counts_this_process_cpu_time_not_waiting(monkeypatch):
    """clock="cpu" (the backbone comparison's equal budget): time spent off the CPU does not use the budget."""
    import time as real_time

    from oftsr import training_loop

    wall = [0.0]
    monkeypatch.setattr(training_loop.time, "time", lambda: wall[0])
    cpu = [0.0]
    monkeypatch.setattr(training_loop.time, "process_time", lambda: cpu[0])
    trainer = _trainer(FlowDenoiser(TINY, 0.1), clock="cpu")
    trainer.opt.minutes = 1.0
    orig_batch = trainer.batch

    def batch():
        wall[0] += 30.0  # 30 s of wall time per step, of which 10 s on this process's CPU
        cpu[0] += 10.0
        return orig_batch()

    trainer.batch = batch
    stats = trainer.run()
    assert stats["steps"] == 6 and stats["cpu_seconds"] == 60.0  # a wall clock would have stopped after 2 steps
    assert real_time.time() > 0


def test_bf16_on_a_cpu_without_native_bf16_trains_in_fp32(monkeypatch):
    """Emulated bf16 (AVX2 only) is many times slower than fp32: the trainer says so and uses fp32."""
    from oftsr import training_loop

    logs: list[str] = []
    opt = StageOptions(minutes=10, batch=2, lr=1e-3, precision="bf16")
    monkeypatch.setattr(training_loop, "cpu_has_native_bf16", lambda: False)
    slow = Trainer(FlowDenoiser(TINY, 0.1), flow_loss_fn(0.1, "x1"), _sampler(), opt, "cpu", log=logs.append)
    assert not slow.bf16
    assert json.loads(logs[-1]) == {"event": "precision", "asked": "bf16", "using": "fp32",
                                    "why": "this CPU has no native bf16 (AVX-512 BF16 or AMX)"}
    monkeypatch.setattr(training_loop, "cpu_has_native_bf16", lambda: True)
    assert Trainer(FlowDenoiser(TINY, 0.1), flow_loss_fn(0.1, "x1"), _sampler(), opt, "cpu", log=logs.append).bf16
