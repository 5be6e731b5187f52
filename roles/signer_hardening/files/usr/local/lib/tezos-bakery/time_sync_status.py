# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Is the signer host's clock synchronized? Asks chronyd and tells.

Run by tezos-bakery-time-sync.timer every minute as::

    /usr/bin/python3 /usr/local/lib/tezos-bakery/time_sync_status.py \\
        --max-offset 0.1 --output /run/tezos-bakery/time-sync/time_sync.prom

and by the signer_hardening role (``--json``) to wait for a synchronized
clock. It reads ``chronyc -c tracking`` (chronyd's command port on
loopback, no privilege needed) and

* writes the verdict as Prometheus text metrics (``--output``, replaced
  atomically) for a textfile collector or the signer health endpoint;
* prints a JSON summary (``--json``) or one line;
* exits 0 when synchronized, 1 when not, 2 when chronyd does not answer.

The clock counts as synchronized when chronyd has a source (stratum 1-15),
its leap status is not "Not synchronised", and the system clock is within
``--max-offset`` seconds of NTP time.

Standard library only (Debian bookworm's python3.11).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

# Fields of `chronyc -c tracking`, in order (chronyc(1), "tracking").
TRACKING_FIELDS = (
    "reference_id", "reference_name", "stratum", "reference_time", "system_time_offset",
    "last_offset", "rms_offset", "frequency_ppm", "residual_frequency_ppm", "skew_ppm",
    "root_delay", "root_dispersion", "update_interval", "leap_status",
)
FLOAT_FIELDS = frozenset(TRACKING_FIELDS[3:13])
NOT_SYNCHRONISED = "Not synchronised"

EXIT_SYNCHRONIZED = 0
EXIT_NOT_SYNCHRONIZED = 1
EXIT_NO_CHRONYD = 2


class TrackingError(ValueError):
    """chronyc's answer is not a tracking report."""


def run_chronyc(chronyc="/usr/bin/chronyc", host="127.0.0.1", timeout=5.0):
    """The CSV tracking line from chronyd, or None when it does not answer."""
    try:
        result = subprocess.run([chronyc, "-h", host, "-c", "-n", "tracking"], capture_output=True,
                                text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0 or not result.stdout.strip():
        return None
    return result.stdout.strip().splitlines()[0]


def parse_tracking(line):
    """A dict of the tracking report's fields (numbers as int/float)."""
    values = line.strip().split(",")
    if len(values) != len(TRACKING_FIELDS):
        raise TrackingError("expected %d fields, got %d: %r" % (len(TRACKING_FIELDS), len(values), line))
    report = dict(zip(TRACKING_FIELDS, values))
    try:
        report["stratum"] = int(report["stratum"])
        for name in FLOAT_FIELDS:
            report[name] = float(report[name])
    except ValueError as exc:
        raise TrackingError("not a tracking report: %r (%s)" % (line, exc))
    return report


def root_distance(report):
    """Maximum error of the clock relative to the stratum-1 source (seconds)."""
    return report["root_delay"] / 2.0 + report["root_dispersion"]


def verdict(report, max_offset):
    """(synchronized, reason) for a parsed tracking report."""
    if report is None:
        return False, "chronyd does not answer"
    if report["leap_status"] == NOT_SYNCHRONISED or not 1 <= report["stratum"] <= 15:
        return False, "chronyd has no synchronized source (stratum %d, %s)" % (report["stratum"], report["leap_status"])
    offset = abs(report["system_time_offset"])
    if offset > max_offset:
        return False, "clock is %.6f s off NTP time (more than %g s)" % (offset, max_offset)
    return True, "synchronized to %s (stratum %d), offset %.6f s" % (
        report["reference_name"] or report["reference_id"], report["stratum"], report["system_time_offset"])


def render_metrics(report, synchronized, now):
    """Prometheus text exposition (format 0.0.4) of the verdict."""
    lines = []

    def gauge(name, help_text, value):
        lines.append("# HELP %s %s" % (name, help_text))
        lines.append("# TYPE %s gauge" % name)
        lines.append("%s %s" % (name, repr(float(value)) if isinstance(value, float) else value))

    gauge("tezos_bakery_time_chronyd_up", "1 when chronyd answered the tracking query.", int(report is not None))
    gauge("tezos_bakery_time_synchronized",
          "1 when the clock has an NTP source and is within the allowed offset.", int(synchronized))
    if report is not None:
        gauge("tezos_bakery_time_offset_seconds", "System clock minus NTP time, as chronyd estimates it.",
              report["system_time_offset"])
        gauge("tezos_bakery_time_root_distance_seconds", "Maximum error relative to the stratum-1 source.",
              root_distance(report))
        gauge("tezos_bakery_time_stratum", "NTP stratum of this host (0: no source).", report["stratum"])
        if report["reference_time"] > 0:
            gauge("tezos_bakery_time_last_update_age_seconds", "Seconds since chronyd last updated the clock.",
                  max(0.0, round(now - report["reference_time"], 3)))
    gauge("tezos_bakery_time_check_timestamp_seconds", "When this check ran (Unix time).", round(now, 3))
    return "\n".join(lines) + "\n"


def write_atomically(path, text):
    """Replace path with text so a reader never sees half a file."""
    directory = os.path.dirname(path) or "."
    handle, tmp = tempfile.mkstemp(prefix=".time_sync.", dir=directory)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def status(line, max_offset):
    """(report or None, synchronized, reason, exit code) from a chronyc line."""
    if line is None:
        return None, False, "chronyd does not answer", EXIT_NO_CHRONYD
    try:
        report = parse_tracking(line)
    except TrackingError as exc:
        return None, False, str(exc), EXIT_NO_CHRONYD
    synchronized, reason = verdict(report, max_offset)
    return report, synchronized, reason, EXIT_SYNCHRONIZED if synchronized else EXIT_NOT_SYNCHRONIZED


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--chronyc", default="/usr/bin/chronyc")
    parser.add_argument("--host", default="127.0.0.1", help="chronyd command address (default 127.0.0.1)")
    parser.add_argument("--max-offset", type=float, default=0.1, help="seconds (default 0.1)")
    parser.add_argument("--output", help="Prometheus textfile to replace")
    parser.add_argument("--json", action="store_true", help="print a JSON summary instead of one line")
    args = parser.parse_args(argv)

    # The check's time is when chronyd was asked: a reader that sees a
    # timestamp after some event knows the answer came after it too.
    asked = time.time()
    report, synchronized, reason, code = status(run_chronyc(args.chronyc, args.host), args.max_offset)
    if args.output:
        write_atomically(args.output, render_metrics(report, synchronized, asked))
    if args.json:
        print(json.dumps({"synchronized": synchronized, "reason": reason, "tracking": report}, sort_keys=True))
    else:
        print(("synchronized: " if synchronized else "NOT synchronized: ") + reason)
    return code


if __name__ == "__main__":
    sys.exit(main())
