# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Constants and helpers of the fake's unit tests (tests/unit/gcp_fake)."""

PROJECT = "tz-unit-test"
TOKEN = "ya29.unit-static-token"
COMPUTE = "https://compute.googleapis.com/compute/v1/projects/%s" % PROJECT
CONTAINER = "https://container.googleapis.com/v1/projects/%s/locations/europe-west1" % PROJECT


def wait(api, operation, base):
    """Poll an operation until DONE, as the modules do (without the sleep)."""
    for _attempt in range(10):
        if operation["status"] == "DONE":
            return operation
        operation = api.get("%s/operations/%s" % (base, operation["name"])).json()
    raise AssertionError("operation never finished: %s" % operation)
