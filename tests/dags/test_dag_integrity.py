"""Every DAG file imports cleanly and follows the project's DAG policies.

Policies for migration DAGs: tenant DAGs triggered by hand (``schedule=None``), wave DAGs on their
plan's schedule, never catching up (``catchup=False``), documented (``doc_md``), tagged, every task
retried at least twice and bounded by an ``execution_timeout``, and Params validated before a run
starts. The wave DAG file is parsed with the example plan ``examples/waves.yml``.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.exceptions import ParamValidationError

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
EXAMPLE_PLAN = DAGS_FOLDER.parent / "examples" / "waves.yml"
DAG_FILES = sorted(p for p in DAGS_FOLDER.rglob("*.py") if not p.name.startswith("_"))


@pytest.fixture(autouse=True, scope="module")
def _example_plan():
    mp = pytest.MonkeyPatch()
    mp.setenv("OS_MIGRATE_WAVE_PLAN", str(EXAMPLE_PLAN))
    yield
    mp.undo()


def _file_id(path: Path) -> str:
    return str(path.relative_to(DAGS_FOLDER))


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_dags_folder_has_dag_files():
    assert DAG_FILES, f"no DAG files in {DAGS_FOLDER}"


def test_dagbag_has_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=_file_id)
def test_dag_file_imports_and_defines_a_dag(dag_file):
    bag = DagBag(dag_folder=str(dag_file))

    assert bag.import_errors == {}
    assert bag.dags, f"{_file_id(dag_file)} defines no DAG"


def _all_dags():
    mp = pytest.MonkeyPatch()
    mp.setenv("OS_MIGRATE_WAVE_PLAN", str(EXAMPLE_PLAN))
    try:
        bag = DagBag(dag_folder=str(DAGS_FOLDER))
    finally:
        mp.undo()
    assert any(dag_id.startswith("os_migrate_wave_") for dag_id in bag.dags)
    return [pytest.param(dag, id=dag_id) for dag_id, dag in sorted(bag.dags.items())]


@pytest.mark.parametrize("dag", _all_dags())
class TestPolicies:
    def test_is_triggered_by_hand_or_by_its_wave_plan_without_catchup(self, dag):
        if dag.dag_id.startswith("os_migrate_wave_"):
            assert type(dag.timetable).__name__ != "NullTimetable"
        else:
            assert dag.schedule is None
            assert type(dag.timetable).__name__ == "NullTimetable"
        assert dag.catchup is False

    def test_is_documented_and_tagged(self, dag):
        assert dag.doc_md and dag.doc_md.strip()
        assert dag.tags

    def test_every_task_is_retried_at_least_twice(self, dag):
        assert dag.default_args.get("retries", 0) >= 2
        assert {t.task_id: t.retries for t in dag.tasks if t.retries < 2} == {}

    def test_params_have_descriptions(self, dag):
        assert {k: p.description for k, p in dag.params.items() if not p.description} == {}

    def test_default_params_are_valid(self, dag):
        copy.deepcopy(dag.params).validate()

    def test_params_are_titled_and_grouped_in_form_sections(self, dag):
        schemas = {k: p.schema for k, p in dag.params.items()}
        if not schemas:  # a wave DAG: everything comes from its plan
            return
        assert {k: s for k, s in schemas.items() if not s.get("title") or not s.get("section")} == {}
        assert 2 <= len({s["section"] for s in schemas.values()}) <= 4

    def test_empty_defaults_are_not_required_values_in_the_form(self, dag):
        """The UI form marks a Param required unless its type allows null, and treats an empty value
        of a required Param as missing: the Trigger button stays disabled. So an empty default must be
        ``None`` with a nullable type (never ``""``)."""
        for key, param in dag.params.items():
            if param.value in ("", None):
                assert param.value is None, key
                assert "null" in param.schema["type"], key

    def test_array_params_render_as_text_areas_or_pickers(self, dag):
        """The form shows an array as one string per line only when its items are untyped or strings
        (else a JSON editor), as a picker with ``enum``/``examples``."""
        for key, param in dag.params.items():
            schema = param.schema
            if "array" not in schema.get("type", ()):
                continue
            items = schema.get("items", {})
            assert items.get("type") in (None, "string") or "examples" in schema, key


def _validate(dag, conf):
    params = copy.deepcopy(dag.params)
    params.update(conf)
    return params.validate()


@pytest.fixture(scope="module")
def pre_workload(dagbag):
    return dagbag.dags["os_migrate_pre_workload"]  # get_dag() would query the metadata DB


@pytest.mark.parametrize(
    ("conf", "param", "reason"),
    [
        pytest.param({"tenant": "BAD NAME"}, "tenant", "does not match", id="tenant-with-space"),
        pytest.param({"tenant": "../etc"}, "tenant", "does not match", id="tenant-path-traversal"),
        pytest.param({"tenant": "x" * 65}, "tenant", "does not match", id="tenant-too-long"),
        pytest.param({"filters": {"networks": [{"regex": "(unclosed"}]}}, "filters", "regex", id="bad-regex"),
        pytest.param(
            {"filters": {"networks": "app-net"}}, "filters", "not of type 'array'", id="filter-not-a-list"
        ),
        pytest.param(
            {"filters": {"networks": [{"glob": "app-*"}]}},
            "filters",
            "oneOf|not valid",
            id="filter-unknown-key",
        ),
        pytest.param({"filters": {"servers": ["vm1"]}}, "filters", "servers", id="filter-unknown-type"),
        pytest.param(
            {"resource_types": ["networks", "servers"]}, "resource_types", "servers", id="unknown-type"
        ),
        pytest.param({"resource_types": []}, "resource_types", "short|non-empty", id="no-resource-type"),
        pytest.param({"dry_run": "yes"}, "dry_run", "boolean", id="dry-run-not-boolean"),
    ],
)
def test_pre_workload_rejects_bad_conf(pre_workload, conf, param, reason):
    with pytest.raises(ParamValidationError, match=f"param {param}:") as excinfo:
        _validate(pre_workload, conf)
    assert re.search(reason, str(excinfo.value)), str(excinfo.value)


def test_pre_workload_accepts_regexes_written_as_strings(pre_workload):
    """The form's JSON editor and the REST API both accept the string and the object regex forms."""
    filters = {
        "networks": ["db-net", "regex:^app-", "re:^web-", "/-prod$/", {"regex": "^x"}],
        "keypairs": [""],
    }

    assert _validate(pre_workload, {"filters": filters})["filters"] == filters


