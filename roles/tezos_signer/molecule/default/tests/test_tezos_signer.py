"""octez-signer on the Pi, driven over its real HTTP API on loopback: real
ed25519 signatures that verify, the magic-byte allow list, the high
watermark, and the service's sandbox."""
import json

import pytest
import tezos_crypto

URI = "ledger://molecule-double-ledger-nano/ed25519/0h/0h"
CHAIN = "NetXdQprcVkpaWU"
SIGNER = "http://127.0.0.1:6732"


@pytest.fixture(scope="module")
def key():
    _secret, public_key, pkh = tezos_crypto.double_ledger_key(URI)
    return public_key, pkh


def request(host, method, path, payload=None):
    """curl inside the Pi (the signer is on its loopback only)."""
    cmd = "curl -s -m 10 -o /tmp/body -w '%%{http_code}' -X %s %s%s" % (method, SIGNER, path)
    if payload is not None:
        cmd += " -H 'Content-Type: application/json' --data '\"%s\"'" % payload.hex()
    out = host.run(cmd)
    assert out.rc == 0, out.stderr
    return int(out.stdout), host.file("/tmp/body").content_string


def sign(host, pkh, payload):
    return request(host, "POST", "/keys/" + pkh, payload)


def test_signer_service_is_active_and_enabled(host):
    service = host.service("tezos-signer")
    assert service.is_running
    assert service.is_enabled


def test_signer_listens_on_loopback_only(host):
    assert host.socket("tcp://127.0.0.1:6732").is_listening
    assert not host.socket("tcp://0.0.0.0:6732").is_listening


def test_signer_runs_unprivileged(host):
    pid = host.check_output("systemctl show -p MainPID --value tezos-signer")
    uid = host.check_output("awk '/^Uid:/ {print $2}' /proc/%s/status" % pid)
    assert int(uid) == host.user("tezos-signer").uid
    assert host.user("tezos-signer").shell == "/usr/sbin/nologin"


def test_signer_serves_the_ledger_public_key(host, key):
    public_key, pkh = key
    status, body = request(host, "GET", "/keys/" + pkh)
    assert status == 200
    assert json.loads(body)["public_key"] == public_key


def test_block_signature_verifies(host, key):
    public_key, pkh = key
    payload = tezos_crypto.block_payload(CHAIN, level=1000, round_=0)
    status, body = sign(host, pkh, payload)
    assert status == 200, body
    assert tezos_crypto.verify(public_key, payload, json.loads(body)["signature"])


def test_forbidden_magic_byte_is_refused(host, key):
    _public_key, pkh = key
    status, body = sign(host, pkh, tezos_crypto.transfer_like_payload())
    assert status != 200
    assert "signature" not in body


def test_lower_level_is_refused_by_the_high_watermark(host, key):
    public_key, pkh = key
    high = tezos_crypto.block_payload(CHAIN, level=2000, round_=0)
    status, body = sign(host, pkh, high)
    assert status == 200, body
    assert tezos_crypto.verify(public_key, high, json.loads(body)["signature"])
    status, body = sign(host, pkh, tezos_crypto.block_payload(CHAIN, level=1999, round_=0))
    assert status != 200
    assert "signature" not in body


def test_watermark_survives_a_restart(host, key):
    _public_key, pkh = key
    status, _body = sign(host, pkh, tezos_crypto.block_payload(CHAIN, level=3000, round_=0))
    assert status == 200
    host.run_expect([0], "systemctl restart tezos-signer")
    host.run_expect([0], "timeout 60 sh -c 'until curl -sf %s/keys/%s >/dev/null; do sleep 1; done'" % (SIGNER, pkh))
    status, _body = sign(host, pkh, tezos_crypto.block_payload(CHAIN, level=2999, round_=0))
    assert status != 200


def test_unit_is_sandboxed(host):
    props = host.check_output(
        "systemctl show tezos-signer -p NoNewPrivileges -p ProtectSystem -p PrivateTmp -p DevicePolicy -p ReadWritePaths")
    assert "NoNewPrivileges=yes" in props
    assert "ProtectSystem=strict" in props
    assert "PrivateTmp=yes" in props
    assert "DevicePolicy=closed" in props
    assert "ReadWritePaths=/var/lib/tezos-signer" in props


PROBE_DROPIN = "/run/systemd/system/tezos-signer.service.d/zz-sandbox-probe.conf"
PROBE = """[Service]
Type=oneshot
Restart=no
ExecStart=
ExecStart=/bin/sh -c 'touch /opt/octez/probe 2>&1 || echo outside-refused; touch /var/lib/tezos-signer/probe && echo inside-ok'
"""


def test_sandbox_blocks_writes_outside_the_base_dir(host):
    # The real unit with only its command swapped for a probe (a runtime
    # drop-in): same user, same sandbox. Outside the base dir the file system
    # is read-only; the base dir is writable. Restored afterwards.
    host.run_expect([0], "mkdir -p %s", PROBE_DROPIN.rsplit("/", 1)[0])
    host.run_expect([0], "printf '%%s' %s > %s", PROBE, PROBE_DROPIN)
    try:
        host.run_expect([0], "systemctl daemon-reload && systemctl restart tezos-signer")
        invocation = host.check_output("systemctl show -p InvocationID --value tezos-signer")
        log = host.check_output("journalctl -o cat _SYSTEMD_INVOCATION_ID=%s", invocation)
        assert "Read-only file system" in log
        assert "outside-refused" in log
        assert "inside-ok" in log
        assert not host.file("/opt/octez/probe").exists
    finally:
        host.run("rm -f %s /var/lib/tezos-signer/probe", PROBE_DROPIN)
        host.run_expect([0], "systemctl daemon-reload && systemctl restart tezos-signer")
    assert host.service("tezos-signer").is_running
