# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/payout_site/files/payout_pages.py on sample tezpay reports
(tests/unit/fixtures/tezpay: tezpay's payouts.csv / invalid.csv / summary.json
columns), then the real Jekyll build of the site with the role's skeleton."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import re
import shutil
import subprocess
import sys

import jinja2
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ROLE = os.path.join(ROOT, "roles", "payout_site")
sys.path.insert(0, os.path.join(ROLE, "files"))

import payout_pages as pp  # noqa: E402 pylint: disable=wrong-import-position

REPORTS = os.path.join(ROOT, "tests", "unit", "fixtures", "tezpay", "reports")
BAKER = "tz1eLV23PrBB5T28FNinUtrHDPgxBiNtmkKB"
D1 = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx"
D2 = "tz1gjaF81ZRRvdzjobyfVNsAeSC6PScjfQwN"
D3 = "tz1faswCTDciRzE4oJ9jn2Vm2dvjeyA9fUzU"


@pytest.mark.parametrize("mutez,tez", [("0", "0.000000"), ("1", "0.000001"), ("12345678", "12.345678"),
                                       ("1000000", "1.000000"), ("-2500000", "-2.500000"), ("", "0.000000"),
                                       (None, "0.000000"), ("123456789012345678", "123456789012.345678")])
def test_mutez_to_tez_is_exact(mutez, tez):
    assert pp.mutez_to_tez(mutez) == tez


def test_mutez_to_tez_refuses_garbage():
    with pytest.raises(pp.ReportError):
        pp.mutez_to_tez("1.5")


def test_escape_keeps_tables_and_liquid_intact():
    assert pp.escape("a | b") == "a \\| b"
    assert pp.escape("{{ site }}") == "&#123;&#123; site &#125;&#125;"
    assert pp.escape("<script>") == "&lt;script&gt;"


def test_reads_every_cycle_newest_first():
    cycles = pp.read_reports(REPORTS)
    assert [cycle["cycle"] for cycle in cycles] == [851, 850]
    assert len(cycles[1]["payouts"]) == 2 and len(cycles[1]["invalid"]) == 1
    assert cycles[1]["summary"]["distributed_rewards"] == "16975307"


def test_pages(tmp_path):
    pages = pp.generate(REPORTS, str(tmp_path), "Test bakery payouts", BAKER)
    assert pages == sorted(["index.md", "cycles/850.md", "cycles/851.md", "delegators/index.md",
                            "delegators/%s.md" % D1, "delegators/%s.md" % D2, "delegators/%s.md" % D3])
    index = (tmp_path / "index.md").read_text()
    assert index.startswith('---\nlayout: default\ntitle: "Test bakery payouts"\n---\n')
    assert index.index("[851](cycles/851.html)") < index.index("[850](cycles/850.html)")
    assert "| [850](cycles/850.html) | 2 | 16.975307 | 2025-11-20 |" in index

    cycle = (tmp_path / "cycles" / "850.md").read_text()
    assert "| Distributed to delegators | 16.975307 tez |" in cycle
    assert "| Baker's fee income | 1.476113 tez |" in cycle
    assert ("| [%s](../delegators/%s.html) | 4000.000000 | 12.345678 | 1.073537 | "
            "[ooAWzpBKXx…](https://tzkt.io/ooAWzpBKXxbfW6ShGtxHcYCe8x9Wb7tv6yx6SmJdxqRJjNT6aGt) | paid |" % (D1, D1)) in cycle
    assert "Total paid: **16.975307 tez**." in cycle
    assert "| %s | delegator balance below minimum_balance |" % D3 in cycle

    failed = (tmp_path / "cycles" / "851.md").read_text()
    assert "| - | not paid: batch failed: counter in the past \\| retry next run |" in failed
    assert "Total paid: **12.400001 tez**." in failed

    delegator = (tmp_path / "delegators" / ("%s.md" % D1)).read_text()
    assert "| [851](../cycles/851.html) | 12.400001 |" in delegator
    assert "| [850](../cycles/850.html) | 12.345678 |" in delegator
    assert "Total received: **24.745679 tez**." in delegator
    unpaid = (tmp_path / "delegators" / ("%s.md" % D3)).read_text()
    assert "not paid: delegator balance below minimum_balance" in unpaid
    assert "Total received: **0.000000 tez**." in unpaid


