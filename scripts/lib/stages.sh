# shellcheck shell=bash
# The stages of scripts/test, one function each. Sourced, never executed.
# Each returns non-zero on failure; logs of long stages go to tests/output/.

# BAKERY_ROOT comes from common.sh, sourced first.
# shellcheck disable=SC2153
BAKERY_OUT="$BAKERY_ROOT/tests/output"

stage_setup() {
  mkdir -p "$BAKERY_OUT"
  ensure_dockerd || return 1
  ensure_venv >"$BAKERY_OUT/venv.log" 2>&1 || { tail -30 "$BAKERY_OUT/venv.log"; return 1; }
  # ensure_venv ran in a redirect: activate again in this shell.
  ensure_venv 2>/dev/null || return 1
  ensure_scan_venv >"$BAKERY_OUT/scan-venv.log" 2>&1 || { tail -30 "$BAKERY_OUT/scan-venv.log"; return 1; }
  ensure_scan_venv 2>/dev/null || return 1
  apt_ensure haproxy udev nftables umockdev shellcheck prometheus prometheus-alertmanager jekyll || return 1
  ensure_base_images || return 1
  # Whole outputs captured first: `| head -1` would break the pipe under pipefail.
  local versions
  versions="$(python --version && ansible --version && molecule --version)" || return 1
  printf '%s\n' "$versions" | grep -E '^(Python|ansible \[core|molecule)'
}

stage_yamllint() {
  yamllint --strict .
}

stage_ansible_lint() {
  ansible-lint --profile production --offline
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
# with its summary line. Returns the scenario's status.
run_molecule_scenario() {
  local role="$1" scenario="$2" log start
  log="$BAKERY_OUT/molecule-$role-$scenario.log"
  start=$(date +%s)
  if (cd "roles/$role" && molecule test -s "$scenario") >"$log" 2>&1; then
    printf '  molecule %-16s %-10s PASS %4ss\n' "$role" "$scenario" "$(( $(date +%s) - start ))"
  else
    printf '  molecule %-16s %-10s FAIL %4ss (log: %s)\n' "$role" "$scenario" "$(( $(date +%s) - start ))" "$log"
    tail -60 "$log"
    return 1
  fi
}

# run_docker_scenario ROLE SCENARIO: run_molecule_scenario under the
# machine-wide lock: docker scenarios share container names (pi1, pi2,
# forwarder) and the bakery-molecule network, so only one runs at a time,
# whoever starts it (scripts/test, scripts/ha-lab).
BAKERY_MOLECULE_LOCK="${BAKERY_MOLECULE_LOCK:-/tmp/bakery-molecule.lock}"
run_docker_scenario() {
  (
    flock 9
    run_molecule_scenario "$@"
  ) 9>"$BAKERY_MOLECULE_LOCK"
}

# Every role's molecule scenarios. Two lanes: the docker scenarios one after
# the other (they share container names and the bakery-molecule network,
# and the arm64 ones keep both cores busy under qemu), and beside them the
# controller-only scenarios (driver `default`: render-only Kubernetes roles,
# the GCP fake), which need no container.
stage_molecule() {
  local roles=() role scenario_dir scenario rc=0 lane_pid
  local docker_lane=() local_lane=()
  if [ -n "${MOLECULE_ROLES:-}" ]; then read -r -a roles <<<"$MOLECULE_ROLES"
  else for role in roles/*/; do roles+=("$(basename "$role")"); done; fi
  for role in "${roles[@]}"; do
    for scenario_dir in roles/"$role"/molecule/*/; do
      [ -f "$scenario_dir/molecule.yml" ] || continue
      scenario="$(basename "$scenario_dir")"
      if python - "$scenario_dir/molecule.yml" <<'PY'
import sys, yaml
with open(sys.argv[1]) as stream:
    config = yaml.safe_load(stream) or {}
sys.exit(0 if (config.get("driver") or {}).get("name") == "default" else 1)
PY
      then local_lane+=("$role/$scenario")
      else docker_lane+=("$role/$scenario"); fi
    done
  done
  (
    lane_rc=0
    for entry in "${local_lane[@]}"; do run_molecule_scenario "${entry%%/*}" "${entry#*/}" || lane_rc=1; done
    exit "$lane_rc"
  ) &
  lane_pid=$!
  for entry in "${docker_lane[@]}"; do run_docker_scenario "${entry%%/*}" "${entry#*/}" || rc=1; done
  wait "$lane_pid" || rc=1
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
