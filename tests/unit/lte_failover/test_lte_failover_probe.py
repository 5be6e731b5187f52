from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

# SPDX-License-Identifier: GPL-3.0-or-later
"""ICMP probes: packet building and parsing, and the prober against fake
raw sockets (the real ones are exercised by the molecule scenario)."""

import errno
import struct

import pytest

from lte_failover import (ICMP_ECHO_REQUEST, EchoReply, IcmpProber, Uplink, build_echo_request, icmp_checksum,
                          parse_echo_reply)
from lte_failover_fakes import FakeRawSocket, echo_reply_to, ipv4_packet

WIRED = Uplink("wired", "eth0", "192.168.1.1")
LTE = Uplink("lte", "usb0", "192.168.8.1")
TARGETS = ("1.1.1.1", "9.9.9.9")


def test_checksum_is_rfc1071():
    # RFC 1071, section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    assert icmp_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert icmp_checksum(b"\x01") == ~0x0100 & 0xFFFF


def test_echo_request_layout():
    packet = build_echo_request(0x1234, 7, b"token")
    assert struct.unpack("!BBHHH", packet[:8])[0:2] == (ICMP_ECHO_REQUEST, 0)
    assert struct.unpack("!HH", packet[4:8]) == (0x1234, 7)
    assert packet[8:] == b"token"
    assert icmp_checksum(packet) == 0


def test_parses_an_echo_reply():
    request = build_echo_request(0x1234, 7, b"token")
    assert parse_echo_reply(echo_reply_to(request, "1.1.1.1")) == EchoReply("1.1.1.1", 0x1234, 7, b"token")


def test_parses_a_reply_with_ip_options():
    request = build_echo_request(1, 2, b"x" * 16)
    reply = echo_reply_to(request, "9.9.9.9")
    with_options = ipv4_packet("9.9.9.9", "192.0.2.10", reply[20:], options=b"\x01\x01\x01\x00")
    assert parse_echo_reply(with_options).source == "9.9.9.9"


@pytest.mark.parametrize("packet", [
    b"",
    b"\x45" * 19,
    # our own echo request looped back
    ipv4_packet("1.1.1.1", "192.0.2.10", build_echo_request(1, 2, b"p")),
    # not ICMP
    ipv4_packet("1.1.1.1", "192.0.2.10", b"\x00" * 8, protocol=17),
    # corrupted checksum
    echo_reply_to(build_echo_request(1, 2, b"p"), "1.1.1.1")[:-1] + b"q",
    # IPv6 version nibble
    b"\x60" + b"\x00" * 47,
])
def test_ignores_what_is_not_an_echo_reply(packet):
    assert parse_echo_reply(packet) is None


class Network:
    """Which interfaces reach which targets; records the sockets opened."""

    def __init__(self, reachable):
        self.reachable = reachable  # {device: set of targets that answer}
        self.sockets = []

    def open_socket(self):
        sock = FakeRawSocket(self.answer)
        self.sockets.append(sock)
        return sock

    def answer(self, device, packet, target):
        if isinstance(self.reachable.get(device), OSError):
            return self.reachable[device]
        if target in self.reachable.get(device, ()):
            return [echo_reply_to(packet, target)]
        return []


def test_probe_succeeds_on_an_answering_uplink_and_times_out_on_a_silent_one():
    network = Network({"eth0": {"1.1.1.1", "9.9.9.9"}, "usb0": set()})
    results = IcmpProber(0.3, open_socket=network.open_socket).probe([WIRED, LTE], TARGETS)
    assert results["wired"].ok and results["wired"].duration < 0.3
    assert not results["lte"].ok
    assert results["lte"].error == "no answer within 0.3 s"
    assert 0.3 <= results["lte"].duration < 1
    # One socket per uplink, bound to its interface, every target probed, all closed.
    assert [sock.device for sock in network.sockets] == ["eth0", "usb0"]
    assert [[target for target, _data in sock.sent] for sock in network.sockets] == [list(TARGETS)] * 2
    assert all(sock.closed for sock in network.sockets)


def test_one_answering_target_is_enough():
    network = Network({"eth0": {"9.9.9.9"}})
    assert IcmpProber(0.3, open_socket=network.open_socket).probe([WIRED], TARGETS)["wired"].ok


def test_uplinks_are_probed_in_parallel():
    network = Network({"eth0": set(), "usb0": set()})
    results = IcmpProber(0.3, open_socket=network.open_socket).probe([WIRED, LTE], TARGETS)
    # Both time out together, not one after the other.
    assert max(result.duration for result in results.values()) < 0.55


def test_send_errors_fail_fast_with_the_reason():
    network = Network({"usb0": OSError(errno.ENETUNREACH, "Network is unreachable")})
    result = IcmpProber(2, open_socket=network.open_socket).probe([LTE], TARGETS)["lte"]
    assert not result.ok
    assert result.duration < 0.5
    assert result.error == "1.1.1.1: Network is unreachable; 9.9.9.9: Network is unreachable"


def test_missing_interface_or_capability_is_a_failed_probe():
    def refuse():
        raise PermissionError(errno.EPERM, "Operation not permitted")
    result = IcmpProber(0.3, open_socket=refuse).probe([LTE], TARGETS)["lte"]
    assert not result.ok and result.error == "usb0: Operation not permitted"


@pytest.mark.parametrize("forge", [
    {"source": "8.8.8.8"},    # somebody else's reply
    {"ident": True},          # another prober's identifier
    {"payload": b"x" * 16},   # not our token
])
def test_replies_that_are_not_ours_do_not_count(forge):
    def answer(_device, packet, target):
        source = forge.get("source", target)
        ident = struct.unpack("!H", packet[4:6])[0] ^ 0x5555 if forge.get("ident") else None
        return [echo_reply_to(packet, source, ident=ident, payload=forge.get("payload"))]

    def open_socket():
        return FakeRawSocket(answer)
    result = IcmpProber(0.2, open_socket=open_socket).probe([WIRED], TARGETS)["wired"]
    assert not result.ok
