"""Run one OpenStack WSGI application under gunicorn.

Usage:
    wsgi_run.py NAME BIND MODULE [THREADS] [-- OSLO_ARGS...]

Neutron and Cinder parse ``sys.argv[1:]`` with oslo.config when their WSGI
module is imported, so gunicorn's own command line must not be visible to
them.  This wrapper sets ``sys.argv = [NAME] + OSLO_ARGS`` (for example
``--config-file x.conf --log-file y.log``) and drives gunicorn through its
``BaseApplication`` API instead of its CLI.  The application is imported in
the worker, after the fork.
"""

import importlib
import sys

from gunicorn.app.base import BaseApplication


class _App(BaseApplication):
    def __init__(self, module, options):
        self._module = module
        self._options = options
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        return importlib.import_module(self._module).application


def main(argv):
    if "--" in argv:
        split = argv.index("--")
        ours, oslo_args = argv[:split], argv[split + 1 :]
    else:
        ours, oslo_args = argv, []
    if len(ours) not in (3, 4):
        sys.exit(__doc__)
    name, bind, module = ours[:3]
    threads = int(ours[3]) if len(ours) == 4 else 8
    if not bind.startswith("127.0.0.1:"):
        sys.exit("wsgi_run.py: refusing to bind %s (loopback only)" % bind)
    sys.argv = [name] + oslo_args
    options = {
        "bind": bind,
        "workers": 1,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 300,
        # clients (keystoneauth/requests) keep pooled connections open; with
        # gunicorn's default of 2 s a client that pauses ~2 s between calls
        # races the server's close and gets RemoteDisconnected
        "keepalive": 75,
        "graceful_timeout": 10,
        "proc_name": name,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
    }
    _App(module, options).run()


if __name__ == "__main__":
    main(sys.argv[1:])
