# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The whole site, rendered once per test session (site_render.py).

The render's wall time is printed (-s) and shown in the terminal summary.
BAKERY_SITE_RENDER_DIR=<folder of an earlier render> checks that render
instead of making a new one (to iterate on the checks).
"""

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from site_render import ROLES, Site, run_render  # noqa: E402 pylint: disable=wrong-import-position

_TIMINGS = {}


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The whole site, rendered once for the session."""
    render_dir = os.environ.get("BAKERY_SITE_RENDER_DIR")
    if not render_dir:
        render_dir = str(tmp_path_factory.mktemp("site-render"))
        start = time.monotonic()
        run_render(render_dir)
        _TIMINGS["site render (ansible-playbook tests/site/render.yml)"] = time.monotonic() - start
        print("\nsite render: %.1f s into %s" % (time.monotonic() - start, render_dir))
    missing = [role for role in ROLES if not os.path.isdir(os.path.join(render_dir, role))
               or not os.listdir(os.path.join(render_dir, role))]
    assert not missing, "the render wrote nothing for %s" % missing
    return Site(render_dir)


def pytest_terminal_summary(terminalreporter):
    for name, seconds in _TIMINGS.items():
        terminalreporter.write_line("%s: %.1f s" % (name, seconds))
