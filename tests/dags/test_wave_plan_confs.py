"""The confs a wave plan expands into are accepted by the tenant DAGs' own Params."""

from __future__ import annotations

import copy

import pytest
from dagtools import load_dag

from os_migrate.waves import load_plan

PLAN = """\
version: 1
defaults:
  src_conn_id: "openstack_src_{tenant}"
  dst_conn_id: "openstack_dst_{tenant}"
waves:
  - name: saturday-a
    start: "2026-12-05T02:00:00+01:00"
    tenants:
      - tenant: tenant-a
        data_dir: /srv/staging/a
        servers: ["web-1", "regex:^db-", {regex: "^app-"}]
        volumes: ["shared"]
        pre_workload:
          resource_types: [networks, subnets, images]
          filters: {networks: ["app-net", {regex: "^db-"}], images: []}
        migration_params: {boot_disk_copy: true, floating_ip_mode: new, flavor_name: m1.large}
        flavor_map: {m1.small: m1.medium}
        create_dst_project: true
        dst_admin_conn_id: admin_dst
      - tenant: tenant.b
        pre_workload: false
        copy_method: conversion_host
        src_host_conn_id: ssh_src
        dst_host_conn_id: ssh_dst
      - tenant: c
"""


@pytest.fixture(scope="module")
def tenants(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "waves.yml"
    path.write_text(PLAN)
    return load_plan(path).waves[0].tenants


@pytest.mark.parametrize(
    ("dag_id", "conf_of"),
    [("os_migrate_pre_workload", "pre_workload_conf"), ("os_migrate_workloads", "workloads_conf")],
)
def test_confs_validate_against_the_dag_params(tenants, dag_id, conf_of):
    dag = load_dag(dag_id)
    confs = [c for c in (getattr(t, conf_of)() for t in tenants) if c is not None]
    assert len(confs) == (2 if dag_id == "os_migrate_pre_workload" else 3)
    for conf in confs:
        assert set(conf) <= set(dag.params), set(conf) - set(dag.params)  # check_conf refuses others
        params = copy.deepcopy(dag.params)
        params.update(conf)
        validated = params.validate()
        assert {k: validated[k] for k in conf} == conf
