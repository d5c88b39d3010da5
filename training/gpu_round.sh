#!/usr/bin/env bash
# One prepared GPU round (training/README.md, "GPU rounds"). Runs on a lent GPU machine with no network, from the
# repository root, with the compact data subset in .gpu/ (made here by training/scripts/pack_round_data.py and
# carried by the device tool). Resumes from training/checkpoints when they exist, trains the teacher then distils
# the student to a minutes budget, and evaluates on the carried test sets. Everything lands in OUT_DIR.
#
#   bash training/gpu_round.sh OUT_DIR [TEACHER_MINUTES] [STUDENT_MINUTES] [EXTRA train.py ARGS...]
set -uo pipefail
export PYTHONUNBUFFERED=1
out=${1:?usage: gpu_round.sh OUT_DIR [TEACHER_MIN] [STUDENT_MIN]}
teacher_min=${2:-4.5}
student_min=${3:-3}
shift $(( $# < 3 ? $# : 3 ))
py=${PYTHON:-python3}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$py -c "import torch, PIL.features as f; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'webp', f.check('webp'))"
resume=()
[ -f training/checkpoints/teacher.pt ] && resume=(--resume training/checkpoints)
$py training/train.py --stage both --data .gpu/data "${resume[@]}" --out "$out" \
  --teacher-minutes "$teacher_min" --student-minutes "$student_min" "$@"
status=$?
[ $status -eq 0 ] || { echo "training failed with status $status"; exit $status; }
timeout "${EVAL_TIMEOUT:-90}" $py training/evaluate.py --checkpoints "$out" --test .gpu/test --sets Set5 Set14 Faces \
  --niqe-params .gpu/niqe_pris_params.npz --out "$out/round.json" --no-card
status=$?
# The checkpoints are kept either way (they are the round's product); the round itself fails without its own check.
if [ $status -eq 124 ]; then
  echo "evaluation timed out after ${EVAL_TIMEOUT:-90} s: no round.json (checkpoints kept in $out)"; exit 124
elif [ $status -ne 0 ] || [ ! -s "$out/round.json" ]; then
  echo "evaluation failed with status $status: no round.json (checkpoints kept in $out)"; exit $(( status ? status : 1 ))
fi
for f in teacher.pt student.pt round.json; do
  [ -s "$out/$f" ] || { echo "round incomplete: $out/$f missing"; exit 1; }
done
echo "round done: $(ls "$out")"
