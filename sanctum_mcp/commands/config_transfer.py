"""`sanctum-mcp config export|import`: the export_config and import_config tools with a file and a
format, run through the catalogue as the local user like every other command.

    sanctum-mcp config export --format yaml > settings.yaml     # edit it, then:
    sanctum-mcp config import settings.yaml --dry-run            # the diff, nothing changed
    sanctum-mcp config import settings.yaml                      # one transaction
    lines=$(sanctum-mcp config export --format env) && eval "$lines"

Their flags are the tools' fields (so the generated commands' rules hold: registry_cli.py adopts
these parsers); what generation cannot say is here: export prints the document itself (not a
table), import reads FILE (or - for standard input), bounded before it is parsed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_commands(actions: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    export = actions.add_parser(
        "export", parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="print settings with their versions (json, yaml, or env lines for a shell)",
        description="Print stored settings with their versions, secrets masked (--reveal: admins, audited).\n"
                    "--format env prints SANCTUM_KEY='value' lines (the key in upper case, '.' and '-' as '_'),\n"
                    "quoted for the shell:  lines=$(sanctum-mcp config export --format env) && eval \"$lines\"",
    )
    export.add_argument("--format", choices=["json", "yaml", "env"], default=None, help="default: json")
    export.add_argument("--scope", choices=["system", "agent", "tool", "instance", "user"])
    export.add_argument("--target", help="agent or tool name (or id), instance id, user name (needs --scope)")
    export.add_argument("--category")
    export.add_argument("--environment", choices=["development", "staging", "production"],
                        help="one environment's values beside the general ones (env format: the values that "
                             "apply there; default the active environment)")
    export.add_argument("--keys", action="append", metavar="KEY[,KEY...]", help="only these keys (repeatable)")
    export.add_argument("--reveal", action=argparse.BooleanOptionalAction, default=None,
                        help="print secrets in clear (admins; audited)")
    export.add_argument("--json", action="store_true", help="print export_config's whole result as JSON")
    export.set_defaults(handler=_export)

    load = actions.add_parser(
        "import", parents=[common], help="apply an export (JSON or YAML) in one transaction, after its diff",
        description="Apply a file written by `sanctum-mcp config export` (JSON or YAML; - reads standard input) "
                    "in one transaction, each entry as `config set` would. Entries are checked against the "
                    "versions they carry: a conflict refuses the whole import and names the keys.",
    )
    load.add_argument("file", nargs="?", metavar="FILE", help="the export to apply, or - for standard input")
    load.add_argument("--document", help=argparse.SUPPRESS)  # the tool's field, as text (instead of FILE)
    load.add_argument("--dry-run", action=argparse.BooleanOptionalAction, default=None,
                      help="show the diff and change nothing")
    load.add_argument("--json", action="store_true", help="print the result as JSON")
    load.set_defaults(handler=_import)


def _run(db_path: Path, tool: str, raw: dict[str, Any]) -> Any:
    from sanctum_mcp.catalogue import all_tools
    from sanctum_mcp.commands.registry_cli import run_as_local_user

    return run_as_local_user(db_path, all_tools()[tool], {k: v for k, v in raw.items() if v is not None})


def _export(args: argparse.Namespace, db_path: Path) -> None:
    from sanctum_mcp.commands.registry_cli import _emit

    keys = [k for item in args.keys for k in item.split(",") if k] if args.keys else None
    result = _run(db_path, "export_config", {"format": args.format, "scope": args.scope, "target": args.target,
                                             "category": args.category, "keys": keys, "reveal": args.reveal,
                                             "environment": args.environment})
    _emit(result.model_dump_json(indent=2) if args.json else result.document)


def _import(args: argparse.Namespace, db_path: Path) -> None:
    from sanctum_mcp.commands.registry_cli import _emit
    from sanctum_mcp.commands.wording import cli_error
    from sanctum_mcp.domain.config.transfer import MAX_DOCUMENT

    if (args.file is None) == (args.document is None):
        raise cli_error("give the file to import (FILE, or - for standard input), e.g. "
                        "sanctum-mcp config import settings.yaml --dry-run")
    text = args.document if args.document is not None else _read(args.file, MAX_DOCUMENT)
    result = _run(db_path, "import_config", {"document": text, "dry_run": args.dry_run})
    if args.json:
        _emit(result.model_dump_json(indent=2))
        return
    _emit("\n".join([*result.changed, result.message]))


def _read(name: str, limit: int) -> str:
    """At most limit + 1 characters of FILE: a larger file is refused by the import's own bound
    without being read whole."""
    from sanctum_mcp.commands.wording import cli_error

    try:
        if name == "-":
            return sys.stdin.read(limit + 1)
        with open(name, encoding="utf-8") as handle:
            return handle.read(limit + 1)
    except UnicodeDecodeError:
        raise cli_error(f"{name} is not UTF-8 text (an export is JSON or YAML text). Nothing was changed.") from None
    except OSError as exc:
        raise cli_error(f"cannot read {name}: {exc.strerror or exc}. Nothing was changed.") from None
