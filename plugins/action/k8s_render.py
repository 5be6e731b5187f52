# -*- coding: utf-8 -*-
# Copyright (c) 2026, Tezos bakery maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tezos.bakery.k8s_render: writes the rendered manifests on the controller
itself, in one step for all of a role's files (a template task per file
forks one module run per file). The logic is in module_utils/k8s_render."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.tezos.bakery.plugins.module_utils.k8s_render import RenderError, render


class ActionModule(ActionBase):
    """Render-only mode of the Kubernetes roles."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("dest", "files", "mode"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        try:
            result.update(render(args.get("dest"), args.get("files"), args.get("mode", "0644"),
                                 check_mode=self._task.check_mode))
        except (RenderError, IOError, OSError) as error:
            result.update(failed=True, msg=str(error))
        return result
