#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
module: gcp_access_token

short_description: Get a short-lived OAuth 2 access token for GCP REST calls

version_added: 0.1.0

author:
  - Tezos bakery maintainers (!UNKNOWN)

description:
  - Returns an OAuth 2 access token for the Google Cloud REST APIs, for the calls the C(google.cloud) modules cannot
    make (made with M(ansible.builtin.uri)), such as adding Cloud NAT to a Cloud Router.
  - Signs a JWT with the service-account key of O(service_account_file) and exchanges it at the key's token
    endpoint (google-auth), as the C(google.cloud) modules do. With an access token at hand, skip this module.
  - Never changes anything. The token is a secret, so set C(no_log) on the task that registers it.

options:
  service_account_file:
    description:
      - Path of a service-account JSON key on the controller.
    type: path
    required: true
  scopes:
    description: OAuth scopes of the token minted from O(service_account_file).
    type: list
    elements: str
    default: [https://www.googleapis.com/auth/cloud-platform]

attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix

extends_documentation_fragment:
  - ansible.builtin.action_common_attributes

requirements:
  - google-auth
  - requests
"""

EXAMPLES = r"""
- name: Get a token for the REST calls
  tezos.bakery.gcp_access_token:
    service_account_file: /secrets/bakery-deployer.json
  register: token
  no_log: true

- name: Read a region
  ansible.builtin.uri:
    url: https://compute.googleapis.com/compute/v1/projects/my-project/regions/europe-west1
    headers:
      Authorization: "Bearer {{ token.access_token }}"
  no_log: true
"""

RETURN = r"""
access_token:
  description: The OAuth 2 access token (a secret).
  returned: success
  type: str
expiry:
  description: When the token expires (UTC, ISO 8601), when known.
  returned: success
  type: str
  sample: "2026-01-01T12:00:00"
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

GOOGLE_AUTH_IMPORT_ERROR = None
try:
    from google.auth.exceptions import GoogleAuthError
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account
except ImportError:
    GOOGLE_AUTH_IMPORT_ERROR = traceback.format_exc()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            service_account_file=dict(type="path", required=True),
            scopes=dict(type="list", elements="str", default=["https://www.googleapis.com/auth/cloud-platform"]),
        ),
        supports_check_mode=True,
    )
    if GOOGLE_AUTH_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("google-auth"), exception=GOOGLE_AUTH_IMPORT_ERROR)
    path = module.params["service_account_file"]
    try:
        credentials = service_account.Credentials.from_service_account_file(path, scopes=module.params["scopes"])
    except (OSError, ValueError) as error:
        module.fail_json(msg="Cannot read the service-account key %s: %s" % (path, error))
    try:
        credentials.refresh(Request())
    except (GoogleAuthError, OSError) as error:
        module.fail_json(msg="The token endpoint refused the service-account key %s: %s" % (path, error))
    expiry = credentials.expiry.isoformat() if credentials.expiry else ""
    module.exit_json(changed=False, access_token=credentials.token, expiry=expiry)


if __name__ == "__main__":
    main()
