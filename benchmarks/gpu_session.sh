#!/usr/bin/env bash
# What the GQN, GENESIS and EMORL issues ask of a GPU, one part per call of a lent machine (each part fits in ten
# minutes), with every result packed into $OUT. Runs from the repository root on a machine that has PyTorch but
# neither Jupyter nor an installed scenenb: the notebooks run through the plain engine (`python -m scenenb.cli`).
#
#   bash benchmarks/gpu_session.sh bench             # benchmarks/gpu_bench.py: every case and precision (+ torch-gqn)
#   bash benchmarks/gpu_session.sh gqn MINUTES       # rooms data, the GQN paper preset for MINUTES, evaluation, figures
#   bash benchmarks/gpu_session.sh objects MINUTES   # GENESIS (Multi-dSprites) then EMORL (Tetrominoes), MINUTES each
#   RESUME=F bash benchmarks/gpu_session.sh emorl MINUTES  # EMORL Tetrominoes for MINUTES more, from F (an emorl_resume.tgz
#                                                    # an earlier call returned; none: from the start), evaluated
#
# Settings from the environment: PROFILE (paper), DEVICE (cuda), OUT (./gpu_out), PYTHON (python3), ROOT_DIR (where
# runs/ and figures/ go; the repository), DATA (ROOT_DIR/data), TRAIN_N and TEST_N (scenes generated per dataset;
# 20000 and 1000), REFS (a folder of extracted public implementations for
# the benchmark; see gpu_bench.py), BENCH_ARGS (more arguments for gpu_bench.py), GQN_ARGS, GENESIS_ARGS and
# EMORL_ARGS (more `-p KEY VALUE` for train_gqn, train_genesis and train_emorl, split on spaces: the tests give the paper
# profile tiny models this way). `PROFILE=smoke DEVICE=cpu` runs the same commands on a CPU in about a
# minute: tests/test_benchmarks.py does, so that a lent GPU's minutes are never spent on a broken script.
set -euo pipefail
part=${1:?usage: gpu_session.sh bench | gqn MINUTES | objects MINUTES | emorl MINUTES}
minutes=${2:-5}
PROFILE=${PROFILE:-paper}; DEVICE=${DEVICE:-cuda}; PYTHON=${PYTHON:-python3}
OUT=${OUT:-$PWD/gpu_out}; ROOT_DIR=${ROOT_DIR:-$PWD}; DATA=${DATA:-$ROOT_DIR/data}; TRAIN_N=${TRAIN_N:-20000}; TEST_N=${TEST_N:-1000}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
mkdir -p "$OUT"
log="$OUT/$part.log"
exec > >(tee -a "$log") 2>&1
echo "== gpu_session $part ($PROFILE, $DEVICE) $(date -u +%FT%TZ)"
$PYTHON -m scenenb.cli info | head -20 || true
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm --format=csv || true

scenenb() { $PYTHON -m scenenb.cli "$@"; }
generate() {  # dataset: train and test splits under $DATA, as the paper profile's --data root expects
  for split in train test; do
    n=$TRAIN_N; [ $split = test ] && n=$TEST_N
    [ -f "$DATA/$1/$split.h5" ] || scenenb data generate "$1" --split $split --n "$n" --out "$DATA/$1/$split.h5" --quiet
  done
}
run() { scenenb run "$1" --profile "$PROFILE" --root "$ROOT_DIR" --data "$DATA" --device "$DEVICE" --engine plain "${@:2}"; }
pack() {  # one archive per part: records, curves, executed notebooks and figures (checkpoints stay behind: too large)
  local name=$1 pattern f; shift
  local files=()
  cd "$ROOT_DIR"; shopt -s nullglob
  for pattern in "$@"; do for f in $pattern; do files+=("$f"); done; done   # patterns expand here, under ROOT_DIR
  tar -czf "$OUT/$name.tgz" "${files[@]}"
  cd - >/dev/null; ls -l "$OUT"
}

