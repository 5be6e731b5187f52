# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Lock-out check run by the signer_hardening role before it turns the
firewall and sshd to key-only, default-deny.

The role runs it on the Pi with ``ansible.builtin.script`` as the SSH login
user (not through sudo, so ``SSH_CONNECTION`` is still set); it is not
installed. It prints one JSON object:

* ``invalid_ranges``: admin ranges that are not a literal network in CIDR
  notation (``192.168.1.0/24``, ``fd00::/64``), host bits included: nft
  would resolve a host name and silently mask host bits;
* ``user``: the login user running the check (the SSH login user);
* ``client``: the address this SSH session comes from (``null`` when the
  play does not run over SSH);
* ``client_admitted``: whether that address is in one of the ranges, i.e.
  whether the admin can still open a new SSH session once the firewall is
  loaded (``null`` without a client).

Standard library only (Debian bookworm's python3.11).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import argparse
import ipaddress
import json
import os
import pwd
import sys


def parse_ranges(ranges):
    """Split the admin ranges into parsed networks and refused entries."""
    networks, invalid = [], []
    for text in ranges:
        if "/" not in text:
            invalid.append({"range": text, "error": "no prefix length (write 192.168.1.10/32, not 192.168.1.10)"})
            continue
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=True))
        except ValueError as exc:
            invalid.append({"range": text, "error": str(exc)})
    return networks, invalid


def client_address(ssh_connection):
    """The client address of an SSH_CONNECTION value ("client cport server sport").

    An IPv4 client seen on an IPv6 socket (::ffff:a.b.c.d) is returned as
    IPv4, which is how nftables' ip (not ip6) rules see it.
    """
    fields = (ssh_connection or "").split()
    if not fields:
        return None
    try:
        address = ipaddress.ip_address(fields[0].split("%", 1)[0])
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def admitted(address, networks):
    """True when the address is inside one of the networks (same family)."""
    return any(address.version == net.version and address in net for net in networks)


def check(ranges, ssh_connection, extra_ranges=(), user=None):
    """The JSON-able verdict for the given ranges and SSH_CONNECTION.

    extra_ranges are only validated (sources of other open ports): they do
    not let the admin in.
    """
    networks, invalid = parse_ranges(ranges)
    invalid.extend(parse_ranges(extra_ranges)[1])
    client = client_address(ssh_connection)
    return {
        "invalid_ranges": invalid,
        "user": user,
        "client": str(client) if client is not None else None,
        "client_admitted": admitted(client, networks) if client is not None else None,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--range", dest="ranges", action="append", default=[], help="an admin range (repeat)")
    parser.add_argument("--extra-range", dest="extra_ranges", action="append", default=[],
                        help="a range to validate only (repeat)")
    parser.add_argument("--ssh-connection", default=os.environ.get("SSH_CONNECTION", ""),
                        help="SSH_CONNECTION value (default: this process's environment)")
    args = parser.parse_args(argv)
    user = pwd.getpwuid(os.getuid()).pw_name
    json.dump(check(args.ranges, args.ssh_connection, args.extra_ranges, user), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
