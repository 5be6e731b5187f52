# -*- coding: utf-8 -*-
# Copyright (c) 2026, Tezos bakery maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write rendered manifests into a folder of the controller: the render-only
mode of the Kubernetes roles (tezos.bakery.k8s_render, roles/k8s_manifests).
Only files whose content differs are written, each atomically; nothing is
written in check mode."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import tempfile

# <NN>-<kind>-<name>.yml, as roles/k8s_manifests names the rendered files.
NAME_RE = re.compile(r"^[0-9]{2}-[a-z]+-[a-z0-9-]+\.yml$")


class RenderError(Exception):
    """Arguments that cannot be written as asked."""


def check_args(dest, files, mode):
    """Refuse a relative folder, a file name that is not a manifest's and a
    mode that is not an octal string; return the mode as an int."""
    if not isinstance(dest, str) or not os.path.isabs(dest):
        raise RenderError("dest must be an absolute folder on the controller, got %r" % (dest,))
    if not isinstance(files, dict) or not files:
        raise RenderError("files must map at least one file name to its content")
    bad = sorted(name for name in files if not isinstance(name, str) or not NAME_RE.match(name))
    if bad:
        raise RenderError("file names must be <NN>-<kind>-<name>.yml, got %s" % ", ".join(map(str, bad)))
    if not isinstance(mode, str) or not re.match(r"^0?[0-7]{3}$", mode):
        raise RenderError("mode must be an octal string such as '0644', got %r" % (mode,))
    return int(mode, 8)


def _current(path):
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except (IOError, OSError):
        return None


def _write_atomically(path, data, mode):
    handle, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".%s." % os.path.basename(path))
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def render(dest, files, mode="0644", check_mode=False):
    """Write ``files`` ({name: text}) into ``dest``. Returns a result dict:
    ``changed``, ``written`` (names whose content or mode changed, or would in
    check mode) and ``dest``."""
    file_mode = check_args(dest, files, mode)
    written = []
    for name in sorted(files):
        path = os.path.join(dest, name)
        # A template that renders nothing (a feature switched off) is an
        # empty file, as the template module would write it.
        data = (files[name] or "").encode("utf-8")
        same = _current(path) == data and (os.stat(path).st_mode & 0o7777) == file_mode
        if same:
            continue
        written.append(name)
        if not check_mode:
            if not os.path.isdir(dest):
                os.makedirs(dest, 0o755)
            _write_atomically(path, data, file_mode)
    return {"changed": bool(written), "written": written, "dest": dest}
