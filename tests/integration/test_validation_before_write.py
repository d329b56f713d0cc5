"""A data dir with one mistake of each class the APIs refuse: one report, the destination untouched."""

from __future__ import annotations

import pytest

from os_migrate import ValidationError, import_resources
from tests.unit.mistakes import MISTAKES, write_data_dir


def snapshot(conn) -> dict[str, list]:
    """Every resource the tenant types write in the project of ``conn``: ``(id, name, revision
    or updated_at)`` per kind, sorted (reads only)."""
    net, pid = conn.network, conn.current_project_id

    def rows(objs, stamp="revision_number"):
        return sorted((o.id, o.name, getattr(o, stamp, None)) for o in objs)

    return {
        "networks": rows(net.networks(project_id=pid)),
        "subnets": rows(net.subnets(project_id=pid)),
        "routers": rows(net.routers(project_id=pid)),
        "ports": rows(net.ports(project_id=pid)),
        "security_groups": rows(net.security_groups(project_id=pid)),
        "security_group_rules": sorted(
            (r.id, r.security_group_id, r.revision_number) for r in net.security_group_rules(project_id=pid)
        ),
        "address_groups": rows(net.address_groups(project_id=pid)),
        "keypairs": sorted((k.name, k.fingerprint) for k in conn.compute.keypairs()),
        "server_groups": sorted((g.id, g.name) for g in conn.compute.server_groups()),
        "images": rows(conn.image.images(owner=pid), "updated_at"),
    }


def test_every_mistake_class_at_once_one_report_and_nothing_written(dst, tmp_path, report_figure):
    data_dir = write_data_dir(tmp_path / "data", MISTAKES)
    before = snapshot(dst)
    with pytest.raises(ValidationError) as info:
        import_resources(dst, data_dir)
    errors = info.value.errors
    missing = [m.id for m in MISTAKES if not any(m.expected in e for e in errors)]
    assert missing == [], "\n".join(errors)
    assert snapshot(dst) == before
    assert not list((tmp_path / "data").glob("*plan*")), "no plan written either"
    report_figure(
        f"validation before write: {len(MISTAKES)} mistake classes in one data dir, {len(errors)} errors in one report, 0 writes"
    )
