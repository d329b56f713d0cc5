"""``python -m os_migrate ...``: the same as the ``os-migrate`` command (:mod:`os_migrate.cli`)."""

import sys

from os_migrate.cli import main

if __name__ == "__main__":
    sys.exit(main())
