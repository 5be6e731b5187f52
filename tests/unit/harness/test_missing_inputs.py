# -*- coding: utf-8 -*-
# Copyright (c) 2026, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A check must fail when its input is missing, never read it as "nothing":
the HA lab's reading of a Pi's block marks and the lookup of a molecule
instance's container."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import importlib.util
import pathlib
import subprocess

import pytest

from molecule_containers import container

ROOT = pathlib.Path(__file__).resolve().parents[3]
HA_LAB_TESTS = ROOT / "roles" / "signer_guard" / "molecule" / "ha_lab" / "tests" / "test_ha_lab.py"


@pytest.fixture
def instances(tmp_path, monkeypatch):
    config = tmp_path / "instance_config.yml"
    config.write_text("- instance: pi1\n  address: bakery-no-such-scenario-pi1\n  connection: community.docker.docker\n")
    monkeypatch.setenv("MOLECULE_INSTANCE_CONFIG", str(config))
    return config


def test_an_unknown_instance_has_no_container(instances):
    assert container("pi1") == "bakery-no-such-scenario-pi1"
    with pytest.raises(LookupError, match="no molecule instance 'pi2'"):
        container("pi2")


def test_block_marks_of_a_pi_that_cannot_be_asked_fail(instances):
    """The old block_marks answered {} when `docker exec` failed, so "pi2 has
    no mark at that level" held for a Pi nobody could ask."""
    spec = importlib.util.spec_from_file_location("ha_lab_tests", str(HA_LAB_TESTS))
    ha_lab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ha_lab)
    with pytest.raises(subprocess.CalledProcessError):
        ha_lab.block_marks("pi1")
