# -*- coding: utf-8 -*-
# Copyright (c) 2026, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The molecule scenarios of the collection and the lane each runs in.

    python3 scripts/lib/scenarios.py [--roles "ROLE ..."] [--scenarios "ROLE/SCENARIO ..."] [--quick]

prints one line per selected scenario, ``LANE ROLE SCENARIO``, where LANE is

* ``local``: the controller only (render-only roles, the GCP fake, the
  fake API server): no container;
* ``docker``: containers of the native (amd64) image;
* ``arm64``: at least one container of the arm64 image, under qemu.

Any role or scenario that does not exist is an error that names it (exit 2):
a typo must never select nothing and pass.
"""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import argparse
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BASE_CONFIG = ROOT / ".config" / "molecule" / "config.yml"

# The fast lane (`scripts/test quick`): the behaviour checks that cost least
# and cover what the static stages cannot: the double-signing refusal of the
# guard on a real systemd host, and the whole-site render of the Kubernetes
# roles (the monitoring scenario validates its rules with promtool).
QUICK = ("signer_guard/default", "payout_site/default")


class SelectionError(Exception):
    """A role or scenario asked for that does not exist."""


def _load(path):
    with open(path) as stream:
        return yaml.safe_load(stream) or {}


def lane(config, base):
    """The lane of a scenario from its molecule.yml (``config``) over the
    shared base config (``base``): molecule replaces lists whole, so a
    scenario without ``platforms`` runs the base config's. A platform with an
    image is a container (tests/molecule/docker/create.yml); the
    controller-only scenarios' platforms have none."""
    platforms = config.get("platforms", base.get("platforms")) or []
    images = [str(p.get("image", "")) for p in platforms if p.get("image")]
    if not images:
        return "local"
    if any(image.endswith(":arm64") for image in images):
        return "arm64"
    return "docker"


def catalog(root=ROOT):
    """Every scenario: a dict ``{"role/scenario": lane}`` in name order."""
    base = _load(root / ".config" / "molecule" / "config.yml")
    found = {}
    for path in sorted((root / "roles").glob("*/molecule/*/molecule.yml")):
        role, scenario = path.parts[-4], path.parts[-2]
        found["%s/%s" % (role, scenario)] = lane(_load(path), base)
    return found


def select(found, roles=(), scenarios=(), quick=False):
    """The scenarios asked for (all when nothing is asked), in catalog order.
    Raises SelectionError naming every unknown role or scenario."""
    known_roles = sorted({name.split("/")[0] for name in found})
    unknown = ["role %s" % r for r in roles if r not in known_roles]
    unknown += ["scenario %s" % s for s in scenarios if s not in found]
    if quick:
        unknown += ["quick scenario %s" % s for s in QUICK if s not in found]
    if unknown:
        raise SelectionError("unknown %s (roles: %s)" % (", ".join(unknown), " ".join(known_roles)))
    wanted = set(scenarios) | (set(QUICK) if quick else set())
    wanted |= {name for name in found if name.split("/")[0] in roles}
    if not (roles or scenarios or quick):
        wanted = set(found)
    return [(found[name], name) for name in found if name in wanted]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", default="", help="space-separated role names")
    parser.add_argument("--scenarios", default="", help="space-separated ROLE/SCENARIO names")
    parser.add_argument("--quick", action="store_true", help="the fast lane's scenarios")
    args = parser.parse_args(argv)
    try:
        chosen = select(catalog(), args.roles.split(), args.scenarios.split(), args.quick)
    except SelectionError as error:
        sys.stderr.write("ERROR: %s\n" % error)
        return 2
    for where, name in chosen:
        print("%s %s" % (where, name.replace("/", " ")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
