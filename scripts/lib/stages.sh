# shellcheck shell=bash
# The stages of scripts/test, one function each. Sourced, never executed.
# Each returns non-zero on failure; logs of long stages go to tests/output/.

# BAKERY_ROOT comes from common.sh, sourced first.
# shellcheck disable=SC2153
BAKERY_OUT="$BAKERY_ROOT/tests/output"

# setup_venvs: build (once) and activate the test venv, build the scan venv;
# each build's log is shown when it fails.
setup_venvs() {
  ensure_venv >"$BAKERY_OUT/venv.log" 2>&1 || { tail -30 "$BAKERY_OUT/venv.log"; return 1; }
  # ensure_venv ran in a redirect: activate again in this shell.
  ensure_venv 2>/dev/null || return 1
  ensure_scan_venv >"$BAKERY_OUT/scan-venv.log" 2>&1 || { tail -30 "$BAKERY_OUT/scan-venv.log"; return 1; }
  ensure_scan_venv 2>/dev/null
}

stage_setup() {
  local images_pid rc=0 versions
  mkdir -p "$BAKERY_OUT"
  ensure_dockerd || return 1
  # Every Debian package first (one apt at a time), then the base images
  # (debootstrap: minutes, the arm64 one under qemu) beside the venvs.
  apt_ensure haproxy udev nftables umockdev shellcheck prometheus prometheus-alertmanager jekyll \
    debootstrap qemu-user-static binfmt-support || return 1
  ensure_base_images >"$BAKERY_OUT/images.log" 2>&1 &
  images_pid=$!
  setup_venvs || rc=1
  wait "$images_pid" || rc=1
  cat "$BAKERY_OUT/images.log"
  [ "$rc" -eq 0 ] || return 1
  # Whole outputs captured first: `| head -1` would break the pipe under pipefail.
  versions="$(python --version && ansible --version && molecule --version)" || return 1
  printf '%s\n' "$versions" | grep -E '^(Python|ansible \[core|molecule)'
}

stage_yamllint() {
  yamllint --strict .
}

stage_ansible_lint() {
  ansible-lint --profile production --offline
}

# What CI runs: the GitHub workflow (.github/workflows, shellcheck on its
# run: steps) and the harness scripts it calls.
stage_actionlint() {
  actionlint -no-color -shellcheck shellcheck || return 1
  shellcheck scripts/test scripts/deploy scripts/ha-lab scripts/lib/*.sh .ci/run
}

stage_specs() {
  python scripts/check-role-specs.py
}

stage_build() {
  local dir
  dir="$(mktemp -d)"
  ansible-galaxy collection build --output-path "$dir" . || return 1
  ls -l "$dir"/tezos-bakery-*.tar.gz
  rm -rf "$dir"
}

# ansible-test needs the collection at .../ansible_collections/tezos/bakery
# (a real copy, not a symlink).
stage_sanity() {
  local dir
  dir="$(mktemp -d)"
  mkdir -p "$dir/ansible_collections/tezos"
  mkdir -p "$dir/ansible_collections/tezos/bakery"
  tar -C "$BAKERY_ROOT" --exclude=./.git --exclude=./.collections --exclude=./tests/output \
    --exclude=__pycache__ -cf - . | tar -C "$dir/ansible_collections/tezos/bakery" -xf - || return 1
  seed_ansible_test_get_pip
  local -a extra=()
  read -ra extra <<<"${SANITY_ARGS:-}"
  (cd "$dir/ansible_collections/tezos/bakery" && git init -q && git add -A \
    && ansible-test sanity "${extra[@]}" --venv --python 3.12 --requirements --color no \
      2>&1 | tee "$BAKERY_OUT/sanity.log" | grep -vE '^(Running|Installing|Collecting|Requirement|WARNING: Location)' | tail -40
   exit "${PIPESTATUS[0]}")
  local rc=$?
  rm -rf "$dir"
  return "$rc"
}

stage_unit() {
  PYTHONPATH="$BAKERY_ROOT/.collections:$BAKERY_ROOT/tests/lib" \
    python -m pytest -p no:testinfra -q tests/unit
}

# One molecule scenario, logged to tests/output/molecule-<role>-<scenario>.log,
# with its summary line (also appended to $BAKERY_OUT/molecule-summary.txt
# for the suite's summary). Returns the scenario's status. Each scenario has
# its own containers and network (tests/molecule/docker), so different
# scenarios run side by side; the same scenario started twice on this
# machine (two checkouts) waits for the other under its own lock.
run_molecule_scenario() {
  local role="$1" scenario="$2" log start line rc=0
  log="$BAKERY_OUT/molecule-$role-$scenario.log"
  start=$(date +%s)
  ( flock 9 && cd "roles/$role" && molecule test -s "$scenario" ) >"$log" 2>&1 \
    9>"/tmp/bakery-molecule-$role-$scenario.lock" || rc=1
  line="$(printf '  molecule %-16s %-10s %s %4ss' "$role" "$scenario" "$( [ "$rc" -eq 0 ] && echo PASS || echo FAIL)" \
    "$(( $(date +%s) - start ))")"
  printf '%s\n' "$line" | tee -a "$BAKERY_OUT/molecule-summary.txt"
  if [ "$rc" -ne 0 ]; then printf '    (log: %s)\n' "$log"; tail -60 "$log"; fi
  return "$rc"
}

# run_pool MAX ROLE/SCENARIO...: the scenarios, at most MAX at a time, in
# the order given; non-zero when any failed.
run_pool() {
  local max="$1" rc=0 entry
  shift
  for entry in "$@"; do
    while [ "$(jobs -rp | wc -l)" -ge "$max" ]; do wait -n || rc=1; done
    run_molecule_scenario "${entry%%/*}" "${entry#*/}" &
  done
  while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || rc=1; done
  return "$rc"
}

