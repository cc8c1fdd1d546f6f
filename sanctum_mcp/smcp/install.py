"""`sanctum-mcp smcp install`: write SMCP's plugin folder for sanctum-mcp.

SMCP runs `cli.py` with its own Python, where sanctum-mcp is usually not installed. The shim
therefore uses nothing but the standard library and re-executes the interpreter that ran the
install (the one that has sanctum-mcp) as
`python -P -m sanctum_mcp.smcp --user NAME [--allow-secrets] [--toolsets NAMES] -- <the same args>`.
`-P` keeps SMCP's working directory off sys.path, so a stray folder there cannot shadow the package.
The shim pins the registry user the plugin acts as, and whether secrets may pass through SMCP
(see smcp/plugin.py): these are the install's choices, not SMCP's environment's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sanctum_mcp.smcp.plugin import PLUGIN_NAME

SHIM_MARKER = "# sanctum-mcp SMCP shim"
# Who the plugin acts as when the install names nobody: a user of its own, never an admin, so that
# SMCP's clients (which need no credentials on loopback) cannot do what only admins may.
DEFAULT_SMCP_USER = "smcp"
DEFAULT_SMCP_ROLE = "user"

SHIM = '''#!/usr/bin/env python3
{marker} (written by `sanctum-mcp smcp install`; run that again to rewrite this file).
"""SMCP plugin {name!r}: the Sanctum registry's tools as SMCP commands.

SMCP may run this file with any Python 3. It re-executes the Python that has sanctum-mcp
installed, as `python -P -m sanctum_mcp.smcp --user USER [--allow-secrets] -- <arguments>`, which
follows SMCP's plugin contract. Every client of SMCP acts as USER.
"""
import json
import os
import sys

PYTHON = {python!r}
DATABASE = {database!r}  # None: $SANCTUM_MCP_DB, else sanctum-mcp's default
USER = {user!r}  # the registry user every SMCP call acts as
ALLOW_SECRETS = {allow_secrets!r}  # False: no secret or token passes through SMCP (it logs them)
TOOLSETS = {toolsets!r}  # None: every tool; else only these toolsets and profiles (comma list)

if DATABASE is not None:
    os.environ["SANCTUM_MCP_DB"] = DATABASE
# What SMCP itself is to this plugin: the plugins folder it found this file in, and the Python it
# runs plugins with (sync_smcp_plugins through SMCP scans that folder with that Python by default).
SMCP = ["--smcp-plugins-dir", os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        "--smcp-python", sys.executable]
PINNED = (["--user", USER] + (["--allow-secrets"] if ALLOW_SECRETS else [])
          + (["--toolsets", TOOLSETS] if TOOLSETS else []) + (SMCP if sys.executable else []) + ["--"])
try:
    os.execv(PYTHON, [PYTHON, "-P", "-m", "sanctum_mcp.smcp"] + PINNED + sys.argv[1:])
except OSError as exc:
    print(json.dumps({{
        "status": "error",
        "error": "cannot start sanctum-mcp's Python at %s (%s); run `sanctum-mcp smcp install` again"
                 % (PYTHON, exc.strerror),
        "error_type": "unavailable",
    }}))
    sys.exit(1)
'''


class InstallRefused(Exception):
    pass


def shim_text(*, python: str, database: Path | None, user: str, allow_secrets: bool,
              toolsets: str | None = None) -> str:
    return SHIM.format(marker=SHIM_MARKER, name=PLUGIN_NAME, python=python,
                       database=str(database) if database is not None else None, user=user,
                       allow_secrets=allow_secrets, toolsets=toolsets)


def install(plugins_dir: Path, *, user: str, allow_secrets: bool = False, python: str | None = None,
            database: Path | None = None, force: bool = False, toolsets: str | None = None) -> Path:
    """Write <plugins_dir>/sanctum/cli.py, acting as `user`, and return its path.

    `user` is not checked here (`sanctum-mcp smcp install` checks it in the database); the plugin
    refuses to run for a user that does not exist or is inactive. An existing cli.py that is not a
    sanctum-mcp shim is left alone unless force=True.
    """
    if not user:
        raise InstallRefused("name the registry user the plugin acts as (--user NAME).")
    if toolsets is not None:
        from sanctum_mcp.catalogue.toolsets import UnknownSelection, select

        try:
            select(toolsets=toolsets)  # refused now, not on SMCP's first call
        except UnknownSelection as exc:
            raise InstallRefused(f"--toolsets: {exc}") from None
    plugins_dir = plugins_dir.expanduser()
    if not plugins_dir.is_dir():
        raise InstallRefused(f"{plugins_dir} is not a folder; create it or give SMCP's plugins folder ($MCP_PLUGINS_DIR).")
    # The venv's python path as is (not resolved): resolving a venv's symlink would lose the venv.
    interpreter = python or sys.executable
    if not interpreter or not os.path.isabs(interpreter):
        raise InstallRefused("cannot tell which Python runs sanctum-mcp; pass an absolute path.")
    folder = plugins_dir / PLUGIN_NAME
    cli = folder / "cli.py"
    if cli.exists() and not force and SHIM_MARKER not in cli.read_text(encoding="utf-8", errors="replace"):
        raise InstallRefused(f"{cli} exists and was not written by sanctum-mcp; move it away or pass --force.")
    folder.mkdir(exist_ok=True)
    text = shim_text(python=interpreter, database=database.expanduser().resolve() if database else None,
                     user=user, allow_secrets=allow_secrets, toolsets=toolsets)
    tmp = cli.with_name("cli.py.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, cli)
    return cli
