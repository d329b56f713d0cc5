"""``os-migrate``: the migration without Airflow, over the same core functions the operators call.

::

    os-migrate [--os-cloud NAME] [-v] [--debug] [-f text|json] COMMAND ...

    export     --src-cloud S --data-dir D [--types T,..] [--filter TYPE=NAME|TYPE=regex:RE]...
    validate   --dst-cloud C --data-dir D [--types] [--filter]... [--offline]
    plan       --dst-cloud C --data-dir D [--types] [--filter]...            (= import --dry-run)
    import     --dst-cloud C --data-dir D [--types] [--filter]... [--src-cloud S] [--dry-run] [--concurrency N]
    workloads export    --src-cloud S --data-dir D [--server NAME|regex:RE]...
    workloads preflight --src-cloud S --dst-cloud C --data-dir D (--server ...|--all-servers)
    workloads migrate   --src-cloud S --dst-cloud C --data-dir D (--server ...|--all-servers) [--dry-run]
                        [--volume NAME|regex:RE]...   (detached volumes too) [--report-dir DIR]
        both also: [--flavor-map SRC=DST]... [--flavor-map-file FILE.yml|.json]
                   [--on-preflight-failure stop|skip]
    report     FILE.json   print a migration report (written by the workloads DAG) as a table
    admin export   --src-cloud S --data-dir D --project NAME|regex:RE... [--types] [--filter]...
    admin validate --dst-cloud C --data-dir D [--types] [--filter]... [--offline]
    admin plan     --dst-cloud C --data-dir D [--types] [--filter]... [--quota-mode M]
    admin import   --dst-cloud C --data-dir D [--types] [--filter]... [--quota-mode copy|keep|raise]
                   [--user-password-env VAR] [--dry-run]
    import-osm DIR OUT  convert an OS Migrate 1.x data dir into ours
    wave validate PLAN  check a wave plan file (every error, with its line)
    wave show PLAN      its waves, schedules, windows and tenants (-f json: the runs' confs too)

``admin`` commands handle the admin types (domains, projects, users, groups, roles, role
assignments, flavors, quotas) with admin credentials; ``--types`` defaults to all of them. The
initial password of created users is read from the environment variable named by
``--user-password-env`` (never from the command line, which other users can see); without it,
users are created disabled.

Clouds are names of ``clouds.yaml`` entries, found as the OpenStack client finds them
(``OS_CLIENT_CONFIG_FILE``, ``./clouds.yaml``, ``~/.config/openstack/clouds.yaml``,
``/etc/openstack/clouds.yaml``). ``--os-cloud`` (default ``$OS_CLOUD``) stands in for the one cloud
a command needs when its ``--src-cloud``/``--dst-cloud`` is not given; workload commands that need
both clouds require both options.

Exit status: 0 success; 1 the migration failed (validation report, failed writes, failed
servers, unreachable cloud), printed on stderr as ``file:line: resources[i] (type 'name'):
field: message`` lines, without a traceback (``--debug`` adds it); 2 usage errors (bad options, unknown
type or cloud name, invalid regex). Results go to stdout (``-f json`` for a machine-readable
document). Passwords and tokens are never printed: clouds are named, not described.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

import yaml
from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc

from os_migrate import transfer
from os_migrate.apply import DEFAULT_CONCURRENCY, import_resources
from os_migrate.cloud import RequestCounter
from os_migrate.const import DEFAULT_API_TIMEOUT
from os_migrate.exceptions import ApplyError, OsMigrateError, ValidationError
from os_migrate.export import export_resources
from os_migrate.filters import parse_filter_item
from os_migrate.resources import ADMIN_TYPES, RESOURCE_TYPES
from os_migrate.resources.quota import QUOTA_MODES
from os_migrate.validation import validate_data_dir

PROG = "os-migrate"
#: Environment variable giving the default ``--data-dir``.
DATA_DIR_ENV = "OS_MIGRATE_DATA_DIR"

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

LOG = logging.getLogger(__name__)


class UsageError(Exception):
    """A command line that cannot run (exit status 2), found after argument parsing."""


# -- argument types ----------------------------------------------------------------------------


def name_or_regex(value: str) -> str | dict[str, str]:
    """``NAME`` -> ``"NAME"``; a regex item (``regex:P``, ``re:P``, ``/P/``, as
    :func:`os_migrate.filters.parse_filter_item` reads it) -> ``{"regex": P}``, checked to compile.

    :raises argparse.ArgumentTypeError: the pattern is not a valid regular expression.
    """
    parsed = parse_filter_item(value)
    if parsed is None or parsed[0] == "name":
        return value
    pattern = parsed[1]
    try:
        re.compile(pattern)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"invalid regular expression {pattern!r}: {e}") from e
    return {"regex": pattern}


def type_filter(value: str) -> tuple[str, str | dict[str, str]]:
    """Parse ``TYPE=NAME`` or ``TYPE=regex:PATTERN`` into ``(type, item)``.

    :raises argparse.ArgumentTypeError: no ``=``, an unknown type, or an invalid regex.
    """
    type_key, sep, item = value.partition("=")
    if not sep or not item:
        raise argparse.ArgumentTypeError(f"expected TYPE=NAME or TYPE=regex:PATTERN, got {value!r}")
    if type_key not in RESOURCE_TYPES:
        raise argparse.ArgumentTypeError(
            f"unknown resource type {type_key!r} (known: {', '.join(RESOURCE_TYPES)})"
        )
    return type_key, name_or_regex(item)


def type_list(value: str) -> list[str]:
    """Parse ``networks,subnets`` into a list of known type keys.

    :raises argparse.ArgumentTypeError: an unknown type key.
    """
    types = [t.strip() for t in value.split(",") if t.strip()]
    unknown = [t for t in types if t not in RESOURCE_TYPES]
    if unknown or not types:
        raise argparse.ArgumentTypeError(
            f"unknown resource type(s) {', '.join(unknown) or repr(value)} (known: {', '.join(RESOURCE_TYPES)})"
        )
    return types


def migration_param(value: str) -> tuple[str, Any]:
    """Parse ``KEY=VALUE`` (VALUE read as YAML: ``true``, ``3``, ``{a: b}``, or a plain string).

    :raises argparse.ArgumentTypeError: no ``=`` or unparsable YAML.
    """
    key, sep, raw = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
    try:
        return key, yaml.safe_load(raw) if raw else None
    except yaml.YAMLError as e:
        raise argparse.ArgumentTypeError(f"{key}: value is not valid YAML: {e}") from e


def flavor_pair(value: str) -> tuple[str, str]:
    """Parse ``SRC=DST`` (source flavor name = destination flavor name) of ``--flavor-map``.

    :raises argparse.ArgumentTypeError: no ``=``, or an empty name.
    """
    src, sep, dst = value.partition("=")
    if not sep or not src.strip() or not dst.strip():
        raise argparse.ArgumentTypeError(f"expected SOURCE_FLAVOR=DESTINATION_FLAVOR, got {value!r}")
    return src.strip(), dst.strip()


def flavor_map_arg(pairs: Sequence[tuple[str, str]] | None, path: str | None) -> dict[str, str] | None:
    """The run's flavor map: the mapping in ``path`` (YAML or JSON), then the ``--flavor-map``
    pairs (which win). None when neither is given.

    :raises UsageError: the file cannot be read, is not valid YAML, or is not a mapping of names.
    """
    out: dict[str, str] = {}
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                loaded = yaml.safe_load(f)
        except (OSError, yaml.YAMLError) as e:
            raise UsageError(f"--flavor-map-file {path}: {e}") from e
        if loaded is None:
            loaded = {}
        bad = (
            [
                f"{k!r}: {v!r}"
                for k, v in loaded.items()
                if not (isinstance(k, str) and k and isinstance(v, str) and v)
            ]
            if isinstance(loaded, dict)
            else [repr(loaded)]
        )
        if bad:
            raise UsageError(
                f"--flavor-map-file {path}: expected a mapping of source flavor name to destination "
                f"flavor name; bad: {', '.join(bad)}"
            )
        out.update(loaded)
    out.update(dict(pairs or ()))
    return out or None


def filters_arg(items: Sequence[tuple[str, Any]] | None) -> dict[str, list] | None:
    """``[(type, item), ...]`` from repeated ``--filter`` into the core's filters mapping."""
    if not items:
        return None
    out: dict[str, list] = {}
    for type_key, item in items:
        out.setdefault(type_key, []).append(item)
    return out


