from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

# SPDX-License-Identifier: GPL-3.0-or-later
"""Fakes of the system the lte_failover daemon drives: iproute2's `ip`
(a default-route table keyed like the kernel's) and a raw ICMP socket
(one end of a socketpair, answered by a fake network)."""

import json
import socket
import struct
import subprocess

from lte_failover import ICMP_ECHO_REPLY, SO_BINDTODEVICE, Route, icmp_checksum


class FakeIp:
    """A fake `ip` keeping a default-route table, driven like iproute2."""

    def __init__(self, routes, fail=None):
        self.routes = list(routes)
        self.calls = []
        self.fail = fail or {}

    def __call__(self, argv, **kwargs):
        assert kwargs["timeout"] > 0 and kwargs["check"] is False
        args = argv[1:]
        self.calls.append(args)
        for needle, error in self.fail.items():
            if needle in " ".join(args):
                if error == "timeout":
                    raise subprocess.TimeoutExpired(argv, kwargs["timeout"])
                return subprocess.CompletedProcess(argv, 2, "", error + "\n")
        if args[:3] == ["-4", "-j", "route"]:
            data = [dict({"dst": "default", "dev": route.dev, "metric": route.metric, "flags": []},
                         **({"gateway": route.gateway} if route.gateway else {})) for route in self.routes]
            return subprocess.CompletedProcess(argv, 0, json.dumps(data), "")
        words = dict(zip(args[4::2], args[5::2]))
        route = Route(words["dev"], words.get("via"), int(words["metric"]))
        if args[2] == "add":
            if any(existing.metric == route.metric for existing in self.routes):
                return subprocess.CompletedProcess(argv, 2, "", "RTNETLINK answers: File exists\n")
            self.routes.append(route)
        else:
            self.routes.remove(route)
        return subprocess.CompletedProcess(argv, 0, "", "")


def ipv4_packet(source, destination, payload, protocol=socket.IPPROTO_ICMP, options=b""):
    """An IPv4 packet as a raw socket receives it (header checksum left 0: the kernel checked it)."""
    header_length = 20 + len(options)
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | header_length // 4, 0, header_length + len(payload), 0, 0, 64,
                         protocol, 0, socket.inet_aton(source), socket.inet_aton(destination))
    return header + options + payload


def echo_reply_to(request, source, destination="192.0.2.10", ident=None, payload=None):
    """The echo reply a host at `source` sends to our `request`."""
    _kind, _code, _checksum, request_ident, seq = struct.unpack("!BBHHH", request[:8])
    ident = request_ident if ident is None else ident
    payload = request[8:] if payload is None else payload
    body = struct.pack("!BBHHH", ICMP_ECHO_REPLY, 0, 0, ident, seq) + payload
    body = body[:2] + struct.pack("!H", icmp_checksum(body)) + body[4:]
    return ipv4_packet(source, destination, body)


class FakeRawSocket:
    """Poses as socket(AF_INET, SOCK_RAW, IPPROTO_ICMP); `network(device, packet, target)`
    returns the packets that come back (or an OSError to raise from sendto)."""

    def __init__(self, network):
        self._mine, self._peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.network = network
        self.device = None
        self.sent = []
        self.closed = False

    def setsockopt(self, level, option, value):
        assert (level, option) == (socket.SOL_SOCKET, SO_BINDTODEVICE)
        assert value.endswith(b"\0")
        self.device = value[:-1].decode()

    def setblocking(self, flag):
        self._mine.setblocking(flag)

    def sendto(self, data, address):
        assert self.device is not None, "probe sent before binding to the interface"
        self.sent.append((address[0], data))
        answer = self.network(self.device, data, address[0])
        if isinstance(answer, OSError):
            raise answer
        for packet in answer or []:
            self._peer.send(packet)
        return len(data)

    def recv(self, size):
        return self._mine.recv(size)

    def fileno(self):
        return self._mine.fileno()

    def close(self):
        self.closed = True
        self._mine.close()
        self._peer.close()
