"""The benchmark report runs end to end (`benchmarks/run.py --quick`) and prints every row.

No timing is asserted here: figures on a shared machine are noise. What must hold: the run
completes (every benchmarked call answered without error, no lost update, which run.py turns into
its exit status) and the table has every P1..P6 row.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ROWS = [
    "P1 get_config (4 levels), in-memory",
    "P1 get_agent, in-memory",
    "P1 list_agents (page of 20), in-memory",
    "P1 (cause) client-side outputSchema check",
    "P1 get_config (4 levels), stdio",
    "P1 get_agent, stdio",
    "P1 list_agents (page of 20), stdio",
    "P1 get_config, stdio raw JSON-RPC (server only)",
    "P1 get_agent, stdio raw JSON-RPC (server only)",
    "P2 get_config (4 levels), 50,000 rows",
    "P2 list_agents (page of 20), 1,000 agents",
    "P2 (domain only) get_config, 50,000 rows",
    "P2 (domain only) list_agents, 1,000 agents",
    "P3 stdio cold start (spawn -> initialize)",
    "P4 Letta-style get_config (new HTTP session)",
    "P4 (cause) new session + tools/list, no call",
    "P4 get_config via SMCP plugin (process per call)",
    "P5 check-and-set set_config, 20 clients, own keys",
    "P5 check-and-set set_config, 20 clients, one key",
    "P5 lost updates (all runs)",
    "P6 query_logs, no filter, 50,000 rows",
    "P6 query_logs, worst filter: ",
    "P6 query_logs, text, no match",
    "P6 query_logs, text='needle' (9 % match)",
    "P4 Letta-style get_config, /mcp/x/assistant",
    "P7 tools/list, all (whole)",
    "P7 model-facing tokens, all (bytes/4)",
    "P7 model-facing tokens, assistant (bytes/4)",
    "P7 toolset config: whole / model-facing / tokens",
    "P8 console: System Settings page",
    "P8 console: settings save (one key)",
]


def test_quick_benchmark_report_prints_every_row():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANCTUM_MCP_")}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick"], capture_output=True,
                          text=True, timeout=900, env=env, cwd=str(REPO))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    for label in ROWS:
        assert any(line.startswith(label) for line in lines), f"no row {label!r} in:\n{done.stdout}"
    lost = next(line for line in lines if line.startswith("P5 lost updates"))
    assert re.search(r"\s0\s+of \d+ acknowledged writes", lost), lost
    table = [line for line in lines if re.match(r"P[1-7] ", line)]
    assert not any("nan" in line for line in table), done.stdout


def test_only_some_families_are_measured_when_asked():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANCTUM_MCP_")}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--only", "P7"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=str(REPO))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    measured = {line[:2] for line in done.stdout.splitlines() if re.match(r"P\d ", line)}
    assert measured == {"P7"}, done.stdout
    refused = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--only", "P9"],
                             capture_output=True, text=True, timeout=60, env=env, cwd=str(REPO))
    assert refused.returncode == 2 and "P1, P2" in refused.stderr and "Traceback" not in refused.stderr
