"""Append one student probe, as scored by scripts/quick_eval.py, to results/spectrum_probes.json (the card's
"Realism term probes" table), so that no probe figure is typed by hand.

  .venv/bin/python training/scripts/quick_eval.py RUN --no-teacher --t 0 0.25 0.5 0.75 1 --niqe > /tmp/q.json
  .venv/bin/python training/scripts/record_probe.py RUN /tmp/q.json --setting "rings 8 x 4, λ 3"
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

TRAINING = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINING))
from oftsr.training_loop import load_checkpoint  # noqa: E402

PROBES = TRAINING / "results" / "spectrum_probes.json"


def probe_row(run: Path, scores: list[dict], setting: str) -> dict:
    """One row: the steps of the run's last round (the probe's own) and the union of its quick_eval scores per set."""
    meta = load_checkpoint(run / "student.pt")[2]
    rounds = meta.get("rounds", [])
    steps = rounds[-1]["steps"] if rounds else meta.get("steps", 0)
    row: dict = {"setting": setting, "steps": steps, "date": datetime.date.today().isoformat()}
    for s in scores:
        for name, values in s.items():
            if isinstance(values, dict):
                row.setdefault(name, {}).update(values)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="the probe's run folder (student.pt)")
    ap.add_argument("scores", type=Path, nargs="+", help="quick_eval output(s) for that folder")
    ap.add_argument("--setting", required=True)
    ap.add_argument("--out", type=Path, default=PROBES)
    args = ap.parse_args()
    scores = [json.loads(line) for f in args.scores for line in f.read_text().splitlines() if line.strip()]
    if not scores:
        raise SystemExit("no quick_eval rows in " + ", ".join(map(str, args.scores)))
    doc = json.loads(args.out.read_text())
    row = probe_row(args.run, scores, args.setting)
    if not all(name in row for name in ("Set5", "B100")):
        raise SystemExit("a probe row needs Set5 and B100 scores (quick_eval's default sets)")
    doc["probes"].append(row)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
