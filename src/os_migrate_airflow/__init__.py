"""Airflow provider for the OS Migrate core (:mod:`os_migrate`).

* :mod:`os_migrate_airflow.hooks.openstack` -- Airflow Connection -> ``openstack.connection.Connection``.
* :mod:`os_migrate_airflow.operators` -- thin export / validate / import and workload operators.
* :mod:`os_migrate_airflow.dag_support` -- runtime helpers used by the DAG files (staging dir macro,
  per-type selection template, run summary).
* :mod:`os_migrate_airflow.get_provider_info` -- what Airflow's ProvidersManager registers
  (connection type ``openstack`` and its form fields).

Import direction: ``dags/`` -> ``os_migrate_airflow`` -> ``os_migrate``; the core never imports Airflow.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("os-migrate-airflow")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
