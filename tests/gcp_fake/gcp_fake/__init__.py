# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A stateful fake of the GCP REST APIs the cloud roles use (compute,
container, storage and the OAuth token endpoint), served through a loopback
HTTPS CONNECT proxy that terminates TLS with a test CA.

Clients run unchanged with HTTPS_PROXY=http://127.0.0.1:PORT and
REQUESTS_CA_BUNDLE / SSL_CERT_FILE pointing at the test CA. Every request
body is validated against the official discovery documents shipped by
google-api-python-client. Test code only: it never ships in roles/."""