# The molecule scenarios (every one, or those MOLECULE_ROLES / MOLECULE_SCENARIOS
# name: an unknown name fails here, naming it; `quick` for the fast lane's).
# Lanes (scripts/lib/scenarios.py): the arm64 proof under qemu on its own
# (it keeps one core busy), beside it a pool of BAKERY_MOLECULE_JOBS (2)
# scenarios at a time: the native-image docker scenarios first, then the
# controller-only ones (render-only Kubernetes roles, the GCP fake, the fake
# API server).
stage_molecule() {
  local selection lane name scenario rc=0 arm_pid="" quick=()
  local -a arm64=() pool=() local_lane=()
  [ "${1:-}" = quick ] && quick=(--quick)
  selection="$(python scripts/lib/scenarios.py --roles "${MOLECULE_ROLES:-}" \
    --scenarios "${MOLECULE_SCENARIOS:-}" "${quick[@]}")" || return 1
  while read -r lane name scenario; do
    case "$lane" in
      arm64) arm64+=("$name/$scenario") ;;
      docker) pool+=("$name/$scenario") ;;
      *) local_lane+=("$name/$scenario") ;;
    esac
  done <<<"$selection"
  if [ "${#arm64[@]}" -gt 0 ]; then run_pool 1 "${arm64[@]}" & arm_pid=$!; fi
  # In a subshell (its pool must not count the arm64 lane among its jobs),
  # niced: the arm64 lane is the long pole and gets a core first.
  ( renice -n 5 -p "$BASHPID" >/dev/null
    run_pool "${BAKERY_MOLECULE_JOBS:-2}" "${pool[@]}" "${local_lane[@]}" ) || rc=1
  if [ -n "$arm_pid" ]; then wait "$arm_pid" || rc=1; fi
  return "$rc"
}

# ansible-test bootstraps pip in its venvs with get-pip.py from the internet;
# seed its cache with an offline shim for the pip version it asks for.
seed_ansible_test_get_pip() {
  local version cache="$HOME/.ansible/test/cache"
  version="$(python - <<'PY'
import re, ansible_test, pathlib
src = (pathlib.Path(ansible_test.__file__).parent / "_internal/python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)" || return 1
  mkdir -p "$cache"
  cp "$BAKERY_ROOT/scripts/files/get_pip_shim.py" "$cache/get_pip_${version//./_}.py"
}
