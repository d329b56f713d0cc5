"""Pre-flight: every missing reference and short quota is reported at once, names included."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from os_migrate.exceptions import ValidationError
from os_migrate.serialization import write_resources
from os_migrate.workload import checks as pf
from os_migrate.workload.cloudops import SOURCE_ID_KEY
from os_migrate.workload.records import MIGRATION_PARAM_DEFAULTS, Server, workload_file

REF = {"name": "app-net", "project_name": "%auth%", "domain_name": "%auth%"}


def record(name="web-1", sid="srv-1", **params_over):
    params = {
        "name": name,
        "flavor": {"name": "m1.small"},
        "image": {"name": "cirros", "project_name": None, "domain_name": None},
        "key_name": "ops",
        "security_groups": [dict(REF, name="web")],
        "availability_zone": "nova",
        "ports": [
            {
                "network": REF,
                "mac_address": "fa:16:3e:00:00:01",
                "security_groups": [],
                "fixed_ips": [{"subnet": dict(REF, name="app-subnet"), "ip_address": "10.0.0.5"}],
            }
        ],
        "floating_ips": [
            {
                "floating_ip_address": "172.24.4.9",
                "fixed_ip_address": "10.0.0.5",
                "floating_network": {"name": "public", "project_name": None, "domain_name": None},
            }
        ],
        "volumes": [
            {"name": "data", "size": 10, "device": "/dev/vdb", "boot_index": None, "volume_type": "fast"}
        ],
    }
    params.update(params_over)
    return {
        "type": Server.type,
        "params": params,
        "_info": {"id": sid, "volumes": [{"id": f"{sid}-vol", "device": "/dev/vdb"}]},
        "_migration_params": dict(MIGRATION_PARAM_DEFAULTS),
    }


class Refs:
    """RefIndex stand-in over a set of ``(kind, name)`` that exist in the destination."""

    def __init__(self, existing, cidr="10.0.0.0/24"):
        self.existing = existing
        self.cidr = cidr

    def find(self, kind, ref, required=True):
        if (kind, ref["name"]) in self.existing:
            return SimpleNamespace(
                id=f"{kind}-{ref['name']}", name=ref["name"], network_id="network-app-net", cidr=self.cidr
            )
        return None


def clouds(
    *,
    flavors=("m1.small",),
    keypairs=("ops",),
    types=("fast",),
    servers=(),
    ports=(),
    fips=(),
    quota=None,
):
    q = {
        "instances": (10, 0),
        "cores": (20, 0),
        "ram": (10240, 0),
        "volumes": (10, 0),
        "gigabytes": (100, 0),
        "port": (50, 0),
        "floatingip": (5, 0),
    }
    q.update(quota or {})

    def quota_json(keys, used_key):
        return {k: {"limit": q[k][0], used_key: q[k][1], "reserved": 0} for k in keys}

    def get(url):
        if "os-quota-sets" in url and url.endswith("/detail"):
            return SimpleNamespace(json=lambda: {"quota_set": quota_json(pf.COMPUTE_QUOTAS, "in_use")})
        if "os-quota-sets" in url:
            return SimpleNamespace(json=lambda: {"quota_set": quota_json(pf.VOLUME_QUOTAS, "in_use")})
        if "quotas" in url:
            return SimpleNamespace(json=lambda: {"quota": quota_json(pf.NETWORK_QUOTAS, "used")})
        return SimpleNamespace(json=lambda: {"properties": {"disk_format": {"enum": ["raw"]}}})

    flavor_objs = [SimpleNamespace(name=f, vcpus=2, ram=2048, disk=20, id=f) for f in flavors]

    dst = SimpleNamespace(
        current_project_id="dst-p",
        authorize=lambda: None,
        compute=SimpleNamespace(
            flavors=lambda details: flavor_objs,
            find_flavor=lambda name, ignore_missing: None,
            keypairs=lambda: [SimpleNamespace(name=k) for k in keypairs],
            availability_zones=lambda: [SimpleNamespace(name="nova")],
            servers=lambda details: list(servers),
            get=get,
        ),
        network=SimpleNamespace(ports=lambda **kw: list(ports), ips=lambda **kw: list(fips), get=get),
        block_storage=SimpleNamespace(
            types=lambda: [SimpleNamespace(name=t) for t in types],
            volumes=lambda details: [],
            get=get,
            get_endpoint=lambda: "http://cinder",
        ),
        image=SimpleNamespace(get=get, get_endpoint=lambda: "http://glance"),
    )
    src = SimpleNamespace(
        authorize=lambda: None,
        block_storage=dst.block_storage,
        image=dst.image,
        compute=SimpleNamespace(get_server=lambda sid: SimpleNamespace(id=sid, status="ACTIVE")),
    )
    return src, dst


EVERYTHING = {
    ("image", "cirros"),
    ("security_group", "web"),
    ("network", "app-net"),
    ("subnet", "app-subnet"),
    ("network", "public"),
}


@pytest.fixture
def refs(monkeypatch):
    holder = SimpleNamespace(existing=set(EVERYTHING))
    monkeypatch.setattr(pf, "RefIndex", lambda conn: Refs(holder.existing))
    return holder


def run(tmp_path, records, src_dst, **kw):
    write_resources(workload_file(tmp_path), records)
    src, dst = src_dst
    return pf.preflight(src, dst, tmp_path, **kw)


def test_a_valid_wave_passes_and_counts_what_it_needs(tmp_path, refs):
    report = run(tmp_path, [record()], clouds())

    assert report["migrate"] == ["web-1"] and report["servers"] == ["web-1"]
    assert report["needs"] == {
        "instances": 1,
        "cores": 2,
        "ram": 2048,
        "port": 1,
        "floatingip": 1,
        "volumes": 1,
        "gigabytes": 10,
    }


def test_every_missing_resource_is_named_in_one_error(tmp_path, refs):
    refs.existing -= {("security_group", "web"), ("subnet", "app-subnet")}

    with pytest.raises(ValidationError) as excinfo:
        run(tmp_path, [record()], clouds(flavors=(), keypairs=(), types=()))

    errors = "\n".join(excinfo.value.errors)
    for needle in (
        "flavor 'm1.small' not found",
        "keypair 'ops' not found",
        "security group 'web' not found",
        "subnet 'app-subnet' not found",
        "volume type 'fast' not found",
    ):
        assert needle in errors, needle
    assert all(e.startswith("server 'web-1': ") for e in excinfo.value.errors)


def test_short_quota_is_reported_with_the_numbers(tmp_path, refs):
    with pytest.raises(
        ValidationError,
        match=r"destination quota cores: the wave needs 4, 3 of "
        r"20 left \(17 in use or reserved\)",
    ):
        run(tmp_path, [record(), record("web-2", "srv-2")], clouds(quota={"cores": (20, 17)}))


def test_a_name_taken_by_a_foreign_server_is_skipped_without_checks(tmp_path, refs):
    taken = SimpleNamespace(id="other", name="web-1", metadata={}, status="ACTIVE")

    report = run(tmp_path, [record()], clouds(flavors=(), servers=[taken]))

    assert report["migrate"] == []
    assert report["skip"][0]["server"] == "web-1" and "other" in report["skip"][0]["reason"]


def test_a_fixed_ip_outside_the_destination_subnet_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(pf, "RefIndex", lambda conn: Refs(set(EVERYTHING), cidr="10.9.0.0/24"))
    with pytest.raises(
        ValidationError, match=r"10.0.0.5 is not inside 10.9.0.0/24 of subnet .app-subnet. in the destination"
    ):
        run(tmp_path, [record()], clouds())


def test_a_fixed_ip_held_by_another_port_is_refused(tmp_path, refs):
    other = SimpleNamespace(
        id="port-x", mac_address="fa:99", device_id="vm-x", fixed_ips=[{"ip_address": "10.0.0.5"}]
    )

    with pytest.raises(ValidationError, match="fixed IP 10.0.0.5 is used by port port-x"):
        run(tmp_path, [record()], clouds(ports=[other]))


def test_existing_floating_ip_mode_needs_the_address_pre_allocated(tmp_path, refs):
    with pytest.raises(ValidationError, match="floating IP 172.24.4.9 is not pre-allocated"):
        run(tmp_path, [record()], clouds(), overrides={"floating_ip_mode": "existing"})

    free = SimpleNamespace(port_id=None)
    report = run(tmp_path, [record()], clouds(fips=[free]), overrides={"floating_ip_mode": "existing"})
    assert "floatingip" not in report["needs"]


def test_duplicate_source_names_are_refused(tmp_path, refs):
    with pytest.raises(ValidationError, match="'web-1' is used by several source servers"):
        run(tmp_path, [record(), record(sid="srv-2")], clouds())


def test_a_resumed_server_needs_no_new_instance(tmp_path, refs):
    ours = SimpleNamespace(id="dst-1", name="web-1", metadata={SOURCE_ID_KEY: "srv-1"}, status="BUILD")

    report = run(tmp_path, [record()], clouds(servers=[ours]))

    assert report["migrate"] == ["web-1"]
    assert "instances" not in report["needs"]


GROUP = {"name": "db-anti", "project_name": "%auth%", "domain_name": "%auth%"}


def test_the_server_group_must_exist_in_the_destination_by_name(tmp_path, refs):
    with pytest.raises(ValidationError) as excinfo:
        run(tmp_path, [record(server_group=GROUP)], clouds())
    assert excinfo.value.errors == [
        "server 'web-1': params.server_group: server group 'db-anti' not found in the destination"
    ]

    refs.existing.add(("server_group", "db-anti"))
    report = run(tmp_path, [record(server_group=GROUP)], clouds())
    assert report["migrate"] == ["web-1"]


def test_an_image_larger_than_the_flavor_root_disk_is_refused_before_the_stop(tmp_path, monkeypatch):
    class BigImage(Refs):
        def find(self, kind, ref, required=True):
            found = super().find(kind, ref, required)
            if kind == "image" and found is not None:
                found.size, found.min_disk = 21 * 1024**3, 0
            return found

    monkeypatch.setattr(pf, "RefIndex", lambda conn: BigImage(set(EVERYTHING)))
    with pytest.raises(ValidationError) as err:
        run(tmp_path, [record()], clouds())
    assert "params.flavor: flavor 'm1.small' has a 20 GiB root disk; image 'cirros' needs 21 GiB" in str(
        err.value
    )


# -- on_failure: skip ------------------------------------------------------------------------------


def test_skip_makes_a_server_with_problems_a_skip_entry_and_the_others_go_on(tmp_path, refs):
    bad = record("web-2", "srv-2", flavor={"name": "m1.gone"}, key_name="nobody")

    report = run(tmp_path, [record(), bad], clouds(), on_failure="skip")

    assert report["migrate"] == ["web-1"]
    [skip] = report["skip"]
    assert skip["server"] == "web-2" and skip["preflight"] is True
    # every problem of the server is in its reason
    assert "flavor 'm1.gone' not found" in skip["reason"] and "keypair 'nobody' not found" in skip["reason"]
    assert len(skip["problems"]) == 2
    assert pf.runnable(report) == ["web-1"]
    # what the skipped server would have needed is not counted
    assert report["needs"]["instances"] == 1 and report["needs"]["volumes"] == 1


def test_stop_raises_with_every_problem_as_before(tmp_path, refs):
    bad = record("web-2", "srv-2", flavor={"name": "m1.gone"})

    with pytest.raises(ValidationError) as excinfo:
        run(tmp_path, [record(), bad], clouds(), on_failure="stop")
    assert excinfo.value.errors == [
        "server 'web-2': params.flavor: flavor 'm1.gone' not found in the destination"
    ]


def test_skip_drops_servers_that_do_not_fit_the_quota_first_fit_in_record_order(tmp_path, refs):
    # each server needs 2 cores; 5 left: web-1 and web-2 fit, web-3 does not
    records = [record(), record("web-2", "srv-2"), record("web-3", "srv-3")]

    report = run(tmp_path, records, clouds(quota={"cores": (20, 15)}), on_failure="skip")

    assert report["migrate"] == ["web-1", "web-2"]
    assert [s["server"] for s in report["skip"]] == ["web-3"]
    assert report["skip"][0]["reason"] == (
        "pre-flight: destination quota cores: the server needs 2, 1 of 20 left after the servers "
        "before it (15 in use or reserved)"
    )
    assert report["needs"]["cores"] == 4 and pf.runnable(report) == ["web-1", "web-2"]


def test_a_name_taken_skip_stays_runnable_and_a_bad_policy_is_refused(tmp_path, refs):
    taken = SimpleNamespace(id="other", name="web-1", metadata={}, status="ACTIVE")
    report = run(tmp_path, [record()], clouds(servers=[taken]), on_failure="skip")
    assert pf.runnable(report) == ["web-1"]  # its steps skip it and say why

    with pytest.raises(ValidationError, match="on_failure: 'maybe' is not one of stop, skip"):
        run(tmp_path, [record()], clouds(), on_failure="maybe")
