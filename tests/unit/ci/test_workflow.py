# -*- coding: utf-8 -*-
# Copyright (c) 2026, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The GitHub workflow (.github/workflows): it parses and passes actionlint;
its molecule jobs cover exactly the scenarios scripts/lib/scenarios.py lists
(the matrix step itself is run here); the HA lab runs only on the schedule
or by hand; every test job runs scripts/test, and the static and unit jobs
together run every static stage of scripts/test."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
WORKFLOWS = ROOT / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
JOB = WORKFLOWS / "scripts-test.yml"
JOB_REF = "./.github/workflows/scripts-test.yml"
EVENTS = ("push", "pull_request", "schedule", "workflow_dispatch")
HA_LAB = "signer_guard/ha_lab"
ARM64 = "tezos_signer/arm64"


def _load(path):
    with open(path) as stream:
        workflow = yaml.safe_load(stream)
    # YAML 1.1 reads the bare key `on` as true.
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


@pytest.fixture(scope="module")
def ci():
    return _load(CI)


@pytest.fixture(scope="module")
def job():
    return _load(JOB)


def _scenarios_module():
    spec = importlib.util.spec_from_file_location("bakery_scenarios", str(ROOT / "scripts" / "lib" / "scenarios.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _static_stages():
    """STATIC_STAGES of scripts/test, each with its stage_ function."""
    found = re.search(r"^STATIC_STAGES=\(([^)]*)\)", (ROOT / "scripts" / "test").read_text(), re.M)
    assert found, "scripts/test has no STATIC_STAGES=(...)"
    stages = found.group(1).split()
    functions = set(re.findall(r"^stage_(\w+)\(\)", (ROOT / "scripts" / "lib" / "stages.sh").read_text(), re.M))
    assert {s.replace("-", "_") for s in stages} <= functions
    return stages


def _test_jobs(ci):
    """The jobs that call scripts-test.yml: {job id: its `with`}."""
    return {name: spec.get("with", {}) for name, spec in ci["jobs"].items() if spec.get("uses") == JOB_REF}


def _run_matrix_step(ci, tmp_path, separate=None):
    """Run the `list` step of the scenarios job as GitHub would (bash -eo
    pipefail, GITHUB_OUTPUT, RUNNER_TEMP, the job's env) from the repository
    root; python3 is this interpreter."""
    spec = ci["jobs"]["scenarios"]
    step = [s for s in spec["steps"] if s.get("id") == "list"][0]
    output = tmp_path / "github_output"
    output.write_text("")
    env = dict(os.environ)
    env.update({str(k): str(v) for k, v in spec.get("env", {}).items()})
    if separate is not None:
        env["SEPARATE_JOBS"] = separate
    env.update(GITHUB_OUTPUT=str(output), RUNNER_TEMP=str(tmp_path),
               PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
    result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                            cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=60, check=False)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return result, outputs


def _when(condition, event):
    """Evaluate a job `if:` made only of github.event_name comparisons."""
    words = re.sub(r"'[^']*'|github\.event_name|==|!=|\|\||&&|[()\s]", "", condition)
    assert not words, "if: %r: only github.event_name comparisons are understood here" % condition
    python = condition.replace("github.event_name", repr(event)).replace("||", " or ").replace("&&", " and ")
    return eval(python, {"__builtins__": {}})  # pylint: disable=eval-used  # checked above: literals and operators only


def test_workflows_parse(ci, job):
    assert set(ci["on"]) == set(EVENTS)
    assert ci["on"]["schedule"] and all(entry.get("cron") for entry in ci["on"]["schedule"])
    assert set(job["on"]) == {"workflow_call"}
    assert job["on"]["workflow_call"]["inputs"]["stages"]["required"] is True
    assert ci["jobs"] and job["jobs"]


def test_every_test_job_runs_scripts_test(ci, job):
    known = {"setup", "molecule"} | set(_static_stages())
    tests = _test_jobs(ci)
    # Every job but the one that lists the scenarios calls scripts-test.yml.
    assert set(ci["jobs"]) - set(tests) == {"scenarios"}
    for name, inputs in tests.items():
        stages = inputs["stages"].split()
        assert stages and set(stages) <= known, (name, stages)
    # The listing job reads scenarios.py and runs no test tool.
    listing = " ".join(step.get("run", "") for step in ci["jobs"]["scenarios"]["steps"])
    assert "scripts/lib/scenarios.py" in listing
    tools = re.compile(r"\b(pytest|ansible-lint|ansible-test|yamllint|actionlint|scripts/test)\b"
                       r"|\bmolecule +(test|create|prepare|converge|idempotence|verify|destroy)\b")
    assert not tools.search(listing)
    # scripts-test.yml: one step runs scripts/test with the stages and
    # scenarios it is given; no other step runs a test tool.
    steps = job["jobs"]["run"]["steps"]
    runs = [step for step in steps if "scripts/test" in step.get("run", "")]
    assert len(runs) == 1
    assert runs[0]["env"] == {"STAGES": "${{ inputs.stages }}", "MOLECULE_SCENARIOS": "${{ inputs.scenarios }}"}
    assert 'scripts/test "${stages[@]}"' in runs[0]["run"]
    others = " ".join(step.get("run", "") for step in steps if step is not runs[0])
    assert not tools.search(others)


def test_static_and_unit_jobs_run_every_static_stage(ci):
    tests = _test_jobs(ci)
    assert tests["static"]["stages"].split() == ["yamllint", "ansible-lint", "specs", "build", "actionlint", "sanity"]
    assert tests["unit"]["stages"].split() == ["unit"]
    assert sorted(tests["static"]["stages"].split() + ["unit"]) == sorted(_static_stages())
    assert tests["setup"]["stages"] == "setup" and tests["setup"]["save-caches"] is True
    for name in ("static", "unit", "molecule", "arm64", "ha-lab"):
        assert "setup" in ci["jobs"][name]["needs"], name
        assert not tests[name].get("save-caches"), name


def test_molecule_jobs_cover_exactly_the_listed_scenarios(ci, tmp_path):
    result, outputs = _run_matrix_step(ci, tmp_path)
    assert result.returncode == 0, result.stderr
    matrix = json.loads(outputs["matrix"])
    separate = ci["jobs"]["scenarios"]["env"]["SEPARATE_JOBS"].split()
    fixed = sorted(inputs["scenarios"] for inputs in _test_jobs(ci).values()
                   if inputs.get("scenarios") and "${{" not in inputs["scenarios"])
    assert fixed == sorted(separate) == sorted([ARM64, HA_LAB])
    listed = list(_scenarios_module().catalog())
    assert len(matrix) == len(set(matrix))
    assert sorted(matrix + fixed) == sorted(listed)
    assert HA_LAB not in matrix and ARM64 not in matrix
    # One job per scenario, and a failure stops none of the others.
    molecule = ci["jobs"]["molecule"]
    assert molecule["strategy"]["fail-fast"] is False
    assert molecule["strategy"]["matrix"] == {"scenario": "${{ fromJSON(needs.scenarios.outputs.matrix) }}"}
    assert molecule["with"] == {"stages": "molecule", "scenarios": "${{ matrix.scenario }}", "timeout-minutes": 60}
    assert "scenarios" in molecule["needs"]


def test_matrix_step_fails_when_a_separate_scenario_is_not_listed(ci, tmp_path):
    result, outputs = _run_matrix_step(ci, tmp_path, separate="%s nosuch_role/gone" % ARM64)
    assert result.returncode != 0
    assert "nosuch_role/gone" in result.stderr
    assert "matrix" not in outputs


def test_ha_lab_only_on_schedule_and_dispatch(ci):
    tests = _test_jobs(ci)
    ha = [name for name, inputs in tests.items() if HA_LAB in inputs.get("scenarios", "")]
    assert ha == ["ha-lab"]
    condition = ci["jobs"]["ha-lab"]["if"]
    assert {event for event in EVENTS if _when(condition, event)} == {"schedule", "workflow_dispatch"}
    # Every other job runs on every event (the arm64 proof included).
    assert [name for name, spec in ci["jobs"].items() if "if" in spec] == ["ha-lab"]


def test_caches(job):
    steps = {step.get("id"): step for step in job["jobs"]["run"]["steps"] if step.get("id")}
    venv, images = steps["venv-cache"]["with"], steps["images-cache"]["with"]
    assert venv["path"] == "~/.cache/tezos-bakery"
    assert "hashFiles('requirements/*.txt')" in venv["key"]
    assert images["path"] == "~/.cache/tezos-bakery-images"
    assert "hashFiles('scripts/lib/base-images.sh')" in images["key"]
    every = job["jobs"]["run"]["steps"]
    saves = [step for step in every if "actions/cache/save@" in step.get("uses", "")]
    assert len(saves) == 2 and all(step["if"].startswith("inputs.save-caches &&") for step in saves)
    tarball = [step for step in every if "docker save" in step.get("run", "")]
    assert len(tarball) == 1 and "image_tag amd64" in tarball[0]["run"] and "image_tag arm64" in tarball[0]["run"]
    load = [step for step in every if "docker load" in step.get("run", "")]
    assert len(load) == 1 and load[0]["if"] == "steps.images-cache.outputs.cache-hit == 'true'"


def test_actions_pinned_by_commit(ci, job):
    pinned = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}  # v\d+(\.\d+)*$")
    for path in (CI, JOB):
        uses = re.findall(r"^\s*(?:- )?uses: (.+)$", path.read_text(), re.M)
        assert uses, path
        for ref in uses:
            assert ref.startswith("./") or pinned.match(ref), "%s: %s" % (path.name, ref)


def test_actionlint_passes():
    actionlint = shutil.which("actionlint", path=os.path.dirname(sys.executable)) or shutil.which("actionlint")
    if not actionlint:
        pytest.fail("actionlint is not installed: scripts/test setup puts it in the venv (requirements/test.txt)")
    shellcheck = shutil.which("shellcheck")
    if not shellcheck:
        pytest.fail("shellcheck is not installed: scripts/test setup installs it (Debian package)")
    # The binary is a real checker: a broken workflow fails.
    broken = subprocess.run([actionlint, "-no-color", "-"], input="on: push\njobs:\n  a:\n    steps: []\n",
                            capture_output=True, text=True, timeout=60, check=False)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    result = subprocess.run([actionlint, "-no-color", "-shellcheck", shellcheck, str(CI), str(JOB)],
                            cwd=str(ROOT), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
