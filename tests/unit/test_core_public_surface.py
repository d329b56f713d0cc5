"""The core's public surface is honest and it never imports Airflow."""

import importlib
import pkgutil
import subprocess
import sys

import os_migrate


def test_all_is_sorted_and_exported():
    assert os_migrate.__all__ == sorted(os_migrate.__all__)
    for name in os_migrate.__all__:
        assert hasattr(os_migrate, name), name


def test_every_module_imports_without_airflow_in_a_fresh_process():
    modules = ["os_migrate"] + [
        m.name for m in pkgutil.walk_packages(os_migrate.__path__, prefix="os_migrate.")
    ]
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(modules) >= 10
    importlib.import_module("os_migrate.resources.network")
