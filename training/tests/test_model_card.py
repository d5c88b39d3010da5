"""The model card is generated from the results files: check the peers' degradation table and its summary clause."""

import json
import os
import shutil
from pathlib import Path

import pytest

from oftsr.model_card import write_model_card

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _peers(own: dict | None) -> dict:
    out = {"opencv": "test", "date": "2026-01-01", "sets": {}}
    if own is not None:
        out["trained_degradation"] = {"degradation": "cv2.resize INTER_CUBIC", "metric": "psnr_y", "sets": own}
    return out


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    if not (RESULTS / "eval.json").exists():
        if os.environ.get("OFTSR_REQUIRE_MODEL") == "1":
            pytest.fail("training/results/eval.json is missing and OFTSR_REQUIRE_MODEL=1")
        pytest.skip("training/results/eval.json is missing (run training/evaluate.py)")
    shutil.copy(RESULTS / "eval.json", tmp_path / "eval.json")
    return tmp_path


def test_peers_on_their_own_degradation_are_tabled_with_gains(results_dir: Path) -> None:
    own = {"Set5": {"bicubic": 27.0, "fsrcnn": 27.5, "lapsrn": 28.25}, "B100": {"bicubic": 24.0, "fsrcnn": 24.75,
                                                                               "lapsrn": 24.5}}
    (results_dir / "peers.json").write_text(json.dumps(_peers(own)))
    card = results_dir / "CARD.md"
    write_model_card(results_dir, card)
    text = card.read_text()
    assert "| set | bicubic | fsrcnn | lapsrn |" in text
    assert "| Set5 | 27.00 | 27.50 (+0.50) | 28.25 (+1.25) |" in text
    assert "they gain +0.50 to +1.25 dB over bicubic" in text


def test_without_that_block_the_card_says_nothing_about_it(results_dir: Path) -> None:
    (results_dir / "peers.json").write_text(json.dumps(_peers(None)))
    card = results_dir / "CARD.md"
    write_model_card(results_dir, card)
    text = card.read_text()
    assert "| set | bicubic |" not in text
    assert "they gain" not in text


def test_history_seeds_from_the_shipped_evaluation_and_the_card_tables_it(results_dir: Path) -> None:
    from oftsr.model_card import with_history

    shipped = json.loads((results_dir / "eval.json").read_text())
    shipped.pop("history", None)
    newer = json.loads(json.dumps(shipped))
    newer["teacher"]["steps"] += 1000
    newer["sets"]["Set5"]["methods"]["student_t0.00"]["psnr_y"] = 31.5
    merged = with_history(newer, shipped)
    assert [h["teacher_steps"] for h in merged["history"]] == [shipped["teacher"]["steps"], newer["teacher"]["steps"]]
    assert merged["history"][-1]["figures"]["Set5"]["t0"] == 31.5
    # Evaluating the same checkpoints again replaces their row instead of adding one.
    again = with_history(newer, merged)
    assert len(again["history"]) == 2
    (results_dir / "eval.json").write_text(json.dumps(again))
    card = results_dir / "CARD.md"
    write_model_card(results_dir, card)
    text = card.read_text()
    assert "Every evaluation of a shipped model" in text
    rows = [line for line in text.splitlines() if line.startswith(f"| {newer['date']} (")]
    assert len(rows) == 2 and "| 31.50 |" not in rows[0] and "| 31.50 |" in rows[1]


def test_backbone_comparison_is_tabled_best_first(results_dir: Path) -> None:
    def row(macs: int, set5: float, b100: float) -> dict:
        return {"macs_per_output_pixel": macs, "params": 1000, "cpu_minutes": 8.0, "wall_minutes": 20.0,
                "steps": 1234, "teacher_nfe1_psnr_y": {"Set5": set5, "B100": b100}}

    doc = {"protocol": {"budget": "8 CPU minutes", "train_config": "cpu.json", "score": "NFE-1 Y-PSNR"},
           "candidates": {"a": row(17000, 29.0, 26.0), "b": row(24000, 29.5, 26.2)}}
    (results_dir / "backbones.json").write_text(json.dumps(doc))
    card = results_dir / "CARD.md"
    write_model_card(results_dir, card)
    text = card.read_text()
    assert "## Backbone comparison" in text
    assert text.index("| b | 24,000 |") < text.index("| a | 17,000 |")
    assert "| b | 24,000 | 1,000 | ? | 8.0 | 20.0 | 1,234 | 29.50 | 26.20 |" in text
    assert "At this budget b leads a by +0.50 dB on Set5 and +0.20 dB on B100." in text


def test_spectrum_probes_are_tabled_with_niqe_where_measured(results_dir: Path) -> None:
    def scores(t0: float, t5: float, t1: float, sharp: float) -> dict:
        return {"student_t0.00 psnr_y": t0, "student_t0.50 psnr_y": t5, "student_t0.50 sharpness": sharp / 2,
                "student_t1.00 psnr_y": t1, "student_t1.00 sharpness": sharp}

    doc = {"what": "probes of the realism term", "probes": [
        {"setting": "start", "steps": 0, "Set5": scores(30.0, 28.0, 27.0, 1.0), "B100": scores(26.9, 25.8, 25.1, 0.68),
         "niqe": {"Set5": {"student_t1.00": 4.39}, "B100": {"student_t1.00": 3.81}}},
        {"setting": "λ 1", "steps": 1500, "Set5": scores(30.1, 28.1, 27.5, 0.97), "B100": scores(26.9, 25.6, 25.5, 0.7)},
        # as scripts/record_probe.py writes it: quick_eval's keys, NIQE and t = 0.75 included
        {"setting": "rings", "steps": 900, "Set5": {**scores(30.2, 28.0, 27.4, 1.0), "student_t1.00 niqe": 4.2},
         "B100": {**scores(26.9, 25.7, 25.3, 0.9), "student_t0.75 psnr_y": 25.4, "student_t0.75 sharpness": 0.8,
                  "student_t1.00 niqe": 3.9}}]}
    (results_dir / "spectrum_probes.json").write_text(json.dumps(doc))
    card = results_dir / "CARD.md"
    write_model_card(results_dir, card)
    text = card.read_text()
    assert "## Realism term probes" in text and "Probes of the realism term." in text
    assert "| start | 0 | 30.00 | 27.00 (1.00, 4.39) | 26.90 | 25.80 (0.34) | – | 25.10 (0.68, 3.81) |" in text
    assert "| λ 1 | 1,500 | 30.10 | 27.50 (0.97) | 26.90 | 25.60 (0.35) | – | 25.50 (0.70) |" in text
    assert "| rings | 900 | 30.20 | 27.40 (1.00, 4.20) | 26.90 | 25.70 (0.45) | 25.40 (0.80) | 25.30 (0.90, 3.90) |" in text


def test_student_additions_name_the_realism_terms_settings() -> None:
    from oftsr.model_card import _student_additions

    assert _student_additions({}) == "."
    text = _student_additions({"lambda_gt": 0.05, "lambda_spectrum": 3, "spectrum_band": 0.25, "spectrum_rings": 8,
                               "spectrum_sectors": 4, "spectrum_target": "interpolate", "spectrum_time_power": 2})
    assert "λ_GT = 0.05" in text and "λ_spectrum = 3: s^2-weighted" in text
    assert "above the LR's Nyquist frequency, pooled in 8 rings × 4 orientations" in text
    assert "sliding from the t = 0 output's to the ground truth's" in text
