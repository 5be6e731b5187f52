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

# cached_venv REQUIREMENTS NAME: the venv $BAKERY_CACHE/NAME-<sha256 of the
# requirements file>, built with Python 3.12 unless a complete one is
# there; its path is left in CACHED_VENV. The venv is marked complete only
# when every step succeeded: a failed build returns non-zero and is rebuilt
# from scratch next time, never reused.
cached_venv() {
  local req="$1" name="$2" py
  CACHED_VENV="$BAKERY_CACHE/$name-$(sha256sum "$req" | cut -c1-12)"
  [ -f "$CACHED_VENV/.complete" ] && return 0
  py="$(find_python312)" || {
    apt_ensure python3.12 python3.12-venv 2>/dev/null || true
    py="$(find_python312)" || { log "Python 3.12 is needed (pyenv ${BAKERY_PYTHON_VERSION} or python3.12)"; return 1; }
  }
  log "creating $name $CACHED_VENV with $py"
  rm -rf "$CACHED_VENV"
  mkdir -p "$BAKERY_CACHE" || return 1
  if ! { "$py" -m venv "$CACHED_VENV" \
      && "$CACHED_VENV/bin/pip" install -q --upgrade pip \
      && "$CACHED_VENV/bin/pip" install -q -r "$req"; }; then
    log "building $name failed: $CACHED_VENV removed"
    rm -rf "$CACHED_VENV"
    return 1
  fi
  touch "$CACHED_VENV/.complete"
}

# ensure_venv: build (once per requirements hash) and activate the venv.
ensure_venv() {
  cached_venv "$BAKERY_ROOT/requirements/test.txt" venv || return 1
  BAKERY_VENV="$CACHED_VENV"
  # shellcheck disable=SC1091
  . "$BAKERY_VENV/bin/activate"
  export ANSIBLE_CONFIG="$BAKERY_ROOT/ansible.cfg"
}

# ensure_scan_venv: build (once per requirements/scan.txt hash) the separate
# venv that holds checkov; exports BAKERY_SCAN_VENV (not activated).
ensure_scan_venv() {
  cached_venv "$BAKERY_ROOT/requirements/scan.txt" scan-venv || return 1
  BAKERY_SCAN_VENV="$CACHED_VENV"
  export BAKERY_SCAN_VENV
}

# ensure_dockerd: when no Docker daemon answers, install docker.io and start dockerd.
ensure_dockerd() {
  # A daemon that answers is used as it is (a CI runner's own Docker).
  if docker info >/dev/null 2>&1; then return 0; fi
  apt_ensure docker.io
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
