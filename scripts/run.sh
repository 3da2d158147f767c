#!/usr/bin/env bash
# Set up (once) and run pixelshap-eval from this checkout.
#
#   scripts/run.sh demo [ARGS...]     the main job: the embedded-default demo (pixelshap-eval demo)
#   scripts/run.sh test [ARGS...]     the whole test suite (pytest ARGS)
#   scripts/run.sh exec CMD...        any command inside the environment
#   scripts/run.sh lock               recompile requirements.lock after changing pyproject.toml
#   scripts/run.sh upgrade-check      try the newest versions pyproject allows in a throwaway env
#
# The environment is .venv/ inside this checkout (git-ignored), holding exactly requirements.lock
# plus this checkout in editable mode, so every checkout runs its own code. It is installed by uv
# from uv's shared package cache (hard links: seconds once the cache is warm). uv itself is
# bootstrapped on the first run from scripts/uv-bootstrap.lock (pinned, hash-checked) into
# ${XDG_CACHE_HOME:-~/.cache}/pixelshap-eval/. Set-up is redone only when the lock, pyproject.toml
# or the Python interpreter change. PIXELSHAP_INSTALLER=pip installs the same lock with pip
# (--require-hashes) instead of uv; PIXELSHAP_PYTHON picks the interpreter (default python3).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PIXELSHAP_PYTHON:-python3}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/pixelshap-eval
venv="$repo/.venv"

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
mode=$1; shift

# --- uv, pinned and hash-checked (PIXELSHAP_INSTALLER=pip: pip with --require-hashes instead) -----
installer=${PIXELSHAP_INSTALLER:-uv}
mkdir -p "$cache"
bootstrap_uv() {
  local version home
  version=$(sed -n 's/^uv==\([^ ]*\).*/\1/p' "$repo/scripts/uv-bootstrap.lock")
  home="$cache/uv-$version"
  uv="$home/bin/uv"
  [ -x "$uv" ] && return 0
  (
    flock 9
    if [ ! -x "$uv" ]; then
      echo "[setup] bootstrapping uv $version into $home" >&2
      rm -rf "$home.partial"
      "$python" -m pip install -q --disable-pip-version-check --no-deps --require-hashes \
        --target "$home.partial" -r "$repo/scripts/uv-bootstrap.lock" 2> >(grep -v "as the 'root' user" >&2)
      mv "$home.partial" "$home"
    fi
  ) 9>"$cache/.uv-bootstrap.lock"
}
case "$installer" in
  # uv trusts the platform's certificate store, as pip does here (a machine behind a TLS proxy has
  # its CA there, not in uv's bundled roots)
  uv) bootstrap_uv; export PIXELSHAP_UV="$uv" UV_NO_CONFIG=1 UV_PYTHON_DOWNLOADS=never UV_SYSTEM_CERTS=${UV_SYSTEM_CERTS:-1} ;;
  pip) ;;
  *) echo "scripts/run.sh: PIXELSHAP_INSTALLER must be uv or pip, not '$installer'" >&2; exit 2 ;;
esac

# --- the checkout's environment: exactly the lock -------------------------------------------------
stamp_of() {  # what the environment was built from: lock, pyproject, interpreter, checkout, installer
  { cat "$repo/requirements.lock" "$repo/pyproject.toml"
    "$python" -c 'import sys; print(sys.version, sys.executable)'
    echo "$repo $installer"; } | sha256sum | cut -c1-16
}
install_lock() {
  if [ "$installer" = uv ]; then
    [ -x "$venv/bin/python" ] || "$uv" venv -q --python "$python" "$venv"
    "$uv" pip sync -q --python "$venv/bin/python" --require-hashes "$repo/requirements.lock"
    "$uv" pip install -q --python "$venv/bin/python" --no-deps --no-build-isolation -e "$repo"
  else  # pip cannot remove what the lock no longer holds, so it starts from an empty environment
    rm -rf "$venv"
    "$python" -m venv --without-pip "$venv"
    local pip=("$python" -m pip --python "$venv/bin/python" install -q --disable-pip-version-check --no-deps)
    "${pip[@]}" --require-hashes -r "$repo/requirements.lock"
    "${pip[@]}" --no-build-isolation -e "$repo"
  fi
}
setup_env() {
  local stamp; stamp=$(stamp_of)
  [ -f "$venv/.pixelshap-stamp" ] && [ "$(cat "$venv/.pixelshap-stamp")" = "$stamp" ] && return 0
  (
    flock 9
    [ -f "$venv/.pixelshap-stamp" ] && [ "$(cat "$venv/.pixelshap-stamp")" = "$stamp" ] && exit 0
    echo "[setup] installing requirements.lock into $venv ($installer)" >&2
    rm -f "$venv/.pixelshap-stamp"
    install_lock
    echo "$stamp" > "$venv/.pixelshap-stamp"
  ) 9>"$repo/.venv.lock"
}

offline_env() {
  export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} HF_DATASETS_OFFLINE=${HF_DATASETS_OFFLINE:-1}
  export TRANSFORMERS_OFFLINE=${TRANSFORMERS_OFFLINE:-1} HF_EVALUATE_OFFLINE=${HF_EVALUATE_OFFLINE:-1}
}

enter_env() {
  setup_env
  export PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv"
  offline_env
  cd "$repo"
}

case "$mode" in
  demo)
    enter_env
    exec pixelshap-eval demo "$@" ;;
  test)
    enter_env
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
    enter_env
    exec "$@" ;;
  lock)
    [ "$installer" = uv ] || { echo "scripts/run.sh lock needs uv (unset PIXELSHAP_INSTALLER)" >&2; exit 2; }
    exec "$python" "$repo/scripts/lock.py" compile ;;
  upgrade-check)
    [ "$installer" = uv ] || { echo "scripts/run.sh upgrade-check needs uv (unset PIXELSHAP_INSTALLER)" >&2; exit 2; }
    exec bash "$repo/scripts/upgrade_check.sh" ;;
  *)
    usage ;;
esac
