# -*- coding: utf-8 -*-
# Copyright (c) 2026, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The harness itself (scripts/test and scripts/lib): a typo selects nothing
and passes, a failed venv build is reused: each must be impossible. The
shell functions run for real in bash, with stand-ins only for the tools
they call (molecule, the interpreter that builds a venv)."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import pathlib
import subprocess
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[3]


def bash(script, tmp_path, **env):
    """Run ``script`` in bash after sourcing the harness libraries."""
    full_env = dict(os.environ, BAKERY_CACHE=str(tmp_path / "cache"), **env)
    prologue = ". scripts/lib/common.sh; . scripts/lib/stages.sh; BAKERY_OUT=%s; " % (tmp_path / "out")
    return subprocess.run(["bash", "-c", prologue + script], cwd=str(ROOT), env=full_env,
                          capture_output=True, text=True, timeout=120, check=False)


def stub(directory, name, body):
    path = directory / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


def test_a_misspelt_role_fails_naming_it(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "out").mkdir()
    # Were anything selected, this molecule would record it.
    stub(bin_dir, "molecule", "echo \"$PWD $*\" >> %s\n" % (tmp_path / "ran"))
    result = bash("stage_molecule", tmp_path, MOLECULE_ROLES="signer_gaurd",
                  PATH="%s:%s" % (bin_dir, os.environ["PATH"]))
    assert result.returncode != 0, result.stdout + result.stderr
    assert "signer_gaurd" in result.stderr
    assert not (tmp_path / "ran").exists()


def test_a_misspelt_scenario_fails_naming_it(tmp_path):
    (tmp_path / "out").mkdir()
    result = bash("stage_molecule", tmp_path, MOLECULE_SCENARIOS="signer_guard/ha-lab")
    assert result.returncode != 0
    assert "signer_guard/ha-lab" in result.stderr


def test_an_unknown_stage_fails_naming_it():
    result = subprocess.run([str(ROOT / "scripts" / "test"), "unti"], cwd=str(ROOT), capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "unknown stage: unti" in result.stderr


def fake_python(tmp_path, pip_status):
    """A python3.12 whose `-m venv DIR` makes a venv with a pip that exits
    ``pip_status`` (1: no network)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    return stub(bin_dir, "python3.12", """\
        mkdir -p "$3/bin"
        printf '#!/bin/sh\\necho "pip ran" >&2\\nexit %d\\n' > "$3/bin/pip"
        chmod +x "$3/bin/pip"
        """ % pip_status)


def venv_script(python, requirements, name):
    return 'find_python312() { echo %s; }; cached_venv %s %s; echo "rc=$?"; echo "venv=$CACHED_VENV"' % (
        python, requirements, name)


def test_a_failed_venv_build_is_not_marked_complete_nor_reused(tmp_path):
    """pip fails: cached_venv must fail, and leave nothing a later run would
    take for a complete venv."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("no-such-package==1\n")
    script = venv_script(fake_python(tmp_path, 1), requirements, "try")
    first = bash(script, tmp_path)
    assert "rc=1" in first.stdout, first.stdout + first.stderr
    venv = pathlib.Path(first.stdout.split("venv=")[1].strip())
    assert not (venv / ".complete").exists()
    # The next run builds again (and fails again) instead of reusing it.
    second = bash(script, tmp_path)
    assert "rc=1" in second.stdout
    assert "creating try" in second.stderr


def test_a_good_venv_is_built_once(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six\n")
    script = venv_script(fake_python(tmp_path, 0), requirements, "ok")
    first = bash(script, tmp_path)
    assert "rc=0" in first.stdout and "creating ok" in first.stderr
    second = bash(script, tmp_path)
    assert "rc=0" in second.stdout and "creating ok" not in second.stderr
