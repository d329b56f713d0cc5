"""Export / validate / import operators: rendered arguments in, one core call, small dict out.

The core functions are patched where the operator module imports them; the hook is real and reads an
``AIRFLOW_CONN_*`` connection, with the openstacksdk ``Connection`` patched at the hook's import site.
"""

from __future__ import annotations

import json
from unittest import mock

import pytest
from airflow.sdk import DAG, Connection
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from os_migrate.exceptions import ApplyError, CloudError, DataError, OsMigrateError, ValidationError
from os_migrate_airflow.hooks import openstack as hook_module
from os_migrate_airflow.operators import openstack as op_module
from os_migrate_airflow.operators.openstack import (
    OpenStackExportOperator,
    OpenStackImportOperator,
    OpenStackValidateOperator,
)

FILTERS = {"networks": ["db-net", {"regex": "^app-"}]}
EXPORT_RESULT = {
    "data_dir": "/staging/acme",
    "counts": {"networks": 3},
    "files": {"networks": "/staging/acme/networks.yml"},
    "changed": {"networks": True},
}
IMPORT_RESULT = {
    "dry_run": True,
    "counts": {"create": 1, "update": 1, "unchanged": 5, "skip": 1},
    "plan_files": {"networks": "/staging/acme/plans/networks.yml"},
    "actions": [
        {"type": "networks", "name": "app-net", "action": "create"},
        {
            "type": "networks",
            "name": "db-net",
            "action": "update",
            "changes": {"mtu": {"from": 1450, "to": 1400}},
        },
        {"type": "networks", "name": "old-net", "action": "skip"},
    ],
}


@pytest.fixture(autouse=True)
def clouds(create_connection_without_db):
    for conn_id in ("openstack_default", "openstack_src", "openstack_dst"):
        create_connection_without_db(
            Connection(
                conn_id=conn_id,
                conn_type="openstack",
                host=f"https://{conn_id}.example:5000/v3",
                login="admin",
                password="pw",
                extra=json.dumps(
                    {"project_name": "acme", "project_domain_name": "Default", "user_domain_name": "Default"}
                ),
            )
        )


@pytest.fixture
def sdk_connection():
    with mock.patch.object(hook_module, "SDKConnection") as patched:
        patched.side_effect = lambda **kwargs: mock.Mock(
            name=kwargs["auth"]["auth_url"], auth_url=kwargs["auth"]["auth_url"]
        )
        yield patched


@pytest.fixture
def export_resources():
    with mock.patch.object(op_module, "export_resources", return_value=EXPORT_RESULT) as patched:
        yield patched


@pytest.fixture
def validate_data_dir():
    with mock.patch.object(op_module, "validate_data_dir", return_value=[]) as patched:
        yield patched


@pytest.fixture
def import_resources():
    with mock.patch.object(op_module, "import_resources", return_value=IMPORT_RESULT) as patched:
        yield patched


@pytest.fixture
def task_log(capfd):
    """Text the operators logged so far (Airflow 3 task loggers are structlog, printed to stdout)."""

    def _read() -> list[str]:
        out, err = capfd.readouterr()
        return (out + err).splitlines()

    return _read


def rendered(op, **params):
    """Render ``op``'s template fields the way a task run does (native objects, params in context)."""
    op.render_template_fields({"params": params})
    return op


def native_dag():
    return DAG(
        "operator_unit_test",
        schedule=None,
        render_template_as_native_obj=True,
        user_defined_macros={"staging": lambda tenant: f"/staging/{tenant}"},
    )


def test_operators_do_no_io_in_init(sdk_connection):
    op = OpenStackImportOperator(task_id="t", data_dir="/d", dst_conn_id="does_not_exist")

    assert "dst" not in vars(op) and "src" not in vars(op)
    sdk_connection.assert_not_called()


def test_export_calls_core_with_rendered_native_arguments(sdk_connection, export_resources):
    with native_dag():
        op = OpenStackExportOperator(
            task_id="export_networks",
            types="{{ params.types }}",
            filters="{{ params.filters }}",
            data_dir="{{ staging(params.tenant) }}",
            src_conn_id="{{ params.src }}",
        )
    rendered(op, types=["networks"], filters=FILTERS, tenant="acme", src="openstack_src")

    result = op.execute(context={})

    export_resources.assert_called_once_with(
        mock.ANY, "/staging/acme", types=["networks"], filters=FILTERS, stage_image_data=False
    )
    conn = export_resources.call_args.args[0]
    assert conn.auth_url == "https://openstack_src.example:5000/v3"
    assert result == EXPORT_RESULT
    json.dumps(result)


