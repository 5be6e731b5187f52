# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cidr_conflicts
short_description: Problems of a set of named IPv4 ranges (invalid, not private, overlapping)
version_added: 0.1.0
author: Tezos bakery maintainers (!UNKNOWN)
description:
  - Takes a dict of name to IPv4 CIDR (for example a subnet, its pods and services ranges and a GKE control-plane
    range) and returns one message per problem, an empty list when there is none.
  - A problem is a range that is not a valid IPv4 network address with its prefix (host bits set, bad syntax), a
    range outside the private address space (RFC 1918, RFC 6598 shared space, with O(private=true)), a prefix outside
    the O(min_prefix)..O(max_prefix) bounds, or two ranges that overlap.
options:
  _input:
    description: Name to CIDR.
    type: dict
    required: true
  private:
    description: Require private ranges (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10).
    type: bool
    default: true
  min_prefix:
    description: Shortest prefix length allowed.
    type: int
    default: 8
  max_prefix:
    description: Longest prefix length allowed.
    type: int
    default: 29
"""

EXAMPLES = r"""
- name: Fail on overlapping ranges
  ansible.builtin.assert:
    that: _problems | length == 0
    fail_msg: "{{ _problems | join('; ') }}"
  vars:
    _problems: "{{ {'nodes': '10.10.0.0/20', 'pods': '10.10.8.0/21'} | tezos.bakery.cidr_conflicts }}"
"""

RETURN = r"""
_value:
  description: One message per problem; empty when the ranges are valid and disjoint.
  type: list
  elements: str
"""

import ipaddress

from ansible.errors import AnsibleFilterError

_PRIVATE = [ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")]


def cidr_conflicts(ranges, private=True, min_prefix=8, max_prefix=29):
    """Messages about invalid or overlapping ranges of ``ranges`` (name -> CIDR)."""
    if not isinstance(ranges, dict):
        raise AnsibleFilterError("cidr_conflicts expects a dict of name to CIDR, got %s" % type(ranges).__name__)
    problems = []
    networks = []
    for name in sorted(ranges):
        cidr = ranges[name]
        try:
            net = ipaddress.IPv4Network(str(cidr), strict=True)
        except ValueError as error:
            problems.append("%s: %s is not an IPv4 network address with a prefix (%s)" % (name, cidr, error))
            continue
        if "/" not in str(cidr):
            problems.append("%s: %s has no prefix length" % (name, cidr))
            continue
        if not min_prefix <= net.prefixlen <= max_prefix:
            problems.append("%s: %s must have a prefix between /%d and /%d" % (name, cidr, min_prefix, max_prefix))
        if private and not any(net.subnet_of(block) for block in _PRIVATE):
            problems.append("%s: %s is not a private range (10/8, 172.16/12, 192.168/16, 100.64/10)" % (name, cidr))
        for other_name, other in networks:
            if net.overlaps(other):
                problems.append("%s (%s) overlaps %s (%s)" % (name, net, other_name, other))
        networks.append((name, net))
    return problems


class FilterModule(object):
    """The cidr_conflicts filter."""

    def filters(self):
        return {"cidr_conflicts": cidr_conflicts}