def types_arg(lists: Sequence[list[str]] | None) -> list[str] | None:
    """Repeated ``--types`` values merged (None when not given: every type)."""
    if not lists:
        return None
    return list(dict.fromkeys(t for types in lists for t in types))


# -- parser ------------------------------------------------------------------------------------


def _add_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--types",
        type=type_list,
        action="append",
        metavar="TYPE[,TYPE...]",
        help=f"resource types (repeatable; default: the tenant types, or the admin types for an admin command): {', '.join(RESOURCE_TYPES)}",
    )
    p.add_argument(
        "--filter",
        dest="filters",
        type=type_filter,
        action="append",
        metavar="TYPE=NAME|TYPE=regex:PATTERN",
        help="select resources of TYPE by exact name or by regular expression (re.search; anchor "
        "with ^ and $); repeatable, items of one type are OR-ed; a type without filter is all "
        "selected; a router filter selects its interfaces, a security group filter its rules",
    )


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return number


def _add_concurrency(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"most write requests in flight at once (default {DEFAULT_CONCURRENCY}; 1: one at a time)",
    )


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    default = os.environ.get(DATA_DIR_ENV)
    p.add_argument(
        "--data-dir",
        default=default,
        required=default is None,
        help=f"the data dir of YAML files (default ${DATA_DIR_ENV})",
    )


def _add_cloud(p: argparse.ArgumentParser, side: str, help_text: str) -> None:
    p.add_argument(f"--{side}-cloud", metavar="CLOUD", help=help_text)