@pytest.mark.parametrize("types", [[], "[]", ()])
@pytest.mark.parametrize(
    "operator_class", [OpenStackExportOperator, OpenStackValidateOperator, OpenStackImportOperator]
)
def test_unselected_type_is_skipped_without_calling_the_cloud(
    sdk_connection, export_resources, validate_data_dir, import_resources, operator_class, types
):
    op = operator_class(task_id="t", types=types, data_dir="/staging/acme")

    with pytest.raises(AirflowSkipException, match="not selected"):
        op.execute(context={})

    for core in (export_resources, validate_data_dir, import_resources):
        core.assert_not_called()
    sdk_connection.assert_not_called()


def test_validate_uses_destination_and_returns_valid(sdk_connection, validate_data_dir):
    op = OpenStackValidateOperator(
        task_id="validate",
        types=None,
        filters=FILTERS,
        data_dir="/staging/acme",
        dst_conn_id="openstack_dst",
    )

    result = op.execute(context={})

    validate_data_dir.assert_called_once_with("/staging/acme", conn=mock.ANY, types=None, filters=FILTERS)
    assert validate_data_dir.call_args.kwargs["conn"].auth_url == "https://openstack_dst.example:5000/v3"
    assert result == {"data_dir": "/staging/acme", "valid": True, "types": None}


def test_validate_fails_without_retry_and_logs_every_error_on_its_own_line(
    sdk_connection, validate_data_dir, task_log
):
    errors = [
        "networks.yml: resources[0] (networks 'a'): params.mtu: must be an integer",
        "subnets.yml: resources[2] (subnets 'b'): params.network: network 'zzz' not found",
        "routers.yml: resources[1] (routers 'c'): params.name: duplicate",
    ]
    validate_data_dir.return_value = errors
    op = OpenStackValidateOperator(task_id="validate", data_dir="/staging/acme", dst_conn_id="openstack_dst")

    task_log()  # discard earlier output
    with pytest.raises(AirflowFailException, match="3 error"):
        op.execute(context={})

    error_lines = [line for line in task_log() if "[error" in line]
    assert len(error_lines) == len(errors)
    for line, error in zip(error_lines, errors):
        assert error in line


def test_import_logs_plan_lines_and_returns_counts_without_actions(
    sdk_connection, import_resources, task_log
):
    with native_dag():
        op = OpenStackImportOperator(
            task_id="import_networks",
            types="{{ params.types }}",
            filters="{{ params.filters }}",
            plan_only="{{ params.dry_run }}",
            data_dir="/staging/acme",
            dst_conn_id="openstack_dst",
        )
    rendered(op, types=["networks"], filters=FILTERS, dry_run=True)

    task_log()
    result = op.execute(context={})

    import_resources.assert_called_once_with(
        mock.ANY,
        "/staging/acme",
        types=["networks"],
        filters=FILTERS,
        dry_run=True,
        src_conn=None,
        options=None,
        concurrency=8,
    )
    assert result == {
        "dry_run": True,
        "counts": {"create": 1, "update": 1, "unchanged": 5, "skip": 1},
        "plan_files": {"networks": "/staging/acme/plans/networks.yml"},
    }
    info_lines = [line for line in task_log() if "[info" in line and "OpenStackImportOperator]" in line]
    assert len(info_lines) == 4  # three actions that are not "unchanged", then the counts
    assert "would create networks 'app-net'" in info_lines[0]
    assert 'would update networks \'db-net\': {"mtu": {"from": 1450, "to": 1400}}' in info_lines[1]
    assert "would skip networks 'old-net'" in info_lines[2]
    assert "Import plan (dry run): {'create': 1, 'update': 1, 'unchanged': 5, 'skip': 1}" in info_lines[3]