case $part in
  bench)
    extra=(); [ -n "${REFS:-}" ] && extra+=(--refs "$REFS")
    if [ "$PROFILE" = smoke ]; then extra+=(--tiny --steps 2 --warmup 1); else extra+=(--compile gqn:paper:36 genesis:gqn_rooms:32); fi
    # first, GQN's static gate convolutions stacked against per step (GQNConfig.static_conv), alternating on one model
    sc=(--batch 36 --pairs 5 --warmup 2); [ "$PROFILE" = smoke ] && sc=(--preset quick --batch 2 --pairs 1 --warmup 0)
    timeout 60 $PYTHON benchmarks/gqn_static_conv.py --device "$DEVICE" --write "$OUT/gqn_static_conv.md" "${sc[@]}" ||
      echo "gqn_static_conv.py did not finish (exit $?)"
    # shellcheck disable=SC2086
    $PYTHON benchmarks/gpu_bench.py --device "$DEVICE" --out "$OUT" "${extra[@]}" ${BENCH_ARGS:-}
    ;;
  gqn)
    generate rooms_ring_camera
    # shellcheck disable=SC2086
    run train_gqn -p max_minutes "$minutes" ${GQN_ARGS:-}
    for step in eval_gqn fig_gqn_views fig_gqn_orbit; do run $step; done
    pack gqn "runs/$PROFILE/gqn_rooms/run.json" "runs/$PROFILE/gqn_rooms/tb" "runs/$PROFILE/gqn_rooms/*.png" \
         "runs/$PROFILE/*gqn*.ipynb" "figures/$PROFILE"
    ;;
  objects)
    generate multi_dsprites_colored_on_colored
    generate tetrominoes
    # shellcheck disable=SC2086
    run train_genesis -p max_minutes "$minutes" ${GENESIS_ARGS:-}
    for step in eval_genesis fig_genesis_recon fig_genesis_samples; do run $step; done
    # shellcheck disable=SC2086
    run train_emorl -p max_minutes "$minutes" ${EMORL_ARGS:-}
    for step in eval_emorl fig_emorl_slots fig_emorl_traversals; do run $step; done
    pack objects "runs/$PROFILE/genesis_multi_dsprites/run.json" "runs/$PROFILE/genesis_multi_dsprites/tb" \
         "runs/$PROFILE/emorl_tetrominoes/run.json" "runs/$PROFILE/emorl_tetrominoes/tb" "runs/$PROFILE/*genesis*.ipynb" \
         "runs/$PROFILE/*emorl*.ipynb" "runs/$PROFILE/*/loss.png" "figures/$PROFILE"
    ;;
  emorl)  # EMORL Tetrominoes over several leases: RESUME= the emorl_resume.tgz an earlier call returned
    generate tetrominoes
    d="$ROOT_DIR/runs/$PROFILE/emorl_tetrominoes"
    if [ -n "${RESUME:-}" ]; then mkdir -p "$d" && tar -xzf "$RESUME" -C "$d" && echo "resuming from $RESUME"; fi
    # shellcheck disable=SC2086
    run train_emorl -p max_minutes "$minutes" ${EMORL_ARGS:-}
    run eval_emorl
    # what the next lease resumes from: the newest checkpoint that loads (fit's own choice when it resumes)
    newest=$($PYTHON -c "import sys; from scenenb.train import latest_checkpoint; print(latest_checkpoint(sys.argv[1]).name)" "$d/checkpoints")
    tar -czf "$OUT/emorl_resume.tgz" -C "$d" run.json tb "checkpoints/$newest"
    pack emorl "runs/$PROFILE/emorl_tetrominoes/run.json" "runs/$PROFILE/*emorl*.ipynb" "runs/$PROFILE/*/loss.png" \
         "figures/$PROFILE"
    ;;
  *) echo "unknown part $part: bench | gqn MINUTES | objects MINUTES | emorl MINUTES" >&2; exit 2 ;;
esac
echo "== gpu_session $part done $(date -u +%FT%TZ)"