def _add_servers(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument(
        "--server",
        dest="servers",
        type=name_or_regex,
        action="append",
        metavar="NAME|regex:PATTERN",
        help="server to select (repeatable)" + ("" if required else "; default every server"),
    )
    if required:
        p.add_argument("--all-servers", action="store_true", help="select every server of workloads.yml")
    p.add_argument(
        "--migration-param",
        dest="migration_params",
        type=migration_param,
        action="append",
        metavar="KEY=VALUE",
        help="override a _migration_params value of every selected server (repeatable)",
    )


def _add_flavor_map(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--flavor-map",
        dest="flavor_pairs",
        type=flavor_pair,
        action="append",
        metavar="SRC=DST",
        help="give servers of source flavor SRC the destination flavor DST (repeatable); a "
        "record's _migration_params.flavor_name wins; unmapped flavors keep their name",
    )
    p.add_argument(
        "--flavor-map-file",
        metavar="FILE",
        help="YAML or JSON file mapping source flavor names to destination flavor names "
        "(--flavor-map pairs win over it)",
    )


def _add_global_options(p: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options accepted before and after the command (``os-migrate -f json plan`` or
    ``os-migrate plan -f json``); after it, they default to "not given" so the value given before
    the command is kept."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    p.add_argument(
        "--os-cloud",
        default=default(os.environ.get("OS_CLOUD")),
        metavar="CLOUD",
        help="cloud of clouds.yaml used where a command needs one cloud and its --src-cloud or "
        "--dst-cloud is not given (default $OS_CLOUD)",
    )
    p.add_argument("-v", "--verbose", action="count", default=default(0), help="log more (-vv: debug)")
    p.add_argument("--debug", action="store_true", default=default(False), help="show tracebacks of errors")
    p.add_argument(
        "-f",
        "--format",
        choices=("text", "json"),
        default=default("text"),
        help="output format of the result",
    )
    p.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default=default("auto"),
        help="progress bars on stderr: auto (when stderr is a terminal), always, never",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``os-migrate`` (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Migrate an OpenStack tenant's content cloud to cloud through editable YAML.",
        epilog="Exit status: 0 ok, 1 migration or validation failed, 2 usage error.",
    )
    _add_global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "export", parents=[common], help="export the source project's resources to the data dir"
    )
    _add_cloud(p, "src", "source cloud (default --os-cloud)")
    _add_data_dir(p)
    _add_selection(p)
    p.add_argument(
        "--stage-image-data",
        action="store_true",
        help="also download verified image data into <data dir>/image_data/",
    )
    p.set_defaults(parser=p, func=cmd_export)

    p = sub.add_parser(
        "validate", parents=[common], help="check the data dir and its references against the destination"
    )
    _add_cloud(p, "dst", "destination cloud (default --os-cloud)")
    _add_data_dir(p)
    _add_selection(p)
    p.add_argument("--offline", action="store_true", help="check the files only, without a destination cloud")
    p.set_defaults(parser=p, func=cmd_validate)

    p = sub.add_parser(
        "plan", parents=[common], help="show what import would do (writes plans/<type>.yml, nothing else)"
    )
    _add_cloud(p, "dst", "destination cloud (default --os-cloud)")
    _add_data_dir(p)
    _add_selection(p)
    p.set_defaults(parser=p, func=cmd_import, dry_run=True, src_cloud=None)

    p = sub.add_parser(
        "import", parents=[common], help="validate, plan and create or update resources in the destination"
    )
    _add_cloud(p, "dst", "destination cloud (default --os-cloud)")
    _add_cloud(p, "src", "source cloud to stream image data from (not needed for staged image data)")
    _add_data_dir(p)
    _add_selection(p)
    p.add_argument("--dry-run", action="store_true", help="plan only: no write request is made")
    _add_concurrency(p)
    p.set_defaults(parser=p, func=cmd_import)

    w = sub.add_parser(
        "workloads", parents=[common], help="servers with their volumes, ports and floating IPs"
    )
    wsub = w.add_subparsers(dest="workload_command", metavar="COMMAND", required=True)
    p = wsub.add_parser(
        "export", parents=[common], help="export servers and detached volumes of the source project"
    )
    _add_cloud(p, "src", "source cloud (default --os-cloud)")
    _add_data_dir(p)
    _add_servers(p, required=False)
    p.set_defaults(parser=p, func=cmd_workloads_export)
    for name, func, text in (
        ("preflight", cmd_workloads_preflight, "check a wave against both clouds; change nothing"),
        ("migrate", cmd_workloads_migrate, "pre-flight, then migrate each selected server in turn"),
    ):
        p = wsub.add_parser(name, parents=[common], help=text)
        _add_cloud(p, "src", "source cloud (required)")
        _add_cloud(p, "dst", "destination cloud (required)")
        _add_data_dir(p)
        _add_servers(p, required=True)
        _add_flavor_map(p)
        p.add_argument(
            "--on-preflight-failure",
            choices=("stop", "skip"),
            default="stop",
            help="stop (default): any pre-flight problem stops the wave; skip: servers with problems "
            "are skipped and reported, the others go on",
        )
        if name == "migrate":
            p.add_argument("--dry-run", action="store_true", help="pre-flight only")
            p.add_argument(
                "--volume",
                dest="volumes",
                type=name_or_regex,
                action="append",
                metavar="NAME|regex:PATTERN",
                help="detached volume of detached_volumes.yml to migrate too (repeatable)",
            )
            p.add_argument(
                "--report-dir",
                metavar="DIR",
                help="write the run's report to DIR/workloads__<UTC time>.json and .html and print "
                "it as a table",
            )
        p.set_defaults(parser=p, func=func)

    a = sub.add_parser(
        "admin",
        parents=[common],
        help="identity, flavors and quotas of selected projects (admin credentials)",
    )
    asub = a.add_subparsers(dest="admin_command", metavar="COMMAND", required=True)
    for name, func, text in (
        ("export", cmd_export, "export the selected projects' admin content"),
        ("validate", cmd_validate, "check the admin data and its references against the destination"),
        ("plan", cmd_import, "show what admin import would do (nothing written)"),
        ("import", cmd_import, "validate, plan and create or update the admin content"),
    ):
        p = asub.add_parser(name, parents=[common], help=text)
        if name == "export":
            _add_cloud(p, "src", "source cloud, admin (default --os-cloud)")
            p.add_argument(
                "--project",
                dest="projects",
                type=name_or_regex,
                action="append",
                metavar="NAME|regex:PATTERN",
                help="project to migrate (repeatable; required unless --filter projects=... is given)",
            )
        else:
            _add_cloud(p, "dst", "destination cloud, admin (default --os-cloud)")
        _add_data_dir(p)
        _add_selection(p)
        if name == "validate":
            p.add_argument("--offline", action="store_true", help="check the files only")
        if name in ("plan", "import"):
            p.add_argument("--quota-mode", choices=QUOTA_MODES, help="quotas: copy (default), keep or raise")
            p.add_argument(
                "--user-password-env",
                metavar="VAR",
                help="environment variable holding the initial password of created users",
            )
        if name == "import":
            p.add_argument("--dry-run", action="store_true", help="plan only: no write request is made")
            _add_concurrency(p)
        p.set_defaults(parser=p, func=func, admin=True, stage_image_data=False, src_cloud=None)
        if name == "plan":
            p.set_defaults(dry_run=True)

    p = sub.add_parser("report", parents=[common], help="print a migration report (JSON) as a table")
    p.add_argument("report_file", metavar="FILE", help="a report written by the workloads DAG (<stem>.json)")
    p.set_defaults(parser=p, func=cmd_report)

    p = sub.add_parser(
        "import-osm",
        parents=[common],
        help="convert a data dir written by OS Migrate 1.x into this tool's format",
    )
    p.add_argument("osm_dir", metavar="DIR", help="OS Migrate data dir (networks.yml, subnets.yml, ...)")
    p.add_argument("out_dir", metavar="OUT", help="data dir to write (existing files are replaced)")
    p.add_argument(
        "--src-project",
        metavar="NAME",
        help="the exported project's name, whose references become %%auth%% (default: inferred)",
    )
    p.set_defaults(parser=p, func=cmd_import_osm)

    wv = sub.add_parser("wave", parents=[common], help="wave plans: scheduled migrations of many tenants")
    wvsub = wv.add_subparsers(dest="wave_command", metavar="COMMAND", required=True)
    for name, func, text in (
        ("validate", cmd_wave_validate, "check a wave plan file; every error with its line"),
        ("show", cmd_wave_show, "show the waves of a plan (-f json: with each tenant run's conf)"),
    ):
        p = wvsub.add_parser(name, parents=[common], help=text)
        p.add_argument("plan", metavar="PLAN", help="wave plan file (YAML)")
        p.set_defaults(parser=p, func=func)
    return parser


