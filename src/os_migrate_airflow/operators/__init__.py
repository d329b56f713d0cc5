"""Operators of the OS Migrate Airflow adapter."""

from os_migrate_airflow.operators.openstack import (
    OpenStackExportOperator,
    OpenStackImportOperator,
    OpenStackValidateOperator,
)

__all__ = ["OpenStackExportOperator", "OpenStackImportOperator", "OpenStackValidateOperator"]
