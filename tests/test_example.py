"""`sanctum-mcp init --example`, then README's shell blocks as written (real subprocesses, a real
database file): "The first five minutes" and the Configuration section's worked example."""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO, server_env, snapshot

BIN = Path(sys.executable).parent
# Lines of README's blocks that set up or serve (they install, or run until stopped); every other
# line is run exactly as written.
NOT_RUN = (
    re.compile(r"^make( |$)"),
    re.compile(r"^python3 -m venv "),
    re.compile(r"^\. \.venv/bin/activate"),
    re.compile(r"^sanctum-mcp serve( |$)"),
)


def readme_block(heading: str) -> str:
    """The first ```sh block after `heading` in README.md."""
    readme = (REPO / "README.md").read_text()
    assert heading in readme, f"README has no {heading!r}"
    after = readme.split(heading, 1)[1]
    match = re.search(r"```sh\n(.*?)```", after, flags=re.S)
    assert match, f"no sh block after {heading!r}"
    return match.group(1)


def steps(block: str) -> list[tuple[str, list[str]]]:
    """(command line, expected output lines) for each line of a block. Expected output is written
    under a command as comment lines indented by three spaces (`#   text`)."""
    result: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("#   "):
            assert result, f"output line before any command: {line!r}"
            result[-1][1].append(line[4:])
        elif line.strip() and not line.startswith("#"):
            result.append((line, []))
    return result


def shell_env(tmp_path: Path, db_path: Path) -> dict[str, str]:
    env = server_env(db_path)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(tmp_path)  # nothing may reach the real ~/.sanctum
    return env


def run_block(block: str, tmp_path: Path, db_path: Path) -> list[str]:
    """Run every line as written, in bash, each with a bounded wait; return the lines not run."""
    env, skipped = shell_env(tmp_path, db_path), []
    for command, expected in steps(block):
        bare = command.split("#", 1)[0].strip()
        if any(pattern.search(bare) for pattern in NOT_RUN):
            skipped.append(bare)
            continue
        done = subprocess.run(["bash", "-c", command], env=env, cwd=str(tmp_path), capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"{command!r} failed ({done.returncode}): {done.stderr}"
        assert "Traceback" not in done.stderr
        if expected:
            assert done.stdout.splitlines() == expected, f"{command!r} printed:\n{done.stdout}"
    return skipped


def cli(db_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sanctum_mcp", "--db", str(db_path), *args], capture_output=True,
                          text=True, env=server_env(db_path), cwd=str(REPO.parent), timeout=120,
                          stdin=subprocess.DEVNULL)


def test_readme_worked_example_runs_as_written_after_init_example(tmp_path, db_path):
    done = subprocess.run(["bash", "-c", "sanctum-mcp init --example"], env=shell_env(tmp_path, db_path),
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    block = readme_block("**Worked example.**")
    assert [c for c, _ in steps(block)][:1] == ["sanctum-mcp config set smcp_port 9000"
                                                "                                   # system level (everyone)"]
    assert run_block(block, tmp_path, db_path) == []
    assert sum(len(expected) for _, expected in steps(block)) >= 3  # the block does show its output


def test_readme_first_five_minutes_runs_as_written(tmp_path, db_path):
    block = readme_block("## The first five minutes")
    skipped = run_block(block, tmp_path, db_path)
    assert any(line.startswith("sanctum-mcp serve") for line in skipped)  # shown, then connect a client
    ran = [c for c, _ in steps(block) if c.split("#", 1)[0].strip() not in skipped]
    assert ran[0].startswith("sanctum-mcp init --example") and len(ran) >= 5


def test_init_example_loads_a_small_sanctum(db_path):
    done = cli(db_path, "init", "--example")
    assert done.returncode == 0, done.stderr
    assert "Athena" in done.stdout and "athena-smcp" in done.stdout
    with sqlite3.connect(db_path) as conn:
        agents = conn.execute("SELECT name, description FROM agents ORDER BY id").fetchall()
        tools = dict(conn.execute("SELECT name, emoji FROM tools").fetchall())
        categories = {c for (c,) in conn.execute("SELECT DISTINCT category FROM tools")}
        instance = conn.execute("SELECT i.name, a.name FROM tool_instances i JOIN agents a ON a.id = i.agent_id "
                                "WHERE i.id = 3").fetchone()
        jobs = conn.execute("SELECT name FROM scheduled_jobs").fetchall()
        audited = conn.execute("SELECT COUNT(*) FROM logs WHERE action IN ('agent.create', 'tool.create', "
                               "'tool_instance.create', 'job.create')").fetchone()[0]
    assert [a for a, _ in agents] == ["Athena", "Monday", "Timbre"]
    assert agents[0][1] == "Sanctum Configuration Assistant"
    assert tools["System Settings"] == "⚙️" and tools["Network Configuration"] == "🌐"
    assert tools["Security Settings"] == "🔒"
    assert {"master", "smcp"} <= categories
    assert instance == ("athena-smcp", "Athena")
    assert len(jobs) == 1
    # Loaded through the tools, as the local user: every object has its audit row.
    assert audited == len(agents) + len(tools) + 4 + len(jobs)


def test_init_example_refuses_a_registry_that_holds_anything(db_path):
    assert cli(db_path, "agents", "create", "Zeus").returncode == 0
    before = snapshot(db_path)
    done = cli(db_path, "init", "--example")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "1 agent" in done.stderr and "--db" in done.stderr, done.stderr
    assert snapshot(db_path) == before


def test_init_example_twice_refuses_and_changes_nothing(db_path):
    assert cli(db_path, "init", "--example").returncode == 0
    before = snapshot(db_path)
    again = cli(db_path, "init", "--example")
    assert again.returncode == 1 and "already" in again.stderr
    assert snapshot(db_path) == before


def test_init_example_needs_the_role_that_the_tools_need(db_path):
    assert cli(db_path, "init").returncode == 0
    assert cli(db_path, "user", "add", "vera", "--role", "viewer").returncode == 0
    before = snapshot(db_path)
    done = cli(db_path, "--user", "vera", "init", "--example")
    assert done.returncode == 1 and "needs the 'user' role" in done.stderr, done.stderr
    # Refused at the first call, before anything was written; only the refusal's audit row is new.
    new = [line for line in snapshot(db_path) if line not in before]
    assert len(new) == 2 and "access.denied" in new[0] and new[1].startswith("""INSERT INTO "sqlite_sequence" VALUES('logs',"""), new


@pytest.mark.parametrize("line", ["sanctum-mcp agents list", "sanctum-mcp jobs pause nightly"])
def test_commands_named_in_the_issue_work_on_the_example(db_path, line):
    assert cli(db_path, "init", "--example").returncode == 0
    done = cli(db_path, *shlex.split(line)[1:])
    assert done.returncode == 0, done.stderr
