"""Airflow's plugin loader must not import our package by file.

It imports every ``.py`` under the plugins folder under its file stem, so without
``plugins/.airflowignore`` ``os_migrate_airflow/hooks/openstack.py`` becomes ``sys.modules["openstack"]``
and every later ``import openstack...`` (the core, the hook) breaks in scheduler and workers.
Runs in a fresh interpreter because loading plugins mutates ``sys.modules``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from airflow import plugins_manager
plugins_manager.ensure_plugins_loaded()
import openstack
import os_migrate_airflow.operators.openstack
assert openstack.__file__.endswith("openstack/__init__.py"), openstack.__file__
assert "__init__" not in sys.modules
print("OK")
"""


def test_plugin_loader_does_not_shadow_openstacksdk():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT / "include"), str(REPO_ROOT / "plugins")]))

    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)

    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("OK")
