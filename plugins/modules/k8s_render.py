#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2026, Tezos bakery maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
module: k8s_render

short_description: Write rendered Kubernetes manifests into a folder of the controller

version_added: 0.2.0

author:
  - Tezos bakery maintainers (!UNKNOWN)

description:
  - The render-only mode of the collection's Kubernetes roles (see the C(k8s_manifests) role) writes each role's
    manifests to a folder instead of applying them. This action writes all of a role's files in one step on the
    controller, whatever host the task runs for.
  - Only files whose content or mode differ are written, each atomically (a temporary file renamed into place).
  - Files in the folder that are not named in O(files) are left alone.

options:
  dest:
    description: Absolute path of the folder on the controller; created (mode 0755) when missing.
    type: path
    required: true
  files:
    description:
      - File name to content. Names are C(<NN>-<kind>-<name>.yml), as the Kubernetes roles name their templates.
    type: dict
    required: true
  mode:
    description: Mode of the files, as an octal string.
    type: str
    default: "0644"

extends_documentation_fragment:
  - ansible.builtin.action_common_attributes

attributes:
  check_mode:
    support: full
    details: In check mode nothing is written; RV(written) lists what would be.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Runs on the controller (an action plugin), never on the target host.
"""

EXAMPLES = r"""
- name: Render the manifests of a role
  tezos.bakery.k8s_render:
    dest: /tmp/bakery-render/tezos_nodes
    files: "{{ dict(names | zip(query('ansible.builtin.template', *templates))) }}"
  vars:
    templates: "{{ query('ansible.builtin.fileglob', role_path ~ '/templates/k8s/*.yml.j2') }}"
    names: "{{ templates | map('basename') | map('regex_replace', '\\.j2$', '') }}"
"""

RETURN = r"""
dest:
  description: The folder written to.
  returned: always
  type: str
written:
  description: Names of the files written (or that would be, in check mode), in name order.
  returned: always
  type: list
  elements: str
  sample: [10-service-octez-public-node.yml]
"""