# -- clouds ------------------------------------------------------------------------------------


def cloud_name(args: argparse.Namespace, side: str, *, required: bool = True) -> str | None:
    """The cloud name for ``side`` (``src``/``dst``): its option, else ``--os-cloud``/``$OS_CLOUD``.

    :raises UsageError: no cloud given and ``required``.
    """
    name = getattr(args, f"{side}_cloud", None) or args.os_cloud
    if not name and required:
        raise UsageError(f"no cloud: give --{side}-cloud (or --os-cloud / OS_CLOUD)")
    return name


def connect(name: str):
    """An openstacksdk Connection for cloud ``name`` of clouds.yaml (as the OpenStack client
    loads it: ``OS_CLIENT_CONFIG_FILE`` and the standard locations).

    Every request has a timeout: the cloud's ``api_timeout``, else
    :data:`~os_migrate.const.DEFAULT_API_TIMEOUT` (no call hangs on a dead API).

    :raises UsageError: no cloud of that name, or its configuration is incomplete.
    """
    import openstack

    try:
        conn = openstack.connect(cloud=name)  # builds no session yet: no request is made
        if not conn.config.config.get("api_timeout"):
            conn = openstack.connect(cloud=name, api_timeout=DEFAULT_API_TIMEOUT)
        return conn
    except (sdk_exc.ConfigException, ksa_exc.MissingRequiredOptions) as e:
        where = os.environ.get("OS_CLIENT_CONFIG_FILE") or "clouds.yaml"
        raise UsageError(f"cloud {name!r} ({where}): {e}") from e


# -- output ------------------------------------------------------------------------------------


class Output:
    """Where results (stdout) and progress/error reports (stderr) go.

    :param fmt: ``text`` or ``json``.
    :param progress: draw progress bars on ``err``.
    """

    def __init__(
        self,
        fmt: str = "text",
        *,
        out: TextIO | None = None,
        err: TextIO | None = None,
        progress: bool = False,
    ):
        self.fmt = fmt
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.progress = progress

    def line(self, text: str = "") -> None:
        """A line of the text result (suppressed with ``-f json``)."""
        if self.fmt == "text":
            print(text, file=self.out)

    def result(self, doc: Any) -> None:
        """The final result document (printed with ``-f json`` only)."""
        if self.fmt == "json":
            print(json.dumps(doc, indent=2, sort_keys=True, default=str), file=self.out)

    def error(self, text: str) -> None:
        print(f"{PROG}: {text}", file=self.err)


