"""Flavor mapping: which destination flavor a server gets, and that every step uses that one."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from os_migrate.exceptions import ValidationError
from os_migrate.serialization import write_resources
from os_migrate.workload import checks, disks, migrate
from os_migrate.workload.checks import flavor_line
from os_migrate.workload.records import Server, check_flavor_map, workload_file
from os_migrate.workload.store import load_server
from tests.unit.test_workload_preflight import EVERYTHING, Refs, clouds, record, run


@pytest.fixture
def refs(monkeypatch):
    """Every reference but the flavor resolves in the destination."""
    monkeypatch.setattr(checks, "RefIndex", lambda conn: Refs(set(EVERYTHING)))


SIZES = {
    "m1.small": SimpleNamespace(name="m1.small", id="f-small", vcpus=1, ram=512, disk=1),
    "m1.medium": SimpleNamespace(name="m1.medium", id="f-medium", vcpus=2, ram=2048, disk=20),
    "m1.large": SimpleNamespace(name="m1.large", id="f-large", vcpus=4, ram=8192, disk=40),
}


def server(flavor_name=None, flavor_map=None):
    rec = record()
    if flavor_name is not None:
        rec["_migration_params"]["flavor_name"] = flavor_name
    return Server(rec).with_flavor_map(flavor_map)


@pytest.mark.parametrize(
    ("flavor_name", "flavor_map", "expected", "field"),
    [
        pytest.param(None, None, "m1.small", "params.flavor", id="unmapped-keeps-its-name"),
        pytest.param(None, {"m1.tiny": "m1.large"}, "m1.small", "params.flavor", id="other-flavor-mapped"),
        pytest.param(None, {"m1.small": "m1.medium"}, "m1.medium", "flavor_map['m1.small']", id="run-map"),
        pytest.param(
            "m1.large",
            {"m1.small": "m1.medium"},
            "m1.large",
            "_migration_params.flavor_name",
            id="record-wins-over-run-map",
        ),
    ],
)
def test_the_destination_flavor_follows_record_then_run_map_then_source(
    flavor_name, flavor_map, expected, field
):
    s = server(flavor_name, flavor_map)

    assert (s.source_flavor_name, s.flavor_name, s.flavor_field) == ("m1.small", expected, field)


def test_run_overrides_keep_the_flavor_map_and_can_set_flavor_name_for_the_run():
    s = server(flavor_map={"m1.small": "m1.medium"})

    assert s.with_overrides({"data_copy": False}).flavor_name == "m1.medium"
    assert s.with_overrides({"flavor_name": "m1.large"}).flavor_name == "m1.large"


@pytest.mark.parametrize(
    ("flavor_map", "message"),
    [
        (["m1.small"], r"flavor_map: must be a mapping"),
        ({"m1.small": ""}, r"flavor_map\['m1.small'\]: source and destination flavor names"),
        ({"m1.small": 2}, r"flavor_map\['m1.small'\]"),
        ({"": "m1.large"}, r"flavor_map\[''\]"),
    ],
)
def test_a_bad_flavor_map_is_refused_naming_the_entry(flavor_map, message):
    with pytest.raises(ValidationError, match=message):
        check_flavor_map(flavor_map)


def test_a_flavor_name_that_is_not_a_string_fails_the_record_schema(tmp_path):
    rec = record()
    rec["_migration_params"]["flavor_name"] = 3
    write_resources(workload_file(tmp_path), [rec])

    with pytest.raises(ValidationError, match="flavor_name"):
        load_server(tmp_path, "web-1")


def sized_clouds(*names):
    src, dst = clouds(flavors=())
    dst.compute.flavors = lambda details: [SIZES[n] for n in names]
    return src, dst


def test_preflight_reports_the_mapped_flavor_and_counts_its_cores(tmp_path, refs):
    report = run(
        tmp_path,
        [record()],
        sized_clouds("m1.small", "m1.medium"),
        flavor_map={"m1.small": "m1.medium", "m1.unused": "m1.nothing"},
    )

    assert report["flavors"] == {
        "web-1": {
            "source": "m1.small",
            "destination": "m1.medium",
            "field": "flavor_map['m1.small']",
            "vcpus": 2,
            "ram": 2048,
            "disk": 20,
        }
    }
    assert (report["needs"]["cores"], report["needs"]["ram"]) == (2, 2048)
    assert flavor_line("web-1", report["flavors"]["web-1"]) == (
        "server 'web-1': flavor m1.small -> m1.medium (flavor_map['m1.small']; "
        "2 vCPU, 2048 MiB RAM, 20 GiB disk)"
    )


def test_preflight_says_an_unmapped_flavor_keeps_its_name(tmp_path, refs):
    report = run(tmp_path, [record()], sized_clouds("m1.small"))

    assert report["flavors"]["web-1"]["destination"] == "m1.small"
    assert (
        flavor_line("web-1", report["flavors"]["web-1"])
        == "server 'web-1': flavor m1.small (1 vCPU, 512 MiB RAM, 1 GiB disk)"
    )


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param(
            {"flavor_map": {"m1.small": "m1.huge"}},
            "server 'web-1': flavor_map['m1.small']: flavor 'm1.huge' not found in the destination",
            id="run-map",
        ),
        pytest.param(
            {"overrides": {"flavor_name": "m1.huge"}, "flavor_map": {"m1.small": "m1.medium"}},
            "server 'web-1': _migration_params.flavor_name: flavor 'm1.huge' not found in the destination",
            id="migration-param",
        ),
    ],
)
def test_a_mapping_to_a_missing_flavor_is_an_error_naming_where_it_came_from(tmp_path, refs, kwargs, error):
    with pytest.raises(ValidationError) as excinfo:
        run(tmp_path, [record()], sized_clouds("m1.small", "m1.medium"), **kwargs)

    assert excinfo.value.errors == [error]


def test_a_bad_run_map_fails_preflight_before_any_cloud_call(tmp_path, refs):
    src, dst = clouds()
    dst.authorize = src.authorize = lambda: pytest.fail("a cloud was called")

    with pytest.raises(ValidationError, match=r"flavor_map\['m1.small'\]"):
        run(tmp_path, [record()], (src, dst), flavor_map={"m1.small": None})


class FlavorCloud:
    """A destination whose ``compute.find_flavor`` knows :data:`SIZES` and records the names asked."""

    def __init__(self):
        self.asked: list[str] = []
        self.compute = SimpleNamespace(find_flavor=self.find_flavor)

    def find_flavor(self, name, ignore_missing=True):
        from openstack import exceptions

        self.asked.append(name)
        if name not in SIZES:
            raise exceptions.NotFoundException(f"no flavor {name}")
        return SIZES[name]


def test_disk_sizing_and_the_create_request_use_the_mapped_flavor(tmp_path, monkeypatch):
    rec = record(
        image={"name": "cirros", "project_name": None, "domain_name": None},
        volumes=[],
        ports=[],
        floating_ips=[],
    )
    rec["_migration_params"]["boot_disk_copy"] = True
    write_resources(workload_file(tmp_path), [rec])
    dst = FlavorCloud()

    m = migrate.ServerMigration(None, dst, tmp_path, "web-1", flavor_map={"m1.small": "m1.large"})

    assert disks.flavor_disk(dst, m.server) == 40
    assert m.disk_plan[0].spec.size == 40  # the boot volume is sized to the destination flavor
    monkeypatch.setattr(migrate, "block_device_mapping", lambda *a, **kw: [])
    monkeypatch.setattr(migrate, "destination_server_group_id", lambda refs, s: None)
    body = migrate.server_body(dst, m.server, refs=None, networks=[])
    assert body["flavor_id"] == "f-large"
    assert set(dst.asked) == {"m1.large"}


def test_the_create_request_names_the_field_of_a_missing_mapped_flavor(tmp_path):
    write_resources(workload_file(tmp_path), [record(volumes=[], ports=[], floating_ips=[])])
    s = load_server(tmp_path, "web-1", flavor_map={"m1.small": "m1.huge"})

    with pytest.raises(
        migrate.DestinationError, match=r"flavor_map\['m1.small'\]: flavor 'm1.huge' not found"
    ):
        migrate.server_body(FlavorCloud(), s, refs=None, networks=[])
