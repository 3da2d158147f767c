#!/usr/bin/env bash
# Set up (once) and run pixelshap-eval from this checkout.
#
#   scripts/run.sh demo [ARGS...]   the main job: the embedded-default demo (pixelshap-eval demo)
#   scripts/run.sh test [ARGS...]   the whole test suite (pytest ARGS)
#   scripts/run.sh exec CMD...      any command inside the environment
#
# The virtual environment lives outside the checkout, in
# ${PIXELSHAP_VENV_CACHE:-~/.cache/pixelshap-eval}/venv-<hash>, keyed by a hash of the
# dependency spec in pyproject.toml and the Python version, so repeated runs (and fresh clones)
# reuse it instead of reinstalling ~7 GB. This checkout is (re)installed into it in editable mode
# on every run, which takes seconds.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PIXELSHAP_PYTHON:-python3}
cache=${PIXELSHAP_VENV_CACHE:-$HOME/.cache/pixelshap-eval}

usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
mode=$1; shift

key=$("$python" - "$repo/pyproject.toml" <<'PY'
import hashlib, json, sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))
spec = {
    "python": sys.version.split()[0],
    "build": project["build-system"]["requires"],
    "dependencies": project["project"]["dependencies"],
    "extras": project["project"].get("optional-dependencies", {}),
}
print(hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16])
PY
)
venv="$cache/venv-$key"
mkdir -p "$cache"

(
  flock 9
  if [ ! -f "$venv/.pixelshap-complete" ]; then
    echo "[setup] creating $venv (first run for this dependency spec: several minutes)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" - "$repo/pyproject.toml" > "$venv/requirements.txt" <<'PY'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))
requirements = project["build-system"]["requires"] + project["project"]["dependencies"]
for extra in project["project"].get("optional-dependencies", {}).values():
    requirements += extra
print("\n".join(requirements))
PY
    "$venv/bin/python" -m pip install -q -r "$venv/requirements.txt"
    touch "$venv/.pixelshap-complete"
  fi
  "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$repo" >/dev/null 2>&1 \
    || "$venv/bin/python" -m pip install --no-deps --no-build-isolation -e "$repo"
) 9>"$cache/.lock-$key"

export PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv"
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} HF_DATASETS_OFFLINE=${HF_DATASETS_OFFLINE:-1}
export TRANSFORMERS_OFFLINE=${TRANSFORMERS_OFFLINE:-1} HF_EVALUATE_OFFLINE=${HF_EVALUATE_OFFLINE:-1}
cd "$repo"

case "$mode" in
  demo)
    exec pixelshap-eval demo "$@" ;;
  test)
    if ! command -v chromium >/dev/null 2>&1; then
      echo "[setup] installing Debian's chromium (the report test renders the HTML report)" >&2
      if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
      $apt_get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $apt_get install -y -qq --no-install-recommends chromium >/dev/null
    fi
    # two workers on the two cores, each test file on one worker (session fixtures stay per file
    # group), one BLAS/OpenMP thread per process so the workers do not oversubscribe the cores
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
    exec python -m pytest -n "${PIXELSHAP_TEST_WORKERS:-2}" --dist loadfile "$@" ;;
  exec)
    exec "$@" ;;
  *)
    usage ;;
esac
