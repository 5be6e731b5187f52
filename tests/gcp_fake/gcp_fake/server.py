# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The loopback HTTPS CONNECT proxy in front of the fake cloud.

A client with HTTPS_PROXY=http://127.0.0.1:PORT asks ``CONNECT
compute.googleapis.com:443``; the proxy answers 200, terminates TLS itself
with a certificate for *.googleapis.com signed by the test CA, and serves
the HTTP requests inside from the fake (cloud.py). CONNECT to any other host
is refused: nothing leaves the machine. Plain requests to the proxy port
under /_fake/ give the state and the request log (tests only)."""

import datetime
import http.server
import json
import os
import pathlib
import ssl
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .cloud import Cloud

ALLOWED_SUFFIX = ".googleapis.com"


_SHARED_KEY = []


def _key(shared=False):
    """A new RSA key; with ``shared``, one key per process (server and
    cluster certificates of a test fake need not be unique, and RSA key
    generation dominates a fake's start-up)."""
    if shared:
        if not _SHARED_KEY:
            _SHARED_KEY.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return _SHARED_KEY[0]
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def make_ca(directory):
    """The test CA (created once per directory): (cert, key, pem path)."""
    directory = pathlib.Path(directory)
    cert_path, key_path = directory / "ca.pem", directory / "ca.key"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        return cert, key, cert_path
    key = _key()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name("tezos-bakery GCP fake test CA")).issuer_name(_name("tezos-bakery GCP fake test CA"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    key_path.write_bytes(_key_pem(key))
    os.chmod(key_path, 0o600)
    cert_path.write_bytes(_pem(cert))
    return cert, key, cert_path


def make_leaf(directory, ca_cert, ca_key):
    """A server certificate for *.googleapis.com signed by the CA: (cert, key) paths."""
    directory = pathlib.Path(directory)
    key = _key(shared=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name("*.googleapis.com")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("*.googleapis.com"), x509.DNSName("googleapis.com")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(_pem(cert))
    key_path.write_bytes(_key_pem(key))
    os.chmod(key_path, 0o600)
    return cert_path, key_path


def make_cluster_ca():
    """A self-signed PEM CA, as a GKE cluster's clusterCaCertificate."""
    key = _key(shared=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name("gke-fake-cluster-ca")).issuer_name(_name("gke-fake-cluster-ca"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return _pem(cert)


def make_service_account_key(path, project, name="bakery-deployer"):
    """Write a service-account key file like the ones GCP hands out (a real
    RSA key, so google-auth signs real JWTs the fake verifies)."""
    key = _key()
    email = "%s@%s.iam.gserviceaccount.com" % (name, project)
    info = {
        "type": "service_account", "project_id": project, "private_key_id": os.urandom(20).hex(),
        "private_key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode(),
        "client_email": email, "client_id": "1%020d" % int.from_bytes(os.urandom(8), "big"),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/%s" % urllib.parse.quote(email),
    }
    path = pathlib.Path(path)
    path.write_text(json.dumps(info, indent=2))
    os.chmod(path, 0o600)
    return info


class _ApiHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 inside the TLS tunnel: every request goes to the fake."""
    protocol_version = "HTTP/1.1"
    server_version = "ESF"
    sys_version = ""

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        del format, args

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = (self.headers.get("Host") or getattr(self.server, "tunnel_host", "")).split(":")[0]
        parsed = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parsed.query)
        started = time.time()
        status, headers, payload = self.server.fake.cloud.handle(self.command, host, parsed.path, query, self.headers, body)
        self.server.fake.record(self.command, host, parsed.path, query, body, status, started, self.headers)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class _TunnelServer:
    """What _ApiHandler needs of a server, for one tunnel."""

    def __init__(self, fake, host):
        self.fake = fake
        self.tunnel_host = host


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        del format, args

    def do_CONNECT(self):  # pylint: disable=invalid-name
        """Open a tunnel to a *.googleapis.com host, served by the fake."""
        host, _sep, port = self.path.partition(":")
        if not host.endswith(ALLOWED_SUFFIX) or port not in ("443", ""):
            self.server.fake.record("CONNECT", host, "", {}, b"", 403, time.time(), {})
            self.send_response(403, "Forbidden: the GCP fake only serves *.googleapis.com")
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.close_connection = True
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        try:
            tls = self.server.fake.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.close_connection = True
            return
        try:
            _ApiHandler(tls, self.client_address, _TunnelServer(self.server.fake, host))
        except (ssl.SSLError, OSError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass
        self.close_connection = True

    def _control(self):
        fake = self.server.fake
        if self.path == "/_fake/state":
            payload = json.dumps(fake.cloud.snapshot()).encode()
        elif self.path == "/_fake/requests":
            payload = json.dumps(fake.requests).encode()
        else:
            payload = json.dumps({"error": "plain HTTP proxying is refused; only CONNECT to *.googleapis.com"}).encode()
            self.send_response(403 if "://" in self.path else 404)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _control


class _Proxy(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, fake):
        self.fake = fake
        super().__init__(address, _ProxyHandler)


class FakeGcp:
    """The proxy + the fake cloud, with its files in ``directory``:
    ca.pem (trust it), port, state.json (after each change),
    requests.jsonl (one JSON line per request, no credentials)."""

    def __init__(self, directory, project, access_tokens=(), service_account_files=(), op_polls=1, port=0):
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        ca_cert, ca_key, self.ca_path = make_ca(self.directory)
        cert_path, key_path = make_leaf(self.directory, ca_cert, ca_key)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(str(cert_path), str(key_path))
        keys = [json.loads(pathlib.Path(path).read_text()) for path in service_account_files]
        self.requests = []
        self._log_lock = threading.Lock()
        self.log_path = self.directory / "requests.jsonl"
        self.state_path = self.directory / "state.json"
        self.cloud = Cloud(project, access_tokens=access_tokens, service_account_keys=keys, op_polls=op_polls)
        self.cloud.ca_pem = make_cluster_ca()
        self.cloud.listeners.append(self.save_state)
        self.save_state()
        self.server = _Proxy(("127.0.0.1", port), self)
        self.port = self.server.server_address[1]
        self.thread = None

    @property
    def proxy_url(self):
        """The HTTPS_PROXY value for clients."""
        return "http://127.0.0.1:%d" % self.port

    def environment(self):
        """Environment variables that send a client through the fake."""
        return {"HTTPS_PROXY": self.proxy_url, "https_proxy": self.proxy_url,
                "REQUESTS_CA_BUNDLE": str(self.ca_path), "SSL_CERT_FILE": str(self.ca_path),
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}

    def record(self, method, host, path, query, body, status, started, headers):
        """Append one request to the log (bodies of token requests and
        credentials are never written)."""
        del headers
        entry = {"time": round(started, 3), "method": method, "host": host, "path": path,
                 "query": {k: v[0] for k, v in query.items()}, "status": status}
        if body and host != "oauth2.googleapis.com" and not path.startswith("/oauth2/"):
            try:
                entry["body"] = json.loads(body)
            except ValueError:
                entry["body_bytes"] = len(body)
        with self._log_lock:
            self.requests.append(entry)
            with self.log_path.open("a") as log:
                log.write(json.dumps(entry) + "\n")

    def save_state(self):
        """Write state.json (atomically)."""
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.cloud.snapshot(), indent=1, sort_keys=True))
        os.replace(tmp, self.state_path)

    def start(self):
        """Serve in a background thread (tests); returns self."""
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def serve_forever(self):
        """Serve in this thread (the command line)."""
        (self.directory / "port").write_text(str(self.port))
        self.server.serve_forever()

    def stop(self):
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
