"""Hooks of the OS Migrate Airflow adapter (import from the submodule: ``hooks.openstack``)."""
