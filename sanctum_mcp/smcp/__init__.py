"""sanctum-mcp as an SMCP plugin: `python -m sanctum_mcp.smcp --describe | <command> --flag value ...`.

plugin.py is the entry point (contract v1, generated from the tool catalogue), manifest.py builds
smcp_manifest.json, install.py writes the `cli.py` shim into SMCP's plugins folder. Nothing here
imports the `mcp` package: every SMCP call is a new process, and start-up is most of its cost.
"""