def error_report(exc: BaseException) -> list[str]:
    """The lines printed for a core error: a headline, then one indented line per problem."""
    if isinstance(exc, ValidationError):
        return [f"validation failed with {len(exc.errors)} error(s):", *(f"  {e}" for e in exc.errors)]
    if isinstance(exc, ApplyError):
        return [f"{len(exc.errors)} resource(s) failed to import:", *(f"  {e}" for e in exc.errors)]
    return [f"error: {exc}"]


@contextmanager
def apply_progress(out: Output) -> Iterator[Any]:
    """A live counter of finished import actions, fed by the core's per-action log records.

    Yields the tqdm bar (None without progress bars)."""
    if not out.progress:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(desc="import", unit=" resource", file=out.err)

    class _Tick(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            # apply_plan logs "<action>: done" or "<action>: failed: <error>" once per resource
            if record.msg in ("%s: done", "%s: failed: %s"):
                bar.update(1)

    handler, apply_log = _Tick(), logging.getLogger("os_migrate.apply")
    level = apply_log.level
    apply_log.addHandler(handler)
    if apply_log.getEffectiveLevel() > logging.INFO:
        apply_log.setLevel(logging.INFO)
    try:
        yield bar
    finally:
        apply_log.removeHandler(handler)
        apply_log.setLevel(level)
        bar.close()


# -- commands ----------------------------------------------------------------------------------


def _types(args: argparse.Namespace) -> list[str] | None:
    """``--types``, or every admin type for an ``admin`` command."""
    return types_arg(args.types) or (list(ADMIN_TYPES) if getattr(args, "admin", False) else None)


def _filters(args: argparse.Namespace) -> dict[str, list] | None:
    """``--filter`` items, plus ``--project`` items of ``admin export`` as the projects filter."""
    filters = filters_arg(args.filters)
    projects = getattr(args, "projects", None)
    if projects:
        filters = filters or {}
        filters["projects"] = [*filters.get("projects", []), *projects]
    return filters


def _run_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """Import run options of ``admin plan|import`` (the password from the environment only)."""
    options: dict[str, Any] = {}
    if getattr(args, "quota_mode", None):
        options["quota_mode"] = args.quota_mode
    var = getattr(args, "user_password_env", None)
    if var:
        password = os.environ.get(var)
        if not password:
            raise UsageError(f"--user-password-env: environment variable {var} is not set or empty")
        options["user_password"] = password
    return options or None


def cmd_export(args: argparse.Namespace, out: Output) -> int:
    """``export`` and ``admin export``: :func:`os_migrate.export_resources` from the source cloud."""
    src = connect(cloud_name(args, "src"))  # type: ignore[arg-type]
    result = export_resources(
        src,
        args.data_dir,
        types=_types(args),
        filters=_filters(args),
        stage_image_data=args.stage_image_data,
    )
    for type_key, count in result["counts"].items():
        state = "changed" if result["changed"].get(type_key) else "unchanged"
        out.line(f"exported {count:4d} {type_key:<22} {result['files'][type_key]} ({state})")
    out.result(result)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace, out: Output) -> int:
    """``validate``: :func:`os_migrate.validate_data_dir`, against the destination unless offline."""
    if not args.offline and not cloud_name(args, "dst", required=False):
        raise UsageError("no cloud: give --dst-cloud (or --os-cloud / OS_CLOUD), or --offline")
    conn = None if args.offline else connect(cloud_name(args, "dst"))  # type: ignore[arg-type]
    errors = validate_data_dir(args.data_dir, conn=conn, types=_types(args), filters=_filters(args))
    out.result({"data_dir": args.data_dir, "valid": not errors, "errors": errors})
    if errors:
        raise ValidationError(errors)
    out.line(f"{args.data_dir}: valid{' (files only)' if args.offline else ''}")
    return EXIT_OK


def _changes_text(changes: dict | None) -> str:
    if not changes:
        return ""
    return ": " + ", ".join(f"{k} {v.get('from')!r} -> {v.get('to')!r}" for k, v in sorted(changes.items()))


def cmd_import(args: argparse.Namespace, out: Output) -> int:
    """``import`` and ``plan``: :func:`os_migrate.import_resources` (``plan`` = ``--dry-run``).

    The result counts the write requests made to the destination (0 for a plan or a no-op).
    """
    options = _run_options(args)
    dst = connect(cloud_name(args, "dst"))  # type: ignore[arg-type]
    src = connect(args.src_cloud) if args.src_cloud else None
    with RequestCounter(dst) as counter, apply_progress(out):
        result = import_resources(
            dst,
            args.data_dir,
            types=_types(args),
            filters=_filters(args),
            dry_run=args.dry_run,
            src_conn=src,
            options=options,
            concurrency=getattr(args, "concurrency", DEFAULT_CONCURRENCY),
        )
    result["requests"] = {"reads": counter.reads, "writes": counter.writes}
    verb = "would " if args.dry_run else ""
    for action in result["actions"]:
        if action["action"] != "skip":
            out.line(
                f"{verb}{action['action']} {action['type']} {action['name']!r}"
                f"{_changes_text(action.get('changes'))}"
            )
    counts = result["counts"]
    out.line(
        f"{'plan' if args.dry_run else 'import'}: {counts['create']} create, {counts['update']} update, "
        f"{counts['unchanged']} unchanged, {counts['skip']} skipped; "
        f"{counter.writes} write request(s) to the destination"
    )
    out.result(result)
    return EXIT_OK


