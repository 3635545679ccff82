"""Builds the package with its gRPC stubs.

The stubs are generated from the repository's protos (generate.sh, with Debian's protoc and grpc_python_plugin) before
setuptools looks for packages, so that a wheel built from a checkout carries them: `pip install ./clients/python`
then gives a package that imports. Built away from a checkout (no protos two folders up), the stubs must already be
in place.
"""

import os
import subprocess

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOS = os.path.join(HERE, "..", "..", "protos")

if os.path.isdir(PROTOS):
    subprocess.run(["bash", os.path.join(HERE, "generate.sh")], check=True, stdout=subprocess.DEVNULL)
elif not os.path.isfile(os.path.join(HERE, "modelops", "_rpc_pb2.py")):
    raise SystemExit("modelops: the gRPC stubs are missing and the protos are not beside the package: build it from a ModelOps checkout")

setup()
