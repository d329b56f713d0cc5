"""Provider metadata that Airflow reads through the ``apache_airflow_provider`` entry point.

Airflow's ``ProvidersManager`` calls :func:`get_provider_info` for every installed package that
declares the entry point (see ``pyproject.toml``); the ``connection-types`` entry registers the
``openstack`` connection type, its hook, and the Connection form fields declaratively
(``conn-fields``, the Airflow 3.x replacement of ``get_connection_form_widgets``). Form values are
stored as plain keys of the Connection ``extra``, which is what
:class:`~os_migrate_airflow.hooks.openstack.OpenStackHook` reads.
"""

from __future__ import annotations

from typing import Any

from os_migrate_airflow import __version__


def _text(label: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"], **schema}}


#: Connection form fields of conn_type ``openstack`` (stored as extra keys of the same name).
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "project_name": _text("Project name", "Project to scope to (not with an application credential)."),
    "project_domain_name": _text("Project domain name", "Domain of the project, e.g. Default."),
    "user_domain_name": _text("User domain name", "Domain of the user, e.g. Default."),
    "region_name": _text("Region name", "Region of the endpoints to use, e.g. RegionOne."),
    "interface": _text(
        "Interface",
        "Endpoint interface of the service catalog.",
        enum=["public", "internal", "admin", None],
        default="public",
    ),
    "cacert": _text("CA bundle path", "PEM file on the workers to verify TLS with."),
    "application_credential_id": _text(
        "Application credential ID",
        "Instead of a password: the credential's ID (its secret below, or as the password).",
    ),
    "application_credential_secret": _text(
        "Application credential secret", "Secret of the application credential.", format="password"
    ),
    "cloud": _text(
        "Cloud name (clouds.yaml)",
        "Use this cloud of a clouds.yaml instead of the "
        "fields above (fields that are set still override it).",
    ),
    "clouds_yaml": _text(
        "clouds.yaml path", "Path of that clouds.yaml on the workers; empty: the standard locations."
    ),
}


def get_provider_info() -> dict[str, Any]:
    """The provider dict (``package-name``, ``versions``, ``hooks``, ``connection-types``...)."""
    return {
        "package-name": "os-migrate-airflow",
        "name": "OS Migrate (OpenStack migration)",
        "description": "Moves tenant content between OpenStack clouds (OS Migrate on Airflow).",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "OpenStack",
                "external-doc-url": "https://docs.openstack.org/openstacksdk/latest/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {"integration-name": "OpenStack", "python-modules": ["os_migrate_airflow.hooks.openstack"]}
        ],
        "operators": [
            {
                "integration-name": "OpenStack",
                "python-modules": [
                    "os_migrate_airflow.operators.openstack",
                    "os_migrate_airflow.operators.projects",
                    "os_migrate_airflow.operators.workload",
                ],
            }
        ],
        "triggers": [
            {"integration-name": "OpenStack", "python-modules": ["os_migrate_airflow.triggers.openstack"]}
        ],
        "connection-types": [
            {
                "hook-class-name": "os_migrate_airflow.hooks.openstack.OpenStackHook",
                "hook-name": "OpenStack",
                "connection-type": "openstack",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["port", "schema"],
                    "relabeling": {"host": "Auth URL", "login": "Username"},
                    "placeholders": {
                        "host": "https://keystone.example:5000/v3",
                        "project_name": "acme",
                        "region_name": "RegionOne",
                    },
                },
            }
        ],
    }