def _servers(args: argparse.Namespace) -> list | None:
    if getattr(args, "all_servers", False):
        if args.servers:
            raise UsageError("give either --server or --all-servers, not both")
        return None
    if not args.servers:
        raise UsageError("select servers with --server NAME|regex:PATTERN (repeatable) or --all-servers")
    return list(args.servers)


def _overrides(args: argparse.Namespace) -> dict | None:
    return dict(args.migration_params) if args.migration_params else None


def _flavor_map(args: argparse.Namespace) -> dict[str, str] | None:
    return flavor_map_arg(getattr(args, "flavor_pairs", None), getattr(args, "flavor_map_file", None))


def _two_clouds(args: argparse.Namespace):
    if not args.src_cloud or not args.dst_cloud:
        raise UsageError("workload commands need both --src-cloud and --dst-cloud")
    return connect(args.src_cloud), connect(args.dst_cloud)


def cmd_workloads_export(args: argparse.Namespace, out: Output) -> int:
    """``workloads export``: :func:`os_migrate.workload.export_workloads`."""
    from os_migrate.workload import export_workloads

    src = connect(cloud_name(args, "src"))  # type: ignore[arg-type]
    result = export_workloads(src, args.data_dir, servers=list(args.servers) if args.servers else None)
    out.line(f"exported servers: {', '.join(result['servers']) or 'none'}")
    for stem, count in result["counts"].items():
        out.line(f"exported {count:4d} {stem:<22} {result['files'].get(stem, '')}")
    out.result(result)
    return EXIT_OK


def _preflight(args: argparse.Namespace, out: Output) -> tuple[Any, Any, dict]:
    """Connect both clouds and run :func:`os_migrate.workload.preflight` for the args' wave; print it.

    :returns: ``(src, dst, report)``.
    """
    from os_migrate.workload import preflight

    servers, overrides, flavor_map = _servers(args), _overrides(args), _flavor_map(args)  # usage first
    src, dst = _two_clouds(args)
    report = preflight(
        src,
        dst,
        args.data_dir,
        servers=servers,
        overrides=overrides,
        flavor_map=flavor_map,
        on_failure=args.on_preflight_failure,
    )
    _print_preflight(report, out)
    return src, dst, report


def _print_preflight(report: dict, out: Output) -> None:
    from os_migrate.workload.checks import flavor_line

    for server, choice in report.get("flavors", {}).items():
        out.line(flavor_line(server, choice))
    for warning in report.get("warnings", []):
        out.line(f"warning: {warning}")
    for skip in report.get("skip", []):
        out.line(f"skip {skip['server']}: {skip['reason']}")
    if not report.get("servers"):
        out.line("no server of workloads.yml matches the selection")
    out.line(f"pre-flight passed; migrate: {', '.join(report['migrate']) or 'none'}")
    if report.get("done"):
        out.line(f"already migrated: {', '.join(report['done'])}")
    if report.get("needs"):
        out.line(f"destination quota needed: {report['needs']}")


def cmd_workloads_preflight(args: argparse.Namespace, out: Output) -> int:
    """``workloads preflight``: :func:`os_migrate.workload.preflight` (reads only)."""
    _src, _dst, report = _preflight(args, out)
    out.result(report)
    return EXIT_OK


def run_wave(
    src,
    dst,
    data_dir: str,
    names: Sequence[str],
    *,
    overrides: dict | None,
    flavor_map: dict[str, str] | None = None,
    out: Output,
    migrate: Callable[..., dict] | None = None,
    done: Sequence[str] = (),
) -> list[dict | None]:
    """Migrate ``names`` one after the other, each with all its steps in order (what the DAG's
    mapped task group does per server); a failed server does not stop the others.

    ``done`` names the servers pre-flight found migrated by an earlier run (printed as such).

    :returns: one finalize result per server, ``None`` for a failed one (its error printed).
    """
    from tqdm import tqdm

    if migrate is None:
        from os_migrate.workload import migrate_server

        migrate = migrate_server

    results: list[dict | None] = []
    for name in tqdm(names, desc="servers", unit=" server", file=out.err, disable=not out.progress):
        try:
            result = migrate(src, dst, data_dir, name, overrides=overrides, flavor_map=flavor_map)
        except (OsMigrateError, sdk_exc.SDKException, ksa_exc.ClientException) as e:
            for line in error_report(e):
                out.error(f"{name}: {line}")
            results.append(None)
            continue
        reason = f" ({result['reason']})" if result.get("reason") else ""
        outcome = result.get("result")
        if outcome == "migrated" and name in done:
            outcome = "already migrated, nothing to do"
        out.line(f"{name}: {outcome}{reason}")
        results.append(result)
    return results