def test_pre_workload_accepts_a_full_conf(pre_workload):
    conf = {
        "tenant": "acme.prod-1",
        "src_conn_id": "os_src",
        "dst_conn_id": "os_dst",
        "data_dir": "/srv/staging/acme",
        "resource_types": ["networks", "subnets"],
        "filters": {"networks": ["db-net", {"regex": "^app-"}], "subnets": []},
        "dry_run": True,
        "stage_image_data": True,
        "export": False,
        "create_dst_project": True,
        "dst_admin_conn_id": "os_dst_admin",
        "import_concurrency": 4,
    }

    validated = _validate(pre_workload, conf)

    assert {k: validated[k] for k in conf} == conf
    rest = {k: v for k, v in validated.items() if k not in conf}
    assert rest and all(k.endswith("_filter") and v is None for k, v in rest.items()), rest


@pytest.mark.parametrize("dag", _all_dags())
def test_every_task_has_an_execution_timeout_and_copies_the_long_one(dag):
    from os_migrate_airflow.operators.workload import COPY_EXECUTION_TIMEOUT, ServerCopyDisksOperator

    # an approval (HITL) waits for its answer up to response_timeout instead
    timeouts = {t.task_id: t.execution_timeout or getattr(t, "response_timeout", None) for t in dag.tasks}
    assert all(timeouts.values()), [t for t, v in timeouts.items() if not v]
    for task in dag.tasks:
        if isinstance(task, ServerCopyDisksOperator) or task.task_id.endswith("migrate_volume"):
            assert task.execution_timeout == COPY_EXECUTION_TIMEOUT, task.task_id
