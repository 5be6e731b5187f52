# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading what a fake run left behind (for the molecule verifiers):
requests.jsonl, state.json and runs.log in the fake's directory."""

import json
import os
import pathlib

WRITES = ("POST", "PUT", "PATCH", "DELETE")


def fake_dir():
    """The fake's directory of the current molecule scenario."""
    return pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "gcp-fake"


class MissingRecord(FileNotFoundError):
    """A file the fake should have left is not there: the fake did not run
    (or not in this directory), so nothing can be concluded from it."""


def _read(directory, name, written_by):
    path = pathlib.Path(directory or fake_dir()) / name
    if not path.is_file():
        raise MissingRecord("%s is missing: %s. Without it nothing can be checked: did the GCP fake run, "
                            "with this directory?" % (path, written_by))
    return path.read_text()


def requests(directory=None):
    """Every logged request, oldest first (MissingRecord without a log:
    a missing log is not an empty one)."""
    text = _read(directory, "requests.jsonl", "the fake appends every request it serves to it")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def api_writes(entries):
    """The write calls to the GCP APIs (token exchanges left out), as
    (method, path) pairs."""
    return [(e["method"], e["path"]) for e in entries
            if e["method"] in WRITES and e["host"] != "oauth2.googleapis.com"]


def state(directory=None):
    """The fake's state (state.json)."""
    return json.loads(_read(directory, "state.json", "the fake writes it when it starts and after each change"))


def runs(directory=None):
    """Converge runs from runs.log: (label, start, end) with epoch seconds
    (MissingRecord without the file)."""
    text = _read(directory, "runs.log", "each converge appends its times to it (tests/gcp_fake/molecule/timing.yml)")
    out = []
    for line in text.splitlines():
        label, start, end = line.split()
        out.append((label, float(start), float(end)))
    return out


def split_by_runs(entries, run_list):
    """Requests made during each run of ``run_list`` (same order)."""
    return [[e for e in entries if start <= e["time"] <= end] for _label, start, end in run_list]


def report_timings(run_list, name):
    """Print the runs' wall times (MEASURED lines in the molecule log) and
    keep them in tests/output/ of the collection."""
    lines = ["MEASURED %s %s run %d: %.1f s" % (name, label, index + 1, end - start)
             for index, (label, start, end) in enumerate(run_list)]
    print("\n".join(lines))
    out = pathlib.Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", ".")) / ".." / ".." / "tests" / "output"
    if out.is_dir():
        with (out / "gcp-fake-timings.log").open("a") as log:
            log.write("\n".join(lines) + "\n")
    return lines