def test_rewriting_the_same_pages_changes_nothing(tmp_path):
    pp.generate(REPORTS, str(tmp_path))
    before = {path: os.stat(os.path.join(dirpath, path)).st_mtime_ns
              for dirpath, _dirs, files in os.walk(str(tmp_path)) for path in files}
    pp.generate(REPORTS, str(tmp_path))
    after = {path: os.stat(os.path.join(dirpath, path)).st_mtime_ns
             for dirpath, _dirs, files in os.walk(str(tmp_path)) for path in files}
    assert before == after


def test_no_reports_yet(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    assert pp.generate(str(reports), str(tmp_path / "site")) == ["delegators/index.md", "index.md"]
    assert "No payout yet." in (tmp_path / "site" / "index.md").read_text()


def test_bad_report_fails_cleanly(tmp_path, capsys):
    bad = tmp_path / "reports" / "900"
    bad.mkdir(parents=True)
    (bad / "payouts.csv").write_text("delegator,amount,success\nnot-an-address,1,true\n")
    assert pp.main(["--reports", str(tmp_path / "reports"), "--out", str(tmp_path / "site")]) == 1
    assert "not a Tezos address" in capsys.readouterr().err


def render_skeleton(target):
    """The role's Jekyll skeleton (templates/site), rendered like the ConfigMap does."""
    source = os.path.join(ROLE, "templates", "site")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(source), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    env.filters["to_json"] = __import__("json").dumps
    for dirpath, _dirs, files in os.walk(source):
        for name in files:
            relative = os.path.relpath(os.path.join(dirpath, name), source)
            text = env.get_template(relative).render(payout_site_title="Test bakery payouts", payout_site_baker_pkh=BAKER)
            path = os.path.join(target, relative[:-3] if relative.endswith(".j2") else relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)


JEKYLL = shutil.which("jekyll")


@pytest.mark.skipif(JEKYLL is None, reason="jekyll is not installed (scripts/test setup)")
def test_jekyll_builds_the_site(tmp_path):
    skeleton, source, site = tmp_path / "skeleton", tmp_path / "src", tmp_path / "site"
    render_skeleton(str(skeleton))
    assert pp.main(["--reports", REPORTS, "--out", str(source), "--skeleton", str(skeleton),
                    "--title", "Test bakery payouts", "--baker", BAKER]) == 0
    result = subprocess.run([JEKYLL, "build", "--safe", "--disable-disk-cache", "--source", str(source),
                             "--destination", str(site)], capture_output=True, text=True, timeout=120, check=False,
                            env=dict(os.environ, JEKYLL_ENV="production", HOME=str(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    index = (site / "index.html").read_text()
    assert "<title>Test bakery payouts · Test bakery payouts</title>" in index
    assert re.search(r'<td[^>]*><a href="cycles/850.html">850</a></td>\s*<td[^>]*>2</td>\s*<td[^>]*>16.975307</td>', index)
    cycle = (site / "cycles" / "850.html").read_text()
    assert "<table>" in cycle and "12.345678" in cycle and "<strong>16.975307 tez</strong>" in cycle
    assert 'href="https://tzkt.io/ooAWzpBKXxbfW6ShGtxHcYCe8x9Wb7tv6yx6SmJdxqRJjNT6aGt"' in cycle
    assert "counter in the past | retry next run" in (site / "cycles" / "851.html").read_text()
    delegator = (site / "delegators" / ("%s.html" % D1)).read_text()
    assert "<strong>24.745679 tez</strong>" in delegator
    assert (site / "delegators" / "index.html").exists() and (site / "assets" / "style.css").exists()
    # Every link between pages resolves inside the built site.
    for page in site.rglob("*.html"):
        for link in re.findall(r'href="([^"#]+)"', page.read_text()):
            if link.startswith("http"):
                continue
            target = (site / link.lstrip("/")) if link.startswith("/") else (page.parent / link)
            if str(target).endswith("/"):
                target = target / "index.html"
            assert target.exists() or (target / "index.html").exists(), "%s -> %s" % (page, link)
