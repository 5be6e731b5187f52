# -*- coding: utf-8 -*-
# Copyright (c) 2025, Tezos bakery maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line of the GCP fake.

  python -m gcp_fake serve DIR --project P [--access-token T] [--service-account-file F] [--op-polls N] [--port N]
  python -m gcp_fake start DIR ...   (same options: serve in the background, wait until ready, write DIR/pid)
  python -m gcp_fake stop DIR
  python -m gcp_fake make-sa-key FILE --project P
"""

import argparse
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

from .server import FakeGcp, make_service_account_key


def _options(parser):
    parser.add_argument("directory")
    parser.add_argument("--project", required=True)
    parser.add_argument("--access-token", action="append", default=[])
    parser.add_argument("--service-account-file", action="append", default=[])
    parser.add_argument("--op-polls", type=int, default=1, help="operation GETs before an operation is DONE")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lifetime", type=int, default=3600, help="seconds before the fake exits on its own")


def main(argv=None):
    """Entry point."""
    parser = argparse.ArgumentParser(prog="gcp_fake")
    commands = parser.add_subparsers(dest="command", required=True)
    _options(commands.add_parser("serve"))
    _options(commands.add_parser("start"))
    commands.add_parser("stop").add_argument("directory")
    key = commands.add_parser("make-sa-key")
    key.add_argument("file")
    key.add_argument("--project", required=True)
    args = parser.parse_args(argv)
    directory = pathlib.Path(getattr(args, "directory", ".") or ".")

    if args.command == "make-sa-key":
        info = make_service_account_key(args.file, args.project)
        print(info["client_email"])
        return 0
    if args.command == "serve":
        fake = FakeGcp(directory, args.project, args.access_token, args.service_account_file, args.op_polls, args.port)
        signal.signal(signal.SIGTERM, lambda *_args: sys.exit(0))
        # A fake left behind by an aborted test run goes away on its own.
        signal.signal(signal.SIGALRM, lambda *_args: sys.exit(0))
        signal.alarm(args.lifetime)
        fake.serve_forever()
        return 0
    if args.command == "start":
        directory.mkdir(parents=True, exist_ok=True)
        _stop(directory)
        # A fresh start: whatever an earlier run left (request log, state,
        # run records, rendered files) goes; the CA and the key stay.
        for stale in directory.iterdir():
            if stale.name in ("ca.pem", "ca.key", "sa.json"):
                continue
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink()
        argv = [sys.executable, "-m", "gcp_fake", "serve"] + sys.argv[sys.argv.index("start") + 1:]
        with open(directory / "fake.log", "ab") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        (directory / "pid").write_text(str(process.pid))
        deadline = time.time() + 30
        while time.time() < deadline:
            if (directory / "port").exists():
                print((directory / "port").read_text())
                return 0
            if process.poll() is not None:
                sys.stderr.write((directory / "fake.log").read_text())
                return 1
            time.sleep(0.1)
        process.kill()
        return 1
    if args.command == "stop":
        _stop(directory)
        return 0
    return 2


def _stop(directory):
    """Stop the fake started in ``directory`` (by its pid file), if any."""
    pid_file = directory / "pid"
    if not pid_file.exists():
        return
    try:
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
    except (ProcessLookupError, ValueError):
        pass
    pid_file.unlink()


if __name__ == "__main__":
    sys.exit(main())