@pytest.mark.parametrize(
    ("types", "filters", "dry_run", "expected"),
    [
        pytest.param(
            "['networks', 'subnets']",
            "{'networks': ['a']}",
            "False",
            (["networks", "subnets"], {"networks": ["a"]}, False),
            id="python-repr-strings",
        ),
        pytest.param(
            '["networks"]',
            '{"networks": [{"regex": "^a"}]}',
            "true",
            (["networks"], {"networks": [{"regex": "^a"}]}, True),
            id="json-strings",
        ),
        pytest.param("networks, subnets", "", False, (["networks", "subnets"], None, False), id="comma-list"),
        pytest.param(None, None, True, (None, None, True), id="none-means-all"),
    ],
)
def test_import_accepts_string_renderings(
    sdk_connection, import_resources, types, filters, dry_run, expected
):
    op = OpenStackImportOperator(task_id="t", types=types, filters=filters, plan_only=dry_run, data_dir="/d")

    op.execute(context={})

    kwargs = import_resources.call_args.kwargs
    assert (kwargs["types"], kwargs["filters"], kwargs["dry_run"]) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"types": 5}, "types must be a list"),
        ({"filters": ["networks"]}, "filters must be a mapping"),
        ({"plan_only": "maybe"}, "plan_only must be a boolean"),
        ({"types": [1]}, "types must be a list of resource type keys"),
    ],
)
def test_import_rejects_badly_shaped_arguments(sdk_connection, import_resources, kwargs, message):
    op = OpenStackImportOperator(task_id="t", data_dir="/d", **kwargs)

    with pytest.raises(AirflowFailException, match=message):
        op.execute(context={})
    import_resources.assert_not_called()


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        pytest.param(CloudError("cloud admin@acme at https://x refused the credentials"), True, id="cloud"),
        pytest.param(ApplyError(["networks 'a': create failed: 409"]), True, id="apply"),
        pytest.param(
            ValidationError(["subnets.yml: resources[0]: params.cidr: bad"]), False, id="validation"
        ),
        pytest.param(DataError("unsupported format", file="networks.yml"), False, id="data"),
        pytest.param(OsMigrateError("something else"), False, id="base"),
    ],
)
@pytest.mark.parametrize(
    ("operator_class", "core_name"),
    [
        (OpenStackExportOperator, "export_resources"),
        (OpenStackValidateOperator, "validate_data_dir"),
        (OpenStackImportOperator, "import_resources"),
    ],
)
def test_core_errors_become_airflow_errors_with_the_core_message(
    sdk_connection, operator_class, core_name, error, retried
):
    op = operator_class(task_id="t", data_dir="/d")

    with (
        mock.patch.object(op_module, core_name, side_effect=error),
        pytest.raises(AirflowException) as excinfo,
    ):
        op.execute(context={})

    assert str(excinfo.value) == str(error)
    assert excinfo.value.__cause__ is error
    assert isinstance(excinfo.value, AirflowFailException) is not retried


def test_unknown_connection_fails_without_retry_before_core_call(export_resources):
    op = OpenStackExportOperator(task_id="t", data_dir="/d", src_conn_id="no_such_cloud")

    with pytest.raises(AirflowFailException, match="The conn_id `no_such_cloud` isn't defined: define it"):
        op.execute(context={})
    export_resources.assert_not_called()


def test_import_passes_quota_mode_and_the_password_variable_without_rendering_it(
    sdk_connection, import_resources, task_log, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_VAR_OSM_USER_PASSWORD", "initial-Pa55")
    with native_dag():
        op = OpenStackImportOperator(
            task_id="import_users",
            types=["users"],
            quota_mode="{{ params.quota_mode }}",
            user_password_variable="osm_user_password",
            data_dir="/staging/admin",
            dst_conn_id="openstack_dst",
        )
    rendered(op, quota_mode="raise")
    op.execute(context={})
    assert "initial-Pa55" not in repr({f: getattr(op, f) for f in op.template_fields})
    assert import_resources.call_args.kwargs["options"] == {
        "quota_mode": "raise",
        "user_password": "initial-Pa55",
    }
    assert not any("initial-Pa55" in line for line in task_log())


def test_import_fails_clearly_when_the_password_variable_is_missing(sdk_connection, import_resources):
    with native_dag():
        op = OpenStackImportOperator(
            task_id="import_users",
            types=["users"],
            user_password_variable="osm_no_such_variable",
            data_dir="/staging/admin",
            dst_conn_id="openstack_dst",
        )
    rendered(op)
    with pytest.raises(AirflowFailException, match="Variable 'osm_no_such_variable' is not set"):
        op.execute(context={})
    import_resources.assert_not_called()
