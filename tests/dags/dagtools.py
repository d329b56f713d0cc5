"""Helpers shared by the DAG tests: load one DAG file, render a task as a run would."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

from airflow.dag_processing.dagbag import DagBag

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


def load_dag(dag_id: str):
    """Parse ``dags/<dag_id>.py`` alone; fails on any import error."""
    bag = DagBag(dag_folder=str(DAGS_DIR / f"{dag_id}.py"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def render(dag, task_id, **conf):
    """Render one task's template fields as a run with ``conf`` would (Params validated first)."""
    params = copy.deepcopy(dag.params)
    params.update(conf)
    task = copy.deepcopy(dag.get_task(task_id))
    ti = SimpleNamespace(xcom_pull=lambda **kwargs: None)  # no upstream results in a bare render
    task.render_template_fields({"params": params.validate(), "ti": ti}, jinja_env=dag.get_template_env())
    return task
