"""Airflow adapter for the OS Migrate core (``include/os_migrate``), shaped like a provider.

* :mod:`os_migrate_airflow.hooks.openstack` -- Airflow Connection -> ``openstack.connection.Connection``.
* :mod:`os_migrate_airflow.operators.openstack` -- thin export / validate / import operators.
* :mod:`os_migrate_airflow.dag_support` -- runtime helpers used by the DAG files (staging dir macro,
  per-type selection template, run summary).

Import direction: ``dags/`` -> ``os_migrate_airflow`` -> ``os_migrate``; the core never imports Airflow.

The Airflow plugin loader must not import these modules by file (it would register
``hooks/openstack.py`` as the top-level module ``openstack`` and shadow openstacksdk), which is why
``plugins/.airflowignore`` excludes this package; it is imported as a normal package because the
plugins folder is on ``sys.path``.
"""
