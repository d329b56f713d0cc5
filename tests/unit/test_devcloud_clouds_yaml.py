"""devcloud/dcadmin.py: both devclouds' entries share one clouds.yaml; a seed never drops the other's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

DCADMIN = Path(__file__).resolve().parents[2] / "devcloud" / "dcadmin.py"


def load_dcadmin():
    spec = importlib.util.spec_from_file_location("dcadmin_under_test", DCADMIN)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clouds(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["clouds"]


def test_seeds_of_both_instances_merge_into_one_clouds_yaml(tmp_path):
    path = tmp_path / "clouds.yaml"
    path.write_text(
        yaml.safe_dump({"clouds": {"elsewhere": {"auth": {"auth_url": "http://127.0.0.1:1/v3"}}}})
    )
    dcadmin = load_dcadmin()
    dcadmin.configure_instance(2)
    dcadmin.write_clouds_yaml(str(path))
    dcadmin.configure_instance(1)
    dcadmin.write_clouds_yaml(str(path))
    got = clouds(path)
    assert list(got) == [
        "devcloud-admin", "devcloud-src", "devcloud-dst",
        "devcloud2-admin", "devcloud2-src", "devcloud2-dst",
        "elsewhere",
    ]  # fmt: skip
    assert got["devcloud-src"]["auth"]["auth_url"] == "http://127.0.0.1:5000/v3"
    assert got["devcloud-src"]["region_name"] == "RegionOne"
    assert got["devcloud2-dst"]["auth"]["auth_url"] == "http://127.0.0.1:15000/v3"
    assert got["devcloud2-dst"]["region_name"] == "RegionTwo"
    assert got["devcloud2-dst"]["auth"]["username"] == "dst-member"
    assert got["elsewhere"] == {"auth": {"auth_url": "http://127.0.0.1:1/v3"}}
    assert path.stat().st_mode & 0o777 == 0o600
    # a second seed of cloud 2 rewrites its own entries only
    dcadmin.configure_instance(2)
    dcadmin.write_clouds_yaml(str(path))
    assert clouds(path) == got


def test_instance_2_settings_are_offset_and_distinct():
    dcadmin = load_dcadmin()
    dcadmin.configure_instance(1)
    one = {n: u for n, _, u in dcadmin.CATALOG}
    cidr1 = dcadmin.PUBLIC_CIDR
    dcadmin.configure_instance(2)
    two = {n: u for n, _, u in dcadmin.CATALOG}
    assert one["glance"] == "http://127.0.0.1:9292"
    assert two == {
        "glance": "http://127.0.0.1:19292",
        "placement": "http://127.0.0.1:18778",
        "nova": "http://127.0.0.1:18774/v2.1",
        "neutron": "http://127.0.0.1:19696",
        "cinderv3": "http://127.0.0.1:18776/v3/%(project_id)s",
    }
    assert (cidr1, dcadmin.PUBLIC_CIDR) == ("172.24.4.0/24", "172.24.5.0/24")
    assert dcadmin.REGION == "RegionTwo"
