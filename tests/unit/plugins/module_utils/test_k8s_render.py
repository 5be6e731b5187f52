# -*- coding: utf-8 -*-
# Copyright (c) 2026, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of module_utils/k8s_render.py (the render-only mode of the
Kubernetes roles)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os

import pytest

from ansible_collections.tezos.bakery.plugins.module_utils.k8s_render import RenderError, render

FILES = {"00-namespace-bakery.yml": "kind: Namespace\n", "10-service-octez-public-node.yml": "kind: Service\n"}


def test_writes_every_file_then_nothing(tmp_path):
    dest = str(tmp_path / "out" / "tezos_nodes")
    first = render(dest, FILES)
    assert first == {"changed": True, "written": sorted(FILES), "dest": dest}
    for name, content in FILES.items():
        path = os.path.join(dest, name)
        assert open(path).read() == content
        assert os.stat(path).st_mode & 0o777 == 0o644
    assert oct(os.stat(dest).st_mode & 0o777) == oct(0o755)
    assert render(dest, FILES) == {"changed": False, "written": [], "dest": dest}


def test_rewrites_only_what_differs(tmp_path):
    dest = str(tmp_path)
    render(dest, FILES)
    changed = dict(FILES, **{"00-namespace-bakery.yml": "kind: Namespace\nmetadata: {}\n"})
    assert render(dest, changed)["written"] == ["00-namespace-bakery.yml"]
    os.chmod(os.path.join(dest, "10-service-octez-public-node.yml"), 0o600)
    assert render(dest, changed)["written"] == ["10-service-octez-public-node.yml"]
    # No temporary file is left behind.
    assert sorted(os.listdir(dest)) == sorted(FILES)


def test_a_template_that_renders_nothing_is_an_empty_file(tmp_path):
    render(str(tmp_path), {"30-secret-hot-key.yml": None, "31-secret-other.yml": ""})
    assert (tmp_path / "30-secret-hot-key.yml").read_text() == ""
    assert (tmp_path / "31-secret-other.yml").read_text() == ""


def test_check_mode_writes_nothing(tmp_path):
    dest = str(tmp_path / "never")
    result = render(dest, FILES, check_mode=True)
    assert result["changed"] and result["written"] == sorted(FILES)
    assert not os.path.exists(dest)


def test_leaves_other_files_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    render(str(tmp_path), FILES)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("dest, files, mode, message", [
    ("relative/dir", FILES, "0644", "absolute folder"),
    ("/tmp/x", {}, "0644", "at least one file"),
    ("/tmp/x", {"../escape.yml": ""}, "0644", "file names must be"),
    ("/tmp/x", {"10-service-x.yml.j2": ""}, "0644", "file names must be"),
    ("/tmp/x", {"sub/10-service-x.yml": ""}, "0644", "file names must be"),
    ("/tmp/x", FILES, "rw-r--r--", "octal string"),
    ("/tmp/x", FILES, 420, "octal string"),
])
def test_refusals(dest, files, mode, message):
    with pytest.raises(RenderError, match=message):
        render(dest, files, mode)
