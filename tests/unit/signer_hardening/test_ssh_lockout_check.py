from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

# SPDX-License-Identifier: GPL-3.0-or-later
"""The lock-out check run before the firewall and sshd are tightened."""

import ipaddress
import json
import os
import pwd

import pytest

import ssh_lockout_check as lc


def test_valid_ranges_of_both_families_parse():
    networks, invalid = lc.parse_ranges(["192.168.1.0/24", "10.0.0.7/32", "fd12:3456::/64", "::1/128"])
    assert invalid == []
    assert [str(n) for n in networks] == ["192.168.1.0/24", "10.0.0.7/32", "fd12:3456::/64", "::1/128"]


@pytest.mark.parametrize("text", [
    "192.168.1.1/24",      # host bits set: nft would silently widen it
    "192.168.300.0/24",    # nft would try to resolve it as a host name
    "pi-admin.lan/32",
    "10.0.0.0/33",
    "fd12::zz/64",
    "192.168.1.10",        # no prefix length
    "",
])
def test_invalid_ranges_are_refused(text):
    networks, invalid = lc.parse_ranges([text])
    assert networks == []
    assert [entry["range"] for entry in invalid] == [text]
    assert invalid[0]["error"]


@pytest.mark.parametrize("value, expected", [
    ("192.168.1.20 51234 192.168.1.5 22", "192.168.1.20"),
    ("fd12:3456::9 40000 fd12:3456::1 22", "fd12:3456::9"),
    ("::ffff:192.168.1.20 51234 ::ffff:192.168.1.5 22", "192.168.1.20"),
    ("fe80::1%eth0 40000 fe80::2%eth0 22", "fe80::1"),
])
def test_client_address_from_ssh_connection(value, expected):
    assert lc.client_address(value) == ipaddress.ip_address(expected)


@pytest.mark.parametrize("value", ["", None, "garbage 1 2 3"])
def test_no_client_without_an_ssh_session(value):
    assert lc.client_address(value) is None


def test_client_inside_a_range_is_admitted():
    networks, _invalid = lc.parse_ranges(["192.168.1.0/24", "fd12:3456::/64"])
    assert lc.admitted(ipaddress.ip_address("192.168.1.200"), networks)
    assert lc.admitted(ipaddress.ip_address("fd12:3456::abcd"), networks)


def test_client_outside_every_range_is_not_admitted():
    networks, _invalid = lc.parse_ranges(["192.168.1.0/24", "fd12:3456::/64"])
    assert not lc.admitted(ipaddress.ip_address("192.168.2.1"), networks)
    assert not lc.admitted(ipaddress.ip_address("fd12:3457::1"), networks)
    # An IPv4 client is never admitted by an IPv6 range, nor the reverse.
    assert not lc.admitted(ipaddress.ip_address("10.0.0.1"), lc.parse_ranges(["::/0"])[0])


def test_check_reports_the_verdict():
    result = lc.check(["192.168.1.0/24", "bad"], "192.168.7.7 5000 192.168.1.5 22", user="pi")
    assert result["client"] == "192.168.7.7"
    assert result["client_admitted"] is False
    assert result["user"] == "pi"
    assert [entry["range"] for entry in result["invalid_ranges"]] == ["bad"]


def test_extra_ranges_are_validated_but_do_not_admit():
    result = lc.check(["192.168.1.0/24"], "10.9.9.9 5000 192.168.1.5 22", extra_ranges=["10.9.9.0/24", "10.1.1.1/8"])
    assert result["client_admitted"] is False
    assert [entry["range"] for entry in result["invalid_ranges"]] == ["10.1.1.1/8"]


def test_check_without_ssh_has_no_client_verdict():
    result = lc.check(["192.168.1.0/24"], "")
    assert result == {"invalid_ranges": [], "user": None, "client": None, "client_admitted": None}


def test_main_prints_json_and_reads_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("SSH_CONNECTION", "10.1.2.3 40000 10.1.2.1 22")
    assert lc.main(["--range", "10.1.2.0/24", "--range", "192.168.0.0/16"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {"invalid_ranges": [], "user": pwd.getpwuid(os.getuid()).pw_name, "client": "10.1.2.3", "client_admitted": True}
