# -*- coding: utf-8 -*-
# Copyright (c) 2026, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""scripts/lib/scenarios.py: which scenarios exist, the lane of each, and
that a selection naming anything unknown is refused."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
_SPEC = importlib.util.spec_from_file_location("scenarios", str(ROOT / "scripts" / "lib" / "scenarios.py"))
scenarios = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(scenarios)


@pytest.fixture(scope="module")
def found():
    return scenarios.catalog()


def test_every_scenario_on_disk_is_in_the_catalog(found):
    on_disk = {"%s/%s" % (p.parts[-4], p.parts[-2]) for p in ROOT.glob("roles/*/molecule/*/molecule.yml")}
    assert set(found) == on_disk
    assert len(found) >= 18


def test_every_role_has_a_scenario(found):
    roles = {p.name for p in (ROOT / "roles").iterdir() if p.is_dir()}
    assert roles == {name.split("/")[0] for name in found}


def test_only_the_arm64_proof_runs_under_qemu(found):
    assert [name for name, lane in found.items() if lane == "arm64"] == ["tezos_signer/arm64"]


def test_lanes(found):
    assert found["signer_guard/ha_lab"] == "docker"
    assert found["ledger/default"] == "docker"  # the base config's platform
    assert found["gke_cluster/teardown"] == "local"
    assert found["tezos_nodes/default"] == "local"


@pytest.mark.parametrize("kwargs, unknown", [
    ({"roles": ["tezos_signr"]}, "role tezos_signr"),
    ({"scenarios": ["ledger/nope"]}, "scenario ledger/nope"),
    ({"roles": ["ledger", "x"], "scenarios": ["ledger/default"]}, "role x"),
])
def test_unknown_names_are_refused(found, kwargs, unknown):
    with pytest.raises(scenarios.SelectionError, match=unknown):
        scenarios.select(found, **kwargs)


def test_selection(found):
    assert scenarios.select(found, roles=["gcp_network"]) == [
        ("local", "gcp_network/badinput"), ("local", "gcp_network/default")]
    assert scenarios.select(found, scenarios=["signer_guard/ha_lab"]) == [("docker", "signer_guard/ha_lab")]
    assert len(scenarios.select(found)) == len(found)
    quick = scenarios.select(found, quick=True)
    assert {name for _lane, name in quick} == set(scenarios.QUICK)


def test_cli_refuses_a_typo(capsys):
    assert scenarios.main(["--roles", "ledgr"]) == 2
    assert "role ledgr" in capsys.readouterr().err


def test_cli_lists_lane_role_scenario(capsys):
    assert scenarios.main(["--scenarios", "tezos_signer/arm64"]) == 0
    assert capsys.readouterr().out == "arm64 tezos_signer arm64\n"
