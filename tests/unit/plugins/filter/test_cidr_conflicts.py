# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cidr_conflicts filter of the cloud roles' preflight."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.tezos.bakery.plugins.filter.cidr_conflicts import cidr_conflicts


def test_disjoint_private_ranges_pass():
    assert cidr_conflicts({"nodes": "10.10.0.0/20", "pods": "10.16.0.0/14", "cp": "172.16.0.32/28"}) == []


def test_overlap_is_reported_with_both_names():
    (problem,) = cidr_conflicts({"nodes": "10.10.0.0/20", "pods": "10.10.8.0/21"})
    assert "pods (10.10.8.0/21) overlaps nodes (10.10.0.0/20)" == problem


@pytest.mark.parametrize("cidr, words", [
    ("10.10.0.1/20", "host bits set"),
    ("10.10.0.0", "no prefix"),
    ("ten/8", "not an IPv4 network"),
    ("8.8.8.0/24", "not a private range"),
    ("10.0.0.0/30", "prefix between"),
])
def test_invalid_ranges(cidr, words):
    (problem,) = cidr_conflicts({"x": cidr})
    assert words in problem


def test_public_allowed_when_asked():
    assert cidr_conflicts({"world": "0.0.0.0/0"}, private=False, min_prefix=0, max_prefix=32) == []


def test_not_a_dict():
    with pytest.raises(AnsibleFilterError):
        cidr_conflicts(["10.0.0.0/8"])
