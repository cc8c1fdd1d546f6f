"""Where each catalogue tool lives on the command line: `sanctum-mcp NOUN [SUB-NOUN] VERB`.

The path is derived from the tool's group and name (list_agents -> `agents list`,
create_tool_instance -> `tools instances create`), so a new tool gets its command without an entry
here; VERBS holds the few names where the derived verb reads badly. This module is the one place
that knows the shape of a command (its path, its positional arguments, its flag names): the
command builder (registry_cli.py) and the CLI's wording of messages (wording.py) both ask it.
Nothing here imports the catalogue, so the top-level `--help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sanctum_mcp.catalogue.base import ToolSpec

# Catalogue group -> the noun people type, with the help line `sanctum-mcp --help` shows.
# A group missing here still gets a noun (its name in lower case).
NOUNS: dict[str, tuple[str, str]] = {
    "Agents": ("agents", "agents: list, create, update, set status, delete"),
    "Configuration": ("config", "read and change settings (the same rules and masking as the MCP tools)"),
    "Tools": ("tools", "the tool catalog and tool instances (no verb: every MCP tool with the role it needs)"),
    "Plugins": ("plugins", "plugins: register, enable/disable, link, scan SMCP's plugins folder"),
    "Letta": ("letta", "Letta connections: status, add, use (activate), env (for Letta's clients), sync agents"),
    "Users": ("users", "users and API tokens"),
    "Jobs": ("jobs", "scheduled jobs: list, create, pause, resume, preview runs"),
    "Logs": ("logs", "the log and audit trail: query, add a note"),
    "Backups": ("backups", "backups: create, verify, restore, delete (no verb: list them as JSON)"),
}

# Words of a tool name that only say which noun it belongs to; what is left is the verb.
_NOUN_WORDS: dict[str, frozenset[str]] = {
    "agents": frozenset({"agent", "agents"}),
    "config": frozenset({"config"}),
    "tools": frozenset({"tool", "tools"}),
    "plugins": frozenset({"plugin", "plugins"}),
    "letta": frozenset({"letta", "server", "servers"}),
    "users": frozenset({"user", "users"}),
    "jobs": frozenset({"job", "jobs"}),
    "logs": frozenset({"log", "logs"}),
    "backups": frozenset({"backup", "backups"}),
}
# A second noun inside a group: `tools instances list`.
_SUB_NOUNS: dict[str, dict[str, frozenset[str]]] = {
    "tools": {"instances": frozenset({"instance", "instances"})},
    "config": {"environment": frozenset({"environment"})},
}

# Where the derived verb reads badly (the derived one in the comment).
VERBS: dict[str, str] = {
    "sync_smcp_plugins": "scan",         # sync-smcp
    "log_event": "add",                  # event
    "create_api_token": "create-token",  # create-api-token (`user revoke-token` already existed)
    "revoke_api_token": "revoke-token",  # revoke-api-token
}

# Second names of a command, for the word people reach for first (`letta use 2`). Help lists them
# beside the command's own name; messages use the own name.
ALIASES: dict[str, tuple[str, ...]] = {
    "activate_letta_server": ("use",),
}

# Positional arguments where more than the first required field reads naturally.
POSITIONALS: dict[str, tuple[str, ...]] = {
    "set_config": ("key", "value"),
    "rollback_config": ("key", "version"),
    "switch_environment": ("environment",),
    "set_agent_status": ("agent", "status"),
    # `config import FILE`: the document comes from a file (commands/config_transfer.py), --document as text.
    "import_config": (),
}

# Flag names that differ from `--field-name`: `confirm` is the usual `--yes`; `user` would clash with
# the global `--user` (who the CLI acts as).
FLAGS: dict[str, str] = {"confirm": "--yes", "user": "--for-user"}

# Options every command already has (cli.py's common options, and --json on registry commands).
RESERVED_FLAGS = frozenset({"--db", "--user", "--verbose", "-v", "--help", "-h", "--json"})


def is_secret(field: str) -> bool:
    """Fields whose value is a secret (stored encrypted): the CLI lets `-` read them from stdin, so
    they stay out of the shell history and `ps`."""
    return field in ("password", "token", "secret") or field.endswith(("_password", "_token", "_secret", "_key"))


class PathError(ValueError):
    """A tool whose command cannot be derived (tests/test_registry_cli.py fails on it)."""


def noun_of(group: str) -> str:
    return NOUNS[group][0] if group in NOUNS else group.lower().replace(" ", "-")


def cli_path(spec: ToolSpec) -> tuple[str, ...]:
    """The words after `sanctum-mcp` that run this tool, e.g. ('tools', 'instances', 'list')."""
    noun = noun_of(spec.group)
    words = spec.name.split("_")
    path = [noun]
    for sub, sub_words in _SUB_NOUNS.get(noun, {}).items():
        if sub_words & set(words):
            path.append(sub)
            words = [w for w in words if w not in sub_words]
            break
    verb = VERBS.get(spec.name) or "-".join(w for w in words if w not in _NOUN_WORDS.get(noun, frozenset()))
    if not verb:
        raise PathError(f"tool {spec.name!r}: no verb is left after its noun {noun!r}; add it to paths.VERBS")
    return (*path, verb)


def command_text(spec: ToolSpec) -> str:
    return "sanctum-mcp " + " ".join(cli_path(spec))


def positionals(spec: ToolSpec) -> tuple[str, ...]:
    """Fields given by position: POSITIONALS, else the first required field when it is a plain value
    (the main identifier: a name or an id)."""
    if spec.name in POSITIONALS:
        return POSITIONALS[spec.name]
    schema = spec.input_schema
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        return (name,) if prop.get("type") in ("string", "integer", "number") and "enum" not in prop else ()
    return ()


def flag(field: str) -> str:
    return FLAGS.get(field, "--" + field.replace("_", "-"))


def metavar(field: str) -> str:
    return field.upper()


def argument_text(spec: ToolSpec | None, field: str) -> str:
    """How the CLI names an input field of a tool: its METAVAR when positional, else its flag."""
    if spec is not None and field in positionals(spec):
        return metavar(field)
    return flag(field)


def field_kind(prop: dict[str, Any]) -> str:
    """The JSON type of an input property, as the CLI treats it (a JSON-text object is an object)."""
    from sanctum_mcp.catalogue.base import json_kind

    return json_kind(prop)
