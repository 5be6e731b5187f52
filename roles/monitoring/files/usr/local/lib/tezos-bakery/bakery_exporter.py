# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prometheus exporter of what the node's own metrics do not say about baking.

Shipped by tezos.bakery.monitoring (runs in the monitoring namespace, in a
ConfigMap-mounted python image, standard library only). On each scrape of
``/metrics`` it asks a node's RPC (the public nodes: the baking node's RPC
stays on its pod's loopback) for:

* the head: level, timestamp (age = time() - timestamp in the alert rules);
* ``/chains/main/is_bootstrapped``: bootstrapped and sync_state;
* ``/chains/main/blocks/head/helpers/current_level``: the cycle;
* ``/chains/main/blocks/head/context/delegates/<pkh>`` for each baker:
  deactivated, grace_period and participation (missed_slots,
  remaining_allowed_missed_slots, expected_cycle_activity).

Every RPC call has a timeout; a node that does not answer gives
``tezos_bakery_rpc_up 0`` for it and the next node in the list is tried.
"""

import argparse
import calendar
import json
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SYNC_STATES = ("synced", "unsynced", "stuck")


def rpc(base_url, path, timeout):
    """The JSON answer of GET base_url + path (raises OSError/ValueError on failure)."""
    with urllib.request.urlopen(base_url.rstrip("/") + path, timeout=timeout) as answer:
        return json.loads(answer.read().decode("utf-8"))


def parse_timestamp(text):
    """Seconds since the epoch of an RFC 3339 UTC timestamp ("2026-11-25T21:50:45Z")."""
    return calendar.timegm(time.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z"))


def number(value):
    """An RPC number (mutez and counters are JSON strings) as a float."""
    return float(value)


def collect_node(base_url, delegates, timeout):
    """[(name, labels, value)] from one node; raises on the first failed call."""
    samples = []
    header = rpc(base_url, "/chains/main/blocks/head/header", timeout)
    samples.append(("tezos_bakery_head_level", {}, number(header["level"])))
    samples.append(("tezos_bakery_head_timestamp_seconds", {}, float(parse_timestamp(header["timestamp"]))))
    bootstrapped = rpc(base_url, "/chains/main/is_bootstrapped", timeout)
    samples.append(("tezos_bakery_bootstrapped", {}, 1.0 if bootstrapped.get("bootstrapped") else 0.0))
    for state in SYNC_STATES:
        samples.append(("tezos_bakery_sync_state", {"state": state}, 1.0 if bootstrapped.get("sync_state") == state else 0.0))
    level = rpc(base_url, "/chains/main/blocks/head/helpers/current_level", timeout)
    samples.append(("tezos_bakery_cycle", {}, number(level["cycle"])))
    for pkh in delegates:
        info = rpc(base_url, "/chains/main/blocks/head/context/delegates/%s" % pkh, timeout)
        labels = {"delegate": pkh}
        samples.append(("tezos_bakery_delegate_deactivated", labels, 1.0 if info.get("deactivated") else 0.0))
        samples.append(("tezos_bakery_delegate_grace_period_cycle", labels, number(info["grace_period"])))
        participation = info.get("participation") or rpc(
            base_url, "/chains/main/blocks/head/context/delegates/%s/participation" % pkh, timeout)
        samples.append(("tezos_bakery_delegate_missed_slots", labels, number(participation["missed_slots"])))
        samples.append(("tezos_bakery_delegate_remaining_allowed_missed_slots", labels,
                        number(participation["remaining_allowed_missed_slots"])))
        samples.append(("tezos_bakery_delegate_expected_cycle_activity", labels,
                        number(participation["expected_cycle_activity"])))
    return samples


HELP = {
    "tezos_bakery_rpc_up": "1 when the node's RPC answered every call of this scrape.",
    "tezos_bakery_head_level": "Level of the node's head.",
    "tezos_bakery_head_timestamp_seconds": "Timestamp of the node's head (seconds since the epoch).",
    "tezos_bakery_bootstrapped": "1 when the node says it is bootstrapped.",
    "tezos_bakery_sync_state": "1 for the node's current sync_state (synced, unsynced, stuck).",
    "tezos_bakery_cycle": "Cycle of the head.",
    "tezos_bakery_delegate_deactivated": "1 when the baker is deactivated.",
    "tezos_bakery_delegate_grace_period_cycle": "Cycle at which the baker is deactivated if it stays inactive.",
    "tezos_bakery_delegate_missed_slots": "Attestation slots missed in the current cycle.",
    "tezos_bakery_delegate_remaining_allowed_missed_slots": "Slots the baker may still miss this cycle and keep its rewards.",
    "tezos_bakery_delegate_expected_cycle_activity": "Attestation slots expected from the baker this cycle.",
}


def format_labels(labels):
    if not labels:
        return ""
    return "{%s}" % ",".join('%s="%s"' % (key, str(value).replace("\\", "\\\\").replace('"', '\\"'))
                             for key, value in sorted(labels.items()))


def render(nodes, delegates, timeout):
    """The exposition text: the first node that answers everything gives the chain's view."""
    lines = []
    up = []
    samples = []
    for node in nodes:
        if samples:
            up.append((node, None))
            continue
        try:
            samples = collect_node(node, delegates, timeout)
            up.append((node, 1.0))
        except (OSError, ValueError, KeyError, TypeError) as error:
            up.append((node, 0.0))
            print("node %s: %s" % (node, error), file=sys.stderr)
    lines.append("# HELP tezos_bakery_rpc_up %s" % HELP["tezos_bakery_rpc_up"])
    lines.append("# TYPE tezos_bakery_rpc_up gauge")
    for node, value in up:
        if value is not None:
            lines.append("tezos_bakery_rpc_up%s %g" % (format_labels({"node": node}), value))
    seen = set()
    for name, labels, value in samples:
        if name not in seen:
            seen.add(name)
            lines.append("# HELP %s %s" % (name, HELP[name]))
            lines.append("# TYPE %s gauge" % name)
        lines.append("%s%s %s" % (name, format_labels(dict(labels, node=samples_node(up))), repr(value)))
    return "\n".join(lines) + "\n"


def samples_node(up):
    """The node whose answers the samples are (the one that answered)."""
    return next(node for node, value in up if value == 1.0)


class Handler(BaseHTTPRequestHandler):
    """GET /metrics (the exposition) and /healthz (the exporter itself)."""

    server_version = "tezos-bakery-exporter"

    def do_GET(self):  # noqa: N802 (http.server API)
        if self.path == "/metrics":
            body = render(self.server.nodes, self.server.delegates, self.server.rpc_timeout).encode("utf-8")
            content_type = "text/plain; version=0.0.4; charset=utf-8"
        elif self.path == "/healthz":
            body, content_type = b"ok\n", "text/plain; charset=utf-8"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):  # pylint: disable=arguments-differ
        return


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--listen", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--port", type=int, default=9489, help="port to listen on")
    parser.add_argument("--node", action="append", required=True, help="node RPC base URL (repeat: tried in order)")
    parser.add_argument("--delegate", action="append", default=[], help="baker address (repeat)")
    parser.add_argument("--rpc-timeout", type=float, default=5.0, help="seconds allowed per RPC call")
    return parser.parse_args(argv)


def make_server(args):
    server = ThreadingHTTPServer((args.listen, args.port), Handler)
    server.nodes = args.node
    server.delegates = args.delegate
    server.rpc_timeout = args.rpc_timeout
    return server


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    server = make_server(args)
    server.serve_forever()


if __name__ == "__main__":
    main()
