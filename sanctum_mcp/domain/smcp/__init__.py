"""SMCP, Sanctum's plugin host, seen from the registry: its plugin contract (argv rendering, running a
plugin process, the describe payload), which interpreter may run plugins, the scan that registers the
plugins of a folder (sync_smcp_plugins), and the command a tool instance runs for a scheduled job.

Modules: contract, interpreter, models (the scan's report), folders (what a plugins folder holds),
sync (the scan's transaction), commands (a tool instance's SMCP command).
"""
