# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Markdown pages of the payout site from tezpay's reports.

tezpay keeps one folder per paid cycle under its ``reports`` folder:
``<cycle>/payouts.csv`` (one row per payout: baker, timestamp, cycle, kind,
op_kind, contract, token_id, delegator, delegator_balance, recipient,
amount, fee_rate, fee, tx_fee, op_hash, success, note; amounts in mutez),
``<cycle>/invalid.csv`` (the same columns: delegators not paid and why) and
``<cycle>/summary.json`` (delegators, paid_delegators, distributed_rewards,
fee_income, ... in mutez, timestamp).

This writes a Jekyll source folder: ``index.md`` (every cycle),
``cycles/<cycle>.md`` (that cycle's payouts), ``delegators/index.md`` and
``delegators/<address>.md`` (one delegator's payouts over the cycles), after
copying a skeleton folder (``_config.yml``, ``_layouts/``, ``assets/``).

Standard library only: it runs in any python3 container image.
``python3 payout_pages.py --reports DIR --out DIR [--skeleton DIR]
[--title T] [--baker TZ1] [--explorer URL]``
"""

import argparse
import csv
import json
import os
import re
import shutil
import sys

ADDRESS = re.compile(r"^(tz[1-4]|KT1)[1-9A-HJ-NP-Za-km-z]{33}$")
OP_HASH = re.compile(r"^o[1-9A-HJ-NP-Za-km-z]{50}$")
# tezpay's "no operation" hash (tezos.ZeroOpHash) on payouts not sent.
ZERO_OP_HASH = "o1111111111111111111111111111111111111111111111111111"
SUMMARY_FIELDS = (
    ("delegators", "Delegators", "count"),
    ("paid_delegators", "Paid delegators", "count"),
    ("cycle_earned_rewards", "Rewards earned", "mutez"),
    ("cycle_earned_fees", "Block fees earned", "mutez"),
    ("distributed_rewards", "Distributed to delegators", "mutez"),
    ("fee_income", "Baker's fee income", "mutez"),
    ("bond_income", "Baker's bond income", "mutez"),
    ("total_income", "Baker's total income", "mutez"),
    ("tx_fees_paid", "Transaction fees paid", "mutez"),
)


class ReportError(Exception):
    """A report that cannot be read."""


def mutez_to_tez(value):
    """'1234567' (mutez) -> '1.234567' (tez), exact (no float)."""
    text = str(value if value not in (None, "") else "0").strip()
    negative = text.startswith("-")
    digits = text.lstrip("-")
    if not digits.isdigit():
        raise ReportError("not an amount in mutez: %r" % value)
    digits = digits.rjust(7, "0")
    tez = "%s.%s" % (digits[:-6].lstrip("0") or "0", digits[-6:])
    return ("-" if negative and int(digits) else "") + tez


def escape(text):
    """Text safe in a markdown table cell and in Liquid."""
    text = str(text or "").replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return text.replace("{", "&#123;").replace("}", "&#125;").replace("<", "&lt;").replace(">", "&gt;")


def is_true(value):
    """tezpay writes booleans as true/false."""
    return str(value).strip().lower() in ("true", "1", "yes")


def read_csv(path):
    """Rows of a tezpay CSV as dicts ([] when the file does not exist)."""
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        delegator = (row.get("delegator") or "").strip()
        if delegator and not ADDRESS.match(delegator):
            raise ReportError("%s: not a Tezos address: %r" % (path, delegator))
    return rows


def read_cycle(folder, cycle):
    """One cycle's payouts, invalid candidates and summary."""
    summary_path = os.path.join(folder, "summary.json")
    summary = {}
    if os.path.exists(summary_path):
        with open(summary_path, encoding="utf-8") as handle:
            try:
                summary = json.load(handle)
            except ValueError as error:
                raise ReportError("%s: %s" % (summary_path, error)) from error
    return {
        "cycle": cycle,
        "payouts": read_csv(os.path.join(folder, "payouts.csv")),
        "invalid": read_csv(os.path.join(folder, "invalid.csv")),
        "summary": summary,
    }


def read_reports(reports_dir):
    """Every cycle folder of tezpay's reports, newest cycle first."""
    cycles = []
    for name in os.listdir(reports_dir):
        folder = os.path.join(reports_dir, name)
        if name.isdigit() and os.path.isdir(folder):
            cycles.append(read_cycle(folder, int(name)))
    return sorted(cycles, key=lambda cycle: cycle["cycle"], reverse=True)


def op_link(op_hash, explorer):
    """A link to the operation, or a dash when there is none."""
    op_hash = (op_hash or "").strip()
    if not op_hash or op_hash == ZERO_OP_HASH or not OP_HASH.match(op_hash):
        return "-"
    return "[%s…](%s%s)" % (op_hash[:10], explorer, op_hash)


def front_matter(title, **extra):
    """Jekyll front matter of a page."""
    lines = ["---", "layout: default", "title: %s" % json.dumps(title)]
    lines += ["%s: %s" % (key, json.dumps(value)) for key, value in sorted(extra.items())]
    return "\n".join(lines + ["---", ""])


def status_of(row):
    """Human status of one payout row."""
    if is_true(row.get("success")):
        return "paid"
    return "not paid" + (": " + escape(row["note"]) if row.get("note") else "")


def total_paid(rows):
    """Sum of the successful tez payouts of rows, in mutez."""
    return sum(int(row.get("amount") or 0) for row in rows
               if is_true(row.get("success")) and (row.get("op_kind") or "tez") in ("", "tez"))


def cycle_page(cycle, explorer):
    """Markdown of one cycle."""
    number = cycle["cycle"]
    summary = cycle["summary"]
    lines = [front_matter("Cycle %d" % number, cycle=number), "# Cycle %d" % number, ""]
    if summary.get("timestamp"):
        lines += ["Paid on %s." % escape(summary["timestamp"]), ""]
    rows = [(label, mutez_to_tez(summary[key]) + " tez" if unit == "mutez" else str(summary[key]))
            for key, label, unit in SUMMARY_FIELDS if key in summary]
    if rows:
        lines += ["| | |", "| --- | ---: |"] + ["| %s | %s |" % row for row in rows] + [""]
    lines += ["## Payouts", ""]
    if cycle["payouts"]:
        lines += ["| Delegator | Delegated balance (tez) | Amount (tez) | Fee (tez) | Operation | Status |",
                  "| --- | ---: | ---: | ---: | --- | --- |"]
        for row in sorted(cycle["payouts"], key=lambda r: (r.get("delegator") or "")):
            lines.append("| [%s](../delegators/%s.html) | %s | %s | %s | %s | %s |" % (
                escape(row.get("delegator")), escape(row.get("delegator")),
                mutez_to_tez(row.get("delegator_balance")), mutez_to_tez(row.get("amount")),
                mutez_to_tez(row.get("fee")), op_link(row.get("op_hash"), explorer), status_of(row)))
        lines.append("")
        lines += ["Total paid: **%s tez**." % mutez_to_tez(total_paid(cycle["payouts"])), ""]
    else:
        lines += ["No payout for this cycle.", ""]
    if cycle["invalid"]:
        lines += ["## Not paid", "", "| Delegator | Reason |", "| --- | --- |"]
        for row in sorted(cycle["invalid"], key=lambda r: (r.get("delegator") or "")):
            lines.append("| %s | %s |" % (escape(row.get("delegator")), escape(row.get("note")) or "-"))
        lines.append("")
    return "\n".join(lines)


def delegators_of(cycles):
    """{address: [(cycle, row, paid)]} over every cycle, newest first."""
    result = {}
    for cycle in cycles:
        for row in cycle["payouts"]:
            result.setdefault(row["delegator"], []).append((cycle["cycle"], row, True))
        for row in cycle["invalid"]:
            if row.get("delegator"):
                result.setdefault(row["delegator"], []).append((cycle["cycle"], row, False))
    return result


def delegator_page(address, entries, explorer):
    """Markdown of one delegator's payouts."""
    lines = [front_matter("Payouts to %s" % address, delegator=address), "# Payouts to %s" % address, "",
             "[%s on the explorer](%s%s)" % (address, explorer, address), "",
             "| Cycle | Amount (tez) | Recipient | Operation | Status |",
             "| ---: | ---: | --- | --- | --- |"]
    for cycle, row, listed in entries:
        status = status_of(row) if listed else "not paid" + (": " + escape(row["note"]) if row.get("note") else "")
        lines.append("| [%d](../cycles/%d.html) | %s | %s | %s | %s |" % (
            cycle, cycle, mutez_to_tez(row.get("amount") if listed else 0), escape(row.get("recipient") or address),
            op_link(row.get("op_hash"), explorer) if listed else "-", status))
    paid = [row for _cycle, row, listed in entries if listed]
    lines += ["", "Total received: **%s tez**." % mutez_to_tez(total_paid(paid)), ""]
    return "\n".join(lines)


def index_page(cycles, title, baker):
    """Markdown of the home page: every cycle."""
    lines = [front_matter(title), "# %s" % escape(title), ""]
    if baker:
        lines += ["Payouts of baker `%s`, newest cycle first. Find yours in [delegators](delegators/)." % escape(baker), ""]
    if not cycles:
        return "\n".join(lines + ["No payout yet.", ""])
    lines += ["| Cycle | Delegators paid | Distributed (tez) | Date |", "| ---: | ---: | ---: | --- |"]
    for cycle in cycles:
        summary = cycle["summary"]
        paid = summary.get("paid_delegators", sum(1 for row in cycle["payouts"] if is_true(row.get("success"))))
        distributed = summary.get("distributed_rewards", total_paid(cycle["payouts"]))
        lines.append("| [%d](cycles/%d.html) | %s | %s | %s |" % (
            cycle["cycle"], cycle["cycle"], paid, mutez_to_tez(distributed), escape(summary.get("timestamp", ""))[:10] or "-"))
    return "\n".join(lines + [""])


def delegators_index(delegators):
    """Markdown of the delegators list."""
    lines = [front_matter("Delegators"), "# Delegators", "", "| Delegator | Cycles | Total received (tez) |",
             "| --- | ---: | ---: |"]
    for address in sorted(delegators):
        entries = delegators[address]
        paid = [row for _cycle, row, listed in entries if listed]
        lines.append("| [%s](%s.html) | %d | %s |" % (address, address, len(entries), mutez_to_tez(total_paid(paid))))
    return "\n".join(lines + [""])


def write(path, text):
    """Write a file only when its content changes (stable mtimes, quiet syncs)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return False
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return True


def generate(reports_dir, out_dir, title="Payouts", baker="", explorer="https://tzkt.io/", skeleton=None):
    """Write the whole site source; return the list of pages written (relative paths)."""
    if not explorer.endswith("/"):
        explorer += "/"
    if skeleton:
        shutil.copytree(skeleton, out_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("..*"))
    cycles = read_reports(reports_dir)
    delegators = delegators_of(cycles)
    pages = {"index.md": index_page(cycles, title, baker), "delegators/index.md": delegators_index(delegators)}
    for cycle in cycles:
        pages["cycles/%d.md" % cycle["cycle"]] = cycle_page(cycle, explorer)
    for address, entries in delegators.items():
        pages["delegators/%s.md" % address] = delegator_page(address, entries, explorer)
    for relative, text in pages.items():
        write(os.path.join(out_dir, relative), text)
    return sorted(pages)


def main(argv=None):
    """Command line."""
    parser = argparse.ArgumentParser(description="Markdown pages of the payout site from tezpay's reports.")
    parser.add_argument("--reports", required=True, help="tezpay's reports folder (<cycle>/payouts.csv ...)")
    parser.add_argument("--out", required=True, help="Jekyll source folder to write")
    parser.add_argument("--skeleton", help="folder copied first (_config.yml, _layouts/, assets/)")
    parser.add_argument("--title", default="Payouts")
    parser.add_argument("--baker", default="")
    parser.add_argument("--explorer", default="https://tzkt.io/")
    args = parser.parse_args(argv)
    try:
        pages = generate(args.reports, args.out, args.title, args.baker, args.explorer, args.skeleton)
    except (ReportError, OSError) as error:
        sys.stderr.write("payout_pages: %s\n" % error)
        return 1
    sys.stdout.write("payout_pages: %d pages in %s\n" % (len(pages), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
