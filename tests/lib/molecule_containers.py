# -*- coding: utf-8 -*-
# Copyright (c) 2026, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The docker container behind a molecule instance, for tests that use the
docker CLI directly (faults injected with `docker exec`, addresses read with
`docker inspect`). tests/molecule/docker/create.yml names containers per
scenario and writes the mapping to molecule's instance config; a host that
is not there is an error, never a guess."""
from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os

import yaml


def container(instance, config=None):
    """Name of the container of molecule instance ``instance``."""
    path = config or os.environ["MOLECULE_INSTANCE_CONFIG"]
    with open(path) as stream:
        instances = yaml.safe_load(stream) or []
    for entry in instances:
        if entry.get("instance") == instance:
            return entry["address"]
    raise LookupError("no molecule instance %r in %s (instances: %s)" % (
        instance, path, ", ".join(str(e.get("instance")) for e in instances) or "none"))
