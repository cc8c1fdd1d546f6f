"""The dependency graph of every plugin: unmet dependencies, cycles, what enabling or disabling one
takes along, and the trees get_plugin shows."""

from __future__ import annotations

import sqlite3

from sanctum_mcp.domain.plugins.models import DependencyNode, DependentNode
from sanctum_mcp.domain.plugins.versions import satisfies
from sanctum_mcp.storage import plugins as sql


class Graph:
    """Every plugin and dependency edge, loaded in one read (registries hold tens of plugins)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.rows: dict[str, sqlite3.Row] = {r["name"].lower(): r for r in sql.all_plugins(conn)}
        self.edges: dict[str, list[tuple[str, str | None]]] = {}
        for dep in sql.all_dependencies(conn):
            self.edges.setdefault(dep["plugin_name"].lower(), []).append((dep["depends_on_name"], dep["version_spec"]))

    def set_edges(self, name: str, deps: list[tuple[str, str | None]]) -> None:
        self.edges[name.lower()] = list(deps)

    def display(self, key: str) -> str:
        row = self.rows.get(key.lower())
        return row["name"] if row is not None else key

    def dependents(self, name: str) -> list[tuple[str, str | None]]:
        key = name.lower()
        return sorted(
            ((owner, spec) for owner, deps in self.edges.items() for dep, spec in deps if dep.lower() == key),
            key=lambda item: item[0],
        )

    def find_cycle(self, start: str | None = None) -> list[str] | None:
        """A dependency cycle as a list of names (first == last), preferring one through `start`."""
        order = sorted(self.edges)
        if start is not None:
            order = [start.lower()] + [k for k in order if k != start.lower()]
        state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
        for root in order:
            if state.get(root):
                continue
            path: list[str] = [root]
            stack = [iter(sorted(d.lower() for d, _ in self.edges.get(root, [])))]
            state[root] = 1
            while stack:
                nxt = next(stack[-1], None)
                if nxt is None:
                    state[path.pop()] = 2
                    stack.pop()
                    continue
                if state.get(nxt) == 1:
                    cycle = path[path.index(nxt):] + [nxt]
                    return [self.display(k) for k in cycle]
                if not state.get(nxt):
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append(iter(sorted(d.lower() for d, _ in self.edges.get(nxt, []))))
        return None

    def problems(self, name: str) -> list[str]:
        """Why the direct dependencies of `name` are not met (missing or wrong version)."""
        found = []
        for dep, spec in self.edges.get(name.lower(), []):
            row = self.rows.get(dep.lower())
            if row is None:
                found.append(f"it needs {dep!r}{' ' + spec if spec else ''}, which is not registered")
            elif not satisfies(row["version"], spec):
                found.append(f"it needs {row['name']!r} {spec}, but {row['name']!r} is at version {row['version'] or '(none)'}")
        return found

    def closure(self, name: str) -> list[str]:
        """Transitive dependencies of `name`, deepest first (the order to enable them in)."""
        out: list[str] = []
        seen: set[str] = {name.lower()}

        def visit(key: str) -> None:
            for dep, _spec in self.edges.get(key, []):
                k = dep.lower()
                if k not in seen:
                    seen.add(k)
                    visit(k)
                    out.append(k)

        visit(name.lower())
        return out

    def dependent_closure(self, name: str) -> list[str]:
        """Transitive dependents of `name`, outermost first (the order to disable them in)."""
        out: list[str] = []
        seen: set[str] = {name.lower()}

        def visit(key: str) -> None:
            for owner, _spec in self.dependents(key):
                if owner not in seen:
                    seen.add(owner)
                    visit(owner)
                    out.append(owner)

        visit(name.lower())
        return out

    def dependency_tree(self, name: str, path: tuple[str, ...] = ()) -> list[DependencyNode]:
        nodes = []
        here = (*path, name.lower())
        for dep, spec in self.edges.get(name.lower(), []):
            row = self.rows.get(dep.lower())
            cycle = dep.lower() in here
            nodes.append(DependencyNode(
                name=row["name"] if row is not None else dep,
                version_spec=spec,
                registered=row is not None,
                version=row["version"] if row is not None else None,
                enabled=bool(row["is_enabled"]) if row is not None else False,
                status=row["status"] if row is not None else None,
                satisfied=row is not None and satisfies(row["version"], spec),
                cycle=cycle,
                dependencies=[] if cycle or row is None else self.dependency_tree(dep, here),
            ))
        return nodes

    def dependent_tree(self, name: str, path: tuple[str, ...] = ()) -> list[DependentNode]:
        nodes = []
        here = (*path, name.lower())
        me = self.rows.get(name.lower())
        for owner, spec in self.dependents(name):
            row = self.rows[owner]
            cycle = owner in here
            nodes.append(DependentNode(
                name=row["name"],
                version=row["version"],
                version_spec=spec,
                enabled=bool(row["is_enabled"]),
                status=row["status"],
                satisfied=me is not None and satisfies(me["version"], spec),
                cycle=cycle,
                dependents=[] if cycle else self.dependent_tree(owner, here),
            ))
        return nodes


def cycle_text(cycle: list[str]) -> str:
    return " -> ".join(cycle)
