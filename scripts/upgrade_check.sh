#!/usr/bin/env bash
# Canary for maintainers (run it as `scripts/run.sh upgrade-check`): resolve the newest versions
# pyproject.toml allows (lock-constraints.txt's torch pin lifted too) into a throwaway environment,
# print which packages would change against requirements.lock, and run a fast smoke on it: the
# imports and lmms-eval version check, a real `lmms-eval` run of one task on the toy model, and a
# reduced demo. Exit 0 when the smoke passes, 1 when it fails. The checkout's .venv and lock are
# not touched; on a pass the upgraded lock is left in .upgrade-check/ with the command to adopt it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
uv=${PIXELSHAP_UV:?run this as scripts/run.sh upgrade-check (it bootstraps uv)}
python=${PIXELSHAP_PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/pixelshap-upgrade.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== resolving the newest versions pyproject.toml allows"
"$python" "$repo/scripts/lock.py" compile --upgrade --ignore-constraints -o "$work/upgraded.lock"
echo "== packages that would change against requirements.lock"
"$python" "$repo/scripts/lock.py" diff "$repo/requirements.lock" "$work/upgraded.lock" | tee "$work/changes.txt"

echo "== installing them into a throwaway environment"
"$uv" venv -q --python "$python" "$work/venv"
"$uv" pip sync -q --python "$work/venv/bin/python" --require-hashes "$work/upgraded.lock"
mkdir "$work/src"  # a copy of the checkout, so building the package leaves nothing in it
tar -C "$repo" --exclude=./.venv --exclude=./.git --exclude=./.upgrade-check -cf - . | tar -C "$work/src" -xf -
"$uv" pip install -q --python "$work/venv/bin/python" --no-deps --no-build-isolation "$work/src"

smoke() {  # label command...
  local label=$1; shift
  echo "== smoke: $label"
  if (cd "$work" && env PATH="$work/venv/bin:$PATH" VIRTUAL_ENV="$work/venv" HF_HUB_OFFLINE=1 \
      HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_EVALUATE_OFFLINE=1 PIXELSHAP_DATA_DIR="$work/data" "$@"); then
    return 0
  fi
  echo
  echo "upgrade-check: FAILED at '$label' with the versions above; keep requirements.lock as it is," \
    "or add a bound to pyproject.toml for the package that broke, then rerun"
  exit 1
}
toy=$("$work/venv/bin/python" -c 'from pixelshap_eval.toy import TOY_MODEL_DIR; print(TOY_MODEL_DIR)')
smoke "import and lmms-eval version check" python -c \
  'import lmms_eval.evaluator, pixelshap_eval.explain; from pixelshap_eval.lmms.registration import check_lmms_eval_version; check_lmms_eval_version(); print("ok")'
smoke "build the synthetic set" pixelshap-eval build synth --n 2 --out "$work/data/synth"
smoke "one lmms-eval run (pixelshap_synth, toy model)" lmms-eval --model pixelshap_hf \
  --model_args "pretrained=$toy,dtype=float32" --tasks pixelshap_synth --limit 4 --batch_size 16 \
  --output_path "$work/run" --verbosity WARNING
smoke "results written" bash -c 'ls "$0"/*/*_results.json' "$work/run"
smoke "reduced demo" pixelshap-eval demo --out "$work/demo" --scenes-per-type 1 --photos "$(
  "$work/venv/bin/python" -c 'from pixelshap_eval.data.photos import PHOTOS; print(next(iter(PHOTOS)))')"

mkdir -p "$repo/.upgrade-check"
cp "$work/upgraded.lock" "$repo/.upgrade-check/requirements.lock"
cp "$work/changes.txt" "$repo/.upgrade-check/changes.txt"
echo
echo "upgrade-check: PASSED with $(grep -vc '^no package changes$' "$work/changes.txt") package change(s)."
echo "To adopt: cp .upgrade-check/requirements.lock requirements.lock, raise lock-constraints.txt to match,"
echo "run scripts/run.sh lock and scripts/run.sh test, then commit."
