# shellcheck shell=bash
# Shared helpers for scripts/test and scripts/deploy: host packages, dockerd,
# the pinned Python 3.12 venv. Sourced, never executed.

BAKERY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BAKERY_CACHE="${BAKERY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tezos-bakery}"
BAKERY_PYTHON_VERSION="${BAKERY_PYTHON_VERSION:-3.12.1}"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_ensure PKG...: install the Debian packages that are missing.
apt_ensure() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# find_python312: print a Python 3.12 interpreter (pyenv's, or the system's).
find_python312() {
  local candidate
  if command -v pyenv >/dev/null 2>&1; then
    candidate="$(pyenv root)/versions/${BAKERY_PYTHON_VERSION}/bin/python3.12"
    [ -x "$candidate" ] && { echo "$candidate"; return 0; }
  fi
  for candidate in python3.12 "$HOME/.pyenv/versions/${BAKERY_PYTHON_VERSION}/bin/python3.12"; do
    command -v "$candidate" >/dev/null 2>&1 && { command -v "$candidate"; return 0; }
  done
  return 1
}

# ensure_venv: build (once per requirements hash) and activate the venv.
ensure_venv() {
  local req="$BAKERY_ROOT/requirements/test.txt" hash py
  hash="$(sha256sum "$req" | cut -c1-12)"
  BAKERY_VENV="$BAKERY_CACHE/venv-$hash"
  if [ ! -x "$BAKERY_VENV/bin/ansible-playbook" ] || [ ! -f "$BAKERY_VENV/.complete" ]; then
    py="$(find_python312)" || {
      apt_ensure python3.12 python3.12-venv 2>/dev/null || true
      py="$(find_python312)" || die "Python 3.12 is needed (pyenv ${BAKERY_PYTHON_VERSION} or python3.12)"
    }
    log "creating venv $BAKERY_VENV with $py"
    rm -rf "$BAKERY_VENV"
    mkdir -p "$BAKERY_CACHE"
    "$py" -m venv "$BAKERY_VENV"
    "$BAKERY_VENV/bin/pip" install -q --upgrade pip
    "$BAKERY_VENV/bin/pip" install -q -r "$req"
    touch "$BAKERY_VENV/.complete"
  fi
  # shellcheck disable=SC1091
  . "$BAKERY_VENV/bin/activate"
  export ANSIBLE_CONFIG="$BAKERY_ROOT/ansible.cfg"
}

# ensure_scan_venv: build (once per requirements/scan.txt hash) the separate
# venv that holds checkov; exports BAKERY_SCAN_VENV (not activated).
ensure_scan_venv() {
  local req="$BAKERY_ROOT/requirements/scan.txt" hash py
  hash="$(sha256sum "$req" | cut -c1-12)"
  BAKERY_SCAN_VENV="$BAKERY_CACHE/scan-venv-$hash"
  export BAKERY_SCAN_VENV
  if [ ! -f "$BAKERY_SCAN_VENV/.complete" ]; then
    py="$(find_python312)" || die "Python 3.12 is needed (pyenv ${BAKERY_PYTHON_VERSION} or python3.12)"
    log "creating scan venv $BAKERY_SCAN_VENV with $py"
    rm -rf "$BAKERY_SCAN_VENV"
    mkdir -p "$BAKERY_CACHE"
    "$py" -m venv "$BAKERY_SCAN_VENV"
    "$BAKERY_SCAN_VENV/bin/pip" install -q --upgrade pip
    "$BAKERY_SCAN_VENV/bin/pip" install -q -r "$req"
    touch "$BAKERY_SCAN_VENV/.complete"
  fi
}

# ensure_dockerd: install docker.io and start dockerd when nothing answers.
ensure_dockerd() {
  apt_ensure docker.io
  if docker info >/dev/null 2>&1; then return 0; fi
  log "starting dockerd"
  mkdir -p "$BAKERY_CACHE"
  as_root sh -c "nohup dockerd >'$BAKERY_CACHE/dockerd.log' 2>&1 &"
  local _
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "dockerd did not start; see $BAKERY_CACHE/dockerd.log"
}
