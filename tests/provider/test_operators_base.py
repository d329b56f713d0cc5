"""The operator family's base: conn ids, the retry-or-fail mapping, the parser of rendered params."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from os_migrate import exceptions as core_exceptions
from os_migrate.workload import errors as workload_errors
from os_migrate_airflow.operators.base import OsMigrateBaseOperator, core_errors, parse_param
from os_migrate_airflow.operators.openstack import (
    OpenStackExportOperator,
    OpenStackImportOperator,
    OpenStackValidateOperator,
)
from os_migrate_airflow.operators.workload import (
    ServerCopyDisksOperator,
    WorkloadExportOperator,
    WorkloadPreflightOperator,
)

#: Whether each core error class is worth a retry (the core's declaration, checked here).
RETRYABLE = {
    "OsMigrateError": False,
    "DataError": False,
    "DataVersionMismatch": False,
    "ValidationError": False,
    "ReferenceNotFound": False,
    "AmbiguousReference": False,
    "ConflictError": False,
    "CloudError": True,
    "ApplyError": True,
    "DataDirBusy": False,
    "WorkloadError": False,
    "SourceStateError": False,
    "CopyError": True,
    "SourceDiskUnreadable": False,
    "DestinationError": True,
    "MigrationFailed": False,
}


def _core_error_classes():
    found = {}
    for module in (core_exceptions, workload_errors):
        for name, obj in vars(module).items():
            if isinstance(obj, type) and issubclass(obj, core_exceptions.OsMigrateError):
                found[name] = obj
    return found


def _instance(cls):
    if cls in (core_exceptions.ValidationError, core_exceptions.ApplyError):
        return cls(["one", "two"])
    if cls is core_exceptions.DataDirBusy:
        return cls("/d", {"run_id": "r"}, "/d/.os-migrate.lock")
    return cls("boom")


def test_every_core_error_class_declares_whether_it_is_retryable():
    assert set(_core_error_classes()) == set(RETRYABLE)


@pytest.mark.parametrize(("name", "retryable"), sorted(RETRYABLE.items()))
def test_core_errors_retry_or_fail_on_the_class_flag_keeping_message_and_cause(name, retryable):
    error = _instance(_core_error_classes()[name])
    assert error.retryable is retryable

    with pytest.raises(AirflowException) as excinfo, core_errors():
        raise error

    assert isinstance(excinfo.value, AirflowFailException) is not retryable
    assert str(excinfo.value) == str(error)
    assert excinfo.value.__cause__ is error


def test_other_exceptions_pass_through_unchanged():
    error = RuntimeError("SDK hiccup")
    with pytest.raises(RuntimeError) as excinfo, core_errors():
        raise error
    assert excinfo.value is error


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        pytest.param(True, bool, True, id="bool-native"),
        pytest.param("false", bool, False, id="bool-json"),
        pytest.param("True", bool, True, id="bool-python"),
        pytest.param(" FALSE ", bool, False, id="bool-any-case"),
        pytest.param("", bool, None, id="bool-empty"),
        pytest.param("3", int, 3, id="int-string"),
        pytest.param(["a"], list, ["a"], id="list-native"),
        pytest.param(("a",), list, ["a"], id="list-tuple"),
        pytest.param("['a', 'b']", list, ["a", "b"], id="list-python"),
        pytest.param('["a", {"regex": "^b"}]', list, ["a", {"regex": "^b"}], id="list-json"),
        pytest.param("a, b", list, ["a", "b"], id="list-comma"),
        pytest.param("a", list, ["a"], id="list-one-word"),
        pytest.param("[]", list, [], id="list-empty"),
        pytest.param(None, list, None, id="list-none"),
        pytest.param("None", list, None, id="list-none-string"),
        pytest.param({"a": [1]}, dict, {"a": [1]}, id="dict-native"),
        pytest.param("{'a': True}", dict, {"a": True}, id="dict-python"),
        pytest.param('{"a": true}', dict, {"a": True}, id="dict-json"),
        pytest.param("{}", dict, {}, id="dict-empty"),
        pytest.param("x", str, "x", id="str"),
    ],
)
def test_parse_param_accepts_native_and_rendered_strings(value, kind, expected):
    assert parse_param(value, "p", kind) == expected


def test_parse_param_default_replaces_empty_values():
    assert parse_param("", "p", bool, default=False) is False
    assert parse_param(None, "p", dict, default={}) == {}


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        ("maybe", bool, "p must be a boolean, got 'maybe'"),
        (1, bool, "p must be a boolean"),
        (True, int, "p must be an integer"),
        ("[1", dict, "p must be a mapping"),
        ("{'a': 1}", list, "p must be a list"),
        (5, list, "p must be a list"),
    ],
)
def test_parse_param_rejects_other_shapes_without_retry(value, kind, message):
    with pytest.raises(AirflowFailException, match=message):
        parse_param(value, "p", kind)


# -- conn ids ------------------------------------------------------------------------------------


@pytest.fixture
def clouds(fake_openstack_connections):
    fake_openstack_connections(("openstack_src", "openstack_dst", "cloud_a"), password="not-logged")


@pytest.mark.parametrize(
    ("operator_class", "src", "dst"),
    [
        (OpenStackExportOperator, "openstack_src", None),
        (OpenStackValidateOperator, None, "openstack_dst"),
        (OpenStackImportOperator, None, "openstack_dst"),
        (WorkloadExportOperator, "openstack_src", "openstack_dst"),
        (WorkloadPreflightOperator, "openstack_src", "openstack_dst"),
    ],
)
def test_every_operator_shares_the_base_and_its_conn_id_defaults(operator_class, src, dst):
    op = operator_class(task_id="t", data_dir="/d")

    assert isinstance(op, OsMigrateBaseOperator)
    assert (op.src_conn_id, op.dst_conn_id) == (src, dst)
    assert {"data_dir", "src_conn_id", "dst_conn_id"} <= set(op.template_fields)


@pytest.mark.usefixtures("clouds")
def test_src_and_dst_are_built_lazily_from_their_connections():
    op = ServerCopyDisksOperator(task_id="t", data_dir="/d", server_name="vm", src_conn_id="cloud_a")

    assert "src" not in vars(op)
    assert op.src == "https://cloud_a.example:5000/v3"
    assert op.dst == "https://openstack_dst.example:5000/v3"


@pytest.mark.usefixtures("clouds")
def test_a_side_the_operator_was_not_given_fails_without_retry():
    op = OpenStackValidateOperator(task_id="t", data_dir="/d")

    with pytest.raises(AirflowFailException, match="src_conn_id is not set"):
        _ = op.src