def cmd_workloads_migrate(args: argparse.Namespace, out: Output) -> int:
    """``workloads migrate``: pre-flight, then each server's steps in order; exit 1 if one failed."""
    from os_migrate.workload import summarize_workloads
    from os_migrate.workload.checks import runnable

    src, dst, report = _preflight(args, out)
    overrides, flavor_map = _overrides(args), _flavor_map(args)
    if args.dry_run:
        out.line("dry run: no server migrated")
        out.result({"preflight": report, "dry_run": True})
        return EXIT_OK
    report["run"] = runnable(report)
    results = run_wave(
        src,
        dst,
        args.data_dir,
        report["run"],
        overrides=overrides,
        flavor_map=flavor_map,
        out=out,
        done=report.get("done", ()),
    )
    summary = summarize_workloads(results, preflight=report)
    volumes = run_volumes(src, dst, args.data_dir, args.volumes, overrides=overrides, out=out)
    out.line(
        f"migrated: {', '.join(summary['migrated']) or 'none'}; "
        f"already migrated: {', '.join(summary['already_done']) or 'none'}; "
        f"skipped: {', '.join(s['server'] for s in summary['skipped']) or 'none'}; "
        f"failed: {', '.join(summary['failed']) or 'none'}"
    )
    doc = {"preflight": report, "summary": summary, "results": results, "volumes": volumes}
    if args.report_dir:
        doc["report"] = _write_cli_report(args, report, results, summary, volumes, out)
    out.result(doc)
    failed_volumes = [v["volume"] for v in volumes if v.get("result") == "failed"]
    if summary["failed"]:
        out.error(
            f"{len(summary['failed'])} server(s) failed and were rolled back: {', '.join(summary['failed'])}"
        )
    if failed_volumes:
        out.error(f"{len(failed_volumes)} detached volume(s) failed: {', '.join(failed_volumes)}")
    return EXIT_FAILED if summary["failed"] or failed_volumes else EXIT_OK


def _write_cli_report(
    args: argparse.Namespace, preflight: dict, results: list, summary: dict, volumes: list, out: Output
) -> dict:
    """Write the report of a ``workloads migrate`` run (failed servers with the timings and errors
    their state files recorded); print its table. :returns: ``{"json", "html"}`` paths."""
    from datetime import UTC, datetime

    from os_migrate.report import build_report, format_table, safe_stem, write_report
    from os_migrate.workload.migrate import recorded_outcome

    servers = [r for r in results if r]
    for name in summary["failed"]:
        try:
            servers.append({**recorded_outcome(args.data_dir, name), "result": "failed"})
        except (OsMigrateError, OSError) as e:
            servers.append({"server": name, "result": "failed", "errors": [f"no state recorded: {e}"]})
    run_id = "cli-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    tenant = os.path.basename(os.path.normpath(args.data_dir))
    doc = build_report(tenant, None, run_id, None, preflight, servers, volumes)
    json_path, html_path = write_report(doc, args.report_dir, safe_stem("workloads", run_id))
    out.line(format_table(doc))
    out.line(f"report: {json_path} {html_path}")
    return {"json": str(json_path), "html": str(html_path)}


def run_volumes(
    src, dst, data_dir: str, selection: list | None, *, overrides: dict | None, out: Output
) -> list[dict]:
    """Migrate the detached volumes ``selection`` selects, one after the other; a failed one does
    not stop the others (its result is ``{"volume", "result": "failed", "error"}``)."""
    from os_migrate.workload.volumes import migrate_volume, select_volumes

    results = []
    for name in select_volumes(data_dir, selection):
        try:
            result = migrate_volume(src, dst, data_dir, name, overrides=overrides)
        except (OsMigrateError, sdk_exc.SDKException, ksa_exc.ClientException) as e:
            for line in error_report(e):
                out.error(f"volume {name}: {line}")
            results.append({"volume": name, "result": "failed", "error": str(e)})
            continue
        reason = f" ({result['reason']})" if result.get("reason") else ""
        out.line(f"volume {name}: {result['result']}{reason}")
        results.append(result)
    return results


def cmd_report(args: argparse.Namespace, out: Output) -> int:
    """``report FILE``: :func:`os_migrate.report.format_table` of a report; exit 1 if a server or
    volume of it failed."""
    from os_migrate.report import format_table, load_report

    report = load_report(args.report_file)
    out.line(format_table(report))
    out.result(report)
    return EXIT_FAILED if report.get("failed") else EXIT_OK


def cmd_import_osm(args: argparse.Namespace, out: Output) -> int:
    """``import-osm DIR OUT``: :func:`os_migrate.osm_format.convert_osm_dir`; exit 1 if anything
    could not be mapped (the converted files are written all the same)."""
    from os_migrate.osm_format import convert_osm_dir

    report = convert_osm_dir(args.osm_dir, args.out_dir, src_project=args.src_project)
    for type_key, count in report["counts"].items():
        out.line(f"converted {count:4d} {type_key:<22} {report['files'][type_key]}")
    for line in report["dropped"]:
        out.line(f"not mapped: {line}")
    out.result(report)
    if report["errors"]:
        raise ValidationError(report["errors"])
    return EXIT_OK


def cmd_wave_validate(args: argparse.Namespace, out: Output) -> int:
    """``wave validate PLAN``: :func:`os_migrate.waves.load_plan`; exit 1 listing every error."""
    from os_migrate.waves import load_plan

    errors: list[str] = []
    waves = tenants = 0
    for path in _plan_files(args.plan):
        try:
            plan = load_plan(path)
        except ValidationError as e:
            errors += e.errors
            continue
        waves += len(plan.waves)
        tenants += sum(len(w.tenants) for w in plan.waves)
    if errors:
        out.result({"plan": args.plan, "valid": False, "errors": errors})
        raise ValidationError(errors)
    out.result({"plan": args.plan, "valid": True, "errors": [], "waves": waves, "tenant_runs": tenants})
    out.line(f"{args.plan}: valid ({waves} wave(s), {tenants} tenant run(s))")
    return EXIT_OK


