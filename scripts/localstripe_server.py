"""Runs localstripe (the Stripe-compatible test server from PyPI) for Dropcast.

Two changes from `localstripe --port N`: it listens on 127.0.0.1 only (not on
every interface), and it keeps its state in memory instead of pickling the
whole store to the shared /tmp/localstripe.pickle on every write, which is
slow under load and clobbered by a second instance.
"""

import argparse

from aiohttp import web
from localstripe import resources
from localstripe.server import app

resources.Store.dump_to_disk = lambda self: None
resources.Store.try_load_from_disk = lambda self: None

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8420)
args = parser.parse_args()
web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)
