"""Offline stand-in for pip's get-pip.py, seeded into ansible-test's cache.

ansible-test downloads get-pip.py to bootstrap pip in the virtual
environments of its sanity tests; that host cannot be reached here. This shim
does the same job with the interpreter's own ensurepip, then installs the
requested pip version (and friends) from the package index pip is set up for.
"""
import subprocess
import sys

# get-pip.py options that `pip install` does not know.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"],
                      stdout=subprocess.DEVNULL)
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--quiet"] + args))