def _plan_files(path: str) -> list[Any]:
    """:func:`os_migrate.waves.plan_files`; a missing plan is a usage error (exit 2)."""
    from os_migrate.waves import plan_files

    try:
        return plan_files(path)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from e


def _selection_text(items: Sequence[Any]) -> str:
    """Filter items as one short string: ``web-1, regex:^db-``; ``(none)`` when empty."""
    texts = [f"regex:{i['regex']}" if isinstance(i, dict) else str(i) for i in items]
    return ", ".join(texts) if texts else "(none)"


def cmd_wave_show(args: argparse.Namespace, out: Output) -> int:
    """``wave show PLAN``: a table per wave (schedule, window, approval, policy, concurrency) and its
    tenants with their server selections; ``-f json``: :meth:`WavePlan.to_dict` (both confs per tenant)."""
    from os_migrate.waves import duration_text, load_plan

    files = _plan_files(args.plan)
    if len(files) != 1:
        raise UsageError(f"{args.plan}: wave show takes one plan file; this directory holds {len(files)}")
    plan = load_plan(files[0])
    out.result(plan.to_dict())
    for wave in plan.waves:
        if wave.end is not None:
            window = f"until {wave.end.isoformat()}"
        elif wave.window is not None:
            window = f"{duration_text(wave.window)} from the start of each run"
        else:
            window = "no end"
        out.line(f"wave {wave.name} (DAG {wave.dag_id})")
        out.line(f"  schedule     {wave.schedule_text()}")
        out.line(f"  window       {window}")
        out.line(f"  approval     {'required' if wave.approval else 'no'}")
        policy = "skip failing servers" if wave.on_preflight_failure == "skip" else "stop the wave"
        out.line(f"  pre-flight   {wave.on_preflight_failure} ({policy})")
        out.line(
            f"  concurrency  {wave.servers_at_once} server(s) at once, "
            f"{wave.copies_per_host_pair} copies per host pair"
        )
        width = max(len("tenant"), *(len(t.tenant) for t in wave.tenants))
        out.line(f"  {'tenant':<{width}}  pre-workload  servers")
        for t in wave.tenants:
            pre = "no" if t.pre_workload is None else f"{len(t.pre_workload['resource_types'])} type(s)"
            volumes = f"; volumes: {_selection_text(t.volumes)}" if t.volumes else ""
            out.line(f"  {t.tenant:<{width}}  {pre:<12}  {_selection_text(t.servers)}{volumes}")
        out.line()
    return EXIT_OK


# -- main --------------------------------------------------------------------------------------


class _AboveBarsHandler(logging.StreamHandler):
    """Writes log lines above the progress bars (``tqdm.write``) instead of through them."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # pragma: no cover - logging's own convention
            self.handleError(record)


@contextmanager
def cli_logging(verbose: int, err: TextIO, *, progress: bool) -> Iterator[None]:
    """Log to ``err`` (WARNING; ``-v`` INFO; ``-vv`` DEBUG) for the duration of a command, then
    put the logging configuration back (``main`` may run inside another program or a test).
    With progress bars, log lines are written above the bars instead of through them."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = _AboveBarsHandler(err) if progress else logging.StreamHandler(err)
    handler.setLevel(level)  # loggers below the root may be set lower (the import progress counter)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    # The SDK and keystoneauth log request details at DEBUG; keep them out below -vvv.
    noisy = [logging.getLogger(n) for n in ("openstack", "keystoneauth", "urllib3", "stevedore")]
    saved_noisy = [n.level for n in noisy]
    root.handlers[:] = [handler]
    root.setLevel(level)
    for n in noisy:
        n.setLevel(logging.DEBUG if verbose > 2 else logging.WARNING)
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for n, lvl in zip(noisy, saved_noisy):
            n.setLevel(lvl)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``os-migrate`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Every error the core raises on purpose, SDK and keystoneauth errors and I/O errors are
    printed on ``err`` as a report (status 1); usage errors exit with status 2.
    """
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return int(e.code or 0)
    progress = args.progress == "always" or (args.progress == "auto" and err.isatty())
    output = Output(args.format, out=out, err=err, progress=progress)
    transfer.draw_progress_on(err if progress else None)
    try:
        with cli_logging(args.verbose, err, progress=progress):
            return int(args.func(args, output))
    except UsageError as e:
        getattr(args, "parser", parser).print_usage(err)
        output.error(f"error: {e}")
        return EXIT_USAGE
    except (OsMigrateError, sdk_exc.SDKException, ksa_exc.ClientException, OSError) as e:
        if args.debug:
            traceback.print_exc(file=err)
        lines = error_report(e)
        if not isinstance(e, OsMigrateError):
            lines = [f"error: {type(e).__name__}: {e}"]
        for line in lines:
            print(line if line.startswith("  ") else f"{PROG}: {line}", file=err)
        return EXIT_FAILED
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130
    finally:
        transfer.draw_progress_on(None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = [
    "build_parser",
    "connect",
    "error_report",
    "filters_arg",
    "main",
    "name_or_regex",
    "run_wave",
    "type_filter",
]
