"""How the subschemas of a caller's JSON Schema apply to a value: the checks a schema must pass
before it is stored, and where its writeOnly values (secrets) sit in a given config.

A schema is read once into a graph (`graph_of`, cached by its text): one node per subschema, with
its location in the document (`$.properties.smtp`) and edges by the keyword that applies it:
- in place, always: allOf, $ref, $dynamicRef, $recursiveRef, extends (draft 3);
- in place, maybe: anyOf, oneOf, if, then, else, type-as-schemas (draft 3), dependentSchemas and
  schema-valued dependencies (they apply when the value has that key);
- to parts of the value: properties, patternProperties, additionalProperties, unevaluatedProperties,
  prefixItems, items, additionalItems, contains, unevaluatedItems;
- hidden (never a config value, or annotations dropped): not, disallow, propertyNames, contentSchema.
References resolve only inside the document (`#/$defs/x`, `#anchor`, an embedded `$id`): a schema
never makes the server fetch anything.

Secrets (`secret_locations`): the walk follows the config together with the schema, so array
indexes and additionalProperties/patternProperties keys are real locations. At each value it takes
the union of every subschema that MAY apply (without evaluating if/anyOf/oneOf, whose outcome could
depend on a value that is itself encrypted): a value is a secret when any of them says
`"writeOnly": true`, and then the walk does not look inside it. Whether a value is a secret depends
only on where it is (the keys and indexes leading to it), never on the value itself (so
dependentSchemas counts as applying whether or not the key is there): the stored form (secrets
encrypted) and the plaintext give the same locations. Over-protecting is safe; the few places
where a writeOnly cannot protect anything are refused instead (`problems`).

Cost: building and checking a graph is linear in the schema; the walk memoizes the set of subschemas
per value shape, so a recursive $ref or a nested allOf costs each distinct set once. A schema whose
in-place expansion (what validating ONE value applies) exceeds MAX_APPLIED, nests in-place deeper
than MAX_IN_PLACE_DEPTH, or loops in place (`{"allOf": [{"$ref": "#"}]}`) is refused: jsonschema
would do that work, or recurse forever, on every validation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sanctum_mcp.domain.schemas import patterns

MAX_APPLIED = 2000
MAX_IN_PLACE_DEPTH = 32
# Checking a schema against its meta-schema costs about half a millisecond per subschema and
# recurses about a dozen frames per level: both are bounded before it runs.
MAX_SUBSCHEMAS = 5000
MAX_NESTING = 32
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

Path = tuple[str | int, ...]


@dataclass
class Node:
    schema: Any
    resolver: Any
    location: str
    depth: int = 0
    write_only: bool = False
    always: list[int] = field(default_factory=list)
    maybe: list[int] = field(default_factory=list)
    dependent: list[tuple[str, int]] = field(default_factory=list)
    hidden: list[tuple[int, str]] = field(default_factory=list)  # (node, the keyword's location)
    hidden_in_place: list[int] = field(default_factory=list)  # not/disallow: same value, in place
    properties: dict[str, int] = field(default_factory=dict)
    pattern_properties: list[tuple[Any, int]] = field(default_factory=list)  # (RE2 program or None, node)
    additional: int | None = None
    unevaluated_properties: int | None = None
    prefix: list[int] = field(default_factory=list)
    items: int | None = None
    contains: int | None = None
    unevaluated_items: int | None = None


@dataclass
class Graph:
    nodes: list[Node]
    problems: list[str]  # "at $.x: what is wrong and what to do", empty when the schema is usable
    oversized: list[str]  # the problems that make even checking it against its meta-schema too costly
    modern: bool  # 2019-09/2020-12: prefixItems and items split the array

    def secret_locations(self, config: Any) -> list[Path]:
        return _Walk(self).locations(config)


@lru_cache(maxsize=256)
def _graph_of_text(text: str) -> Graph:
    return _Builder(json.loads(text)).build()


def graph_of(schema: Any) -> Graph:
    """The graph of a schema (cached by its JSON text; the graph holds its own copy)."""
    return _graph_of_text(json.dumps(schema, sort_keys=True, separators=(",", ":")))


def child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isidentifier() or (key.startswith("$") and key[1:].isidentifier()):
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


# --- building ------------------------------------------------------------------------------------

SINGLE_MAYBE = ("if", "then", "else")
LIST_ALWAYS = ("allOf",)
LIST_MAYBE = ("anyOf", "oneOf")
REFS = ("$ref", "$dynamicRef", "$recursiveRef")
HIDDEN_SINGLE = ("propertyNames", "contentSchema")
HIDDEN_IN_PLACE = ("not", "disallow")
CONTAINERS = ("$defs", "definitions")


class _Builder:
    def __init__(self, document: Any) -> None:
        import referencing
        import referencing.jsonschema

        self.document = document
        dialect = document.get("$schema", DRAFT_2020_12) if isinstance(document, dict) else DRAFT_2020_12
        # Before 2019-09 (draft-03 to draft-07) prefixItems is not a keyword and items may be a tuple.
        self.modern = not (isinstance(dialect, str) and "json-schema.org/draft-0" in dialect)
        self.specification = referencing.jsonschema.specification_with(
            dialect if isinstance(dialect, str) else DRAFT_2020_12, default=referencing.jsonschema.DRAFT202012)
        resource = self.specification.create_resource(document)
        base = resource.id() or ""
        # Only the document itself: an outside reference (even to a meta-schema) does not resolve.
        registry = referencing.Registry().with_resource(base, resource)
        self.root_resolver = registry.resolver(base_uri=base)
        self.nodes: list[Node] = []
        self.index: dict[int, int] = {}
        self.problems: list[str] = []
        self.oversized: list[str] = []
        self.dynamic_anchors: dict[str, list[int]] = {}
        self.recursive_anchors: list[int] = []
        self.pending_refs: list[tuple[int, str, str]] = []

    def build(self) -> Graph:
        self.structure(self.document, self.root_resolver, "$")
        pending, self.pending_refs = self.pending_refs, []
        for at, keyword, ref in pending:
            self.link(at, keyword, ref)
        for node in self.nodes:
            if node.location != "$" and isinstance(node.schema, dict) and "$schema" in node.schema:
                self.problems.append(f"at {node.location}: $schema may only be given at the top of the schema; remove it here")
        self.check_applied()
        return Graph(self.nodes, self.oversized + self.problems, self.oversized, self.modern)

    # Phase 1: every subschema position of the document, with the resolver its $id gives it.

    def add(self, schema: Any, resolver: Any, location: str, depth: int = 0) -> tuple[int, bool]:
        known = self.index.get(id(schema))
        if known is not None:
            return known, False
        if isinstance(schema, dict):
            resolver = resolver.in_subresource(self.specification.create_resource(schema))
        self.nodes.append(Node(schema, resolver, location, depth,
                               write_only=isinstance(schema, dict) and schema.get("writeOnly") is True))
        self.index[id(schema)] = len(self.nodes) - 1
        return len(self.nodes) - 1, True

    def structure(self, schema: Any, resolver: Any, location: str) -> int:
        """Add `schema` and everything under it, without recursion (a schema may nest deeply)."""
        first, _ = self.add(schema, resolver, location)
        todo = [first]
        while todo:
            at = todo.pop()
            todo.extend(self.expand(at))
        return first

    def expand(self, at: int) -> list[int]:
        node = self.nodes[at]
        schema, loc = node.schema, node.location
        if not isinstance(schema, dict) or self.oversized:
            return []
        if len(self.nodes) > MAX_SUBSCHEMAS:
            self.oversized.append(f"at {loc}: the schema has more than {MAX_SUBSCHEMAS} subschemas; a "
                                  "configuration's schema should be far smaller: simplify it")
            return []
        if node.depth > MAX_NESTING:
            self.oversized.append(f"at {loc}: subschemas nest more than {MAX_NESTING} levels deep; flatten the "
                                  "schema (definitions under $defs can be referenced with $ref)")
            return []
        new: list[int] = []

        def sub(value: Any, where: str) -> int | None:
            if not isinstance(value, dict | bool):
                return None
            index, fresh = self.add(value, node.resolver, where, node.depth + 1)
            if fresh:
                new.append(index)
            return index

        for keyword in LIST_ALWAYS + LIST_MAYBE:
            if isinstance(schema.get(keyword), list):
                found = [sub(s, child(child(loc, keyword), i)) for i, s in enumerate(schema[keyword])]
                (node.always if keyword in LIST_ALWAYS else node.maybe).extend(i for i in found if i is not None)
        for keyword in SINGLE_MAYBE:
            if (i := sub(schema.get(keyword), child(loc, keyword))) is not None:
                node.maybe.append(i)
        extends = schema.get("extends")  # draft 3
        for i, s in enumerate(extends if isinstance(extends, list) else [extends]):
            if (found := sub(s, child(loc, "extends") + (f"[{i}]" if isinstance(extends, list) else ""))) is not None:
                node.always.append(found)
        if isinstance(schema.get("type"), list):  # draft 3: a type may be a schema
            node.maybe.extend(i for n, s in enumerate(schema["type"]) if (i := sub(s, child(child(loc, "type"), n))) is not None)
        for keyword in ("dependentSchemas", "dependencies"):
            if isinstance(schema.get(keyword), dict):
                for key, s in schema[keyword].items():
                    if (i := sub(s, child(child(loc, keyword), key))) is not None:
                        node.dependent.append((key, i))
        for keyword in HIDDEN_IN_PLACE:
            value = schema.get(keyword)
            for n, s in enumerate(value if isinstance(value, list) else [value]):
                where = child(loc, keyword) + (f"[{n}]" if isinstance(value, list) else "")
                if (i := sub(s, where)) is not None:
                    node.hidden.append((i, where))
                    node.hidden_in_place.append(i)
        for keyword in HIDDEN_SINGLE:
            if (i := sub(schema.get(keyword), child(loc, keyword))) is not None:
                node.hidden.append((i, child(loc, keyword)))
        if isinstance(schema.get("properties"), dict):
            for key, s in schema["properties"].items():
                if (i := sub(s, child(child(loc, "properties"), key))) is not None:
                    node.properties[key] = i
        if isinstance(schema.get("patternProperties"), dict):
            for key, s in schema["patternProperties"].items():
                where = child(child(loc, "patternProperties"), key)
                reason = patterns.problem(key)
                if reason is not None:
                    self.problems.append(f"at {where}: {reason}")
                if (i := sub(s, where)) is not None:
                    node.pattern_properties.append((None if reason else patterns.compiled(key), i))
        if isinstance(schema.get("pattern"), str) and (reason := patterns.problem(schema["pattern"])):
            self.problems.append(f"at {child(loc, 'pattern')}: {reason}")
        node.additional = sub(schema.get("additionalProperties"), child(loc, "additionalProperties"))
        node.unevaluated_properties = sub(schema.get("unevaluatedProperties"), child(loc, "unevaluatedProperties"))
        items = schema.get("items")
        if isinstance(items, list):  # drafts before 2020-12: a tuple, then additionalItems
            node.prefix = [i for n, s in enumerate(items) if (i := sub(s, child(child(loc, "items"), n))) is not None]
            node.items = sub(schema.get("additionalItems"), child(loc, "additionalItems"))
        else:
            if isinstance(schema.get("prefixItems"), list):
                node.prefix = [i for n, s in enumerate(schema["prefixItems"])
                               if (i := sub(s, child(child(loc, "prefixItems"), n))) is not None]
            node.items = sub(items, child(loc, "items"))
        node.contains = sub(schema.get("contains"), child(loc, "contains"))
        node.unevaluated_items = sub(schema.get("unevaluatedItems"), child(loc, "unevaluatedItems"))
        for keyword in CONTAINERS:  # not applied by themselves; positions for $ref to land on
            if isinstance(schema.get(keyword), dict):
                for key, s in schema[keyword].items():
                    sub(s, child(child(loc, keyword), key))
        if isinstance(schema.get("$dynamicAnchor"), str):
            self.dynamic_anchors.setdefault(schema["$dynamicAnchor"], []).append(at)
        if schema.get("$recursiveAnchor") is True:
            self.recursive_anchors.append(at)
        for keyword in REFS:
            if keyword in schema:
                self.pending_refs.append((at, keyword, schema[keyword]))
        return new

    # Phase 2: references, resolved inside the document only.

    def link(self, at: int, keyword: str, ref: Any) -> None:
        from referencing.exceptions import Unresolvable

        node = self.nodes[at]
        if not isinstance(ref, str):
            self.problems.append(f"at {node.location}: {keyword} must be a string")
            return
        try:
            resolved = node.resolver.lookup(ref)
        except Unresolvable:
            self.problems.append(
                f"at {node.location}: {keyword} {ref[:200]!r} does not point inside this schema; only references "
                "within it are allowed (e.g. \"#/$defs/name\" or \"#anchor\"), nothing is fetched. Put the "
                "definition under $defs and refer to it there"
            )
            return
        except Exception:  # a malformed pointer or URI: referencing raises several kinds
            self.problems.append(f"at {node.location}: {keyword} {ref[:200]!r} is not a valid reference")
            return
        target = self.index.get(id(resolved.contents))
        if target is None:  # a reference into a position that is not a subschema of the document
            if not isinstance(resolved.contents, dict | bool):
                self.problems.append(f"at {node.location}: {keyword} {ref[:200]!r} does not point to a schema")
                return
            target = self.structure(resolved.contents, resolved.resolver, f"{node.location} -> {ref[:200]}")
            pending, self.pending_refs = self.pending_refs, []
            for more in pending:
                self.link(*more)
        node.always.append(target)
        if keyword == "$dynamicRef" and "#" in ref:
            node.always.extend(self.dynamic_anchors.get(ref.split("#", 1)[1], []))
        if keyword == "$recursiveRef":
            node.always.extend(self.recursive_anchors)

    # Phase 3: what applying the schema would do.

    def check_applied(self) -> None:
        if not self.nodes or self.oversized:
            return
        reachable, hidden_from = self.reach()
        for index in reachable:
            node = self.nodes[index]
            if node.write_only and index in hidden_from:
                through = hidden_from[index]
                where = node.location if node.location == through else f"{node.location} (applied through {through})"
                self.problems.append(
                    f"at {where}: writeOnly here marks nothing that can be stored encrypted (under not, disallow, "
                    "propertyNames or contentSchema no config value carries it); mark the property itself "
                    "\"writeOnly\": true instead"
                )
        self.check_in_place(reachable)

    def reach(self) -> tuple[list[int], dict[int, str]]:
        """Nodes applied from the top, nearest first, and for those applied through a hidden keyword,
        that keyword's location."""
        from collections import deque

        reachable: dict[int, None] = {}  # ordered: breadth first, so messages name the nearest place
        hidden_from: dict[int, str] = {}
        todo: deque[tuple[int, str | None]] = deque([(0, None)])
        while todo:
            at, hidden = todo.popleft()
            if at in reachable and (hidden is None or at in hidden_from):
                continue
            reachable[at] = None
            if hidden is not None:
                hidden_from[at] = hidden
            node = self.nodes[at]
            for target in _visible_edges(node):
                todo.append((target, hidden))
            for target, where in node.hidden:
                todo.append((target, hidden or where))
        return list(reachable), hidden_from

    def check_in_place(self, reachable: list[int]) -> None:
        """Refuse in-place loops, and in-place expansions too large or too deep to validate."""
        size: dict[int, int] = {}
        depth: dict[int, int] = {}
        state: dict[int, int] = {}  # 1 = on the stack, 2 = done
        reported: set[str] = set()
        in_place = {index: _in_place_edges(self.nodes[index]) for index in reachable}
        for start in reachable:
            if start in state:
                continue
            stack: list[tuple[int, int]] = [(start, 0)]
            state[start] = 1
            while stack:
                at, next_edge = stack[-1]
                edges = in_place[at]
                if next_edge < len(edges):
                    stack[-1] = (at, next_edge + 1)
                    target = edges[next_edge]
                    if state.get(target) == 1:
                        where = self.nodes[at].location
                        if where not in reported:
                            reported.add(where)
                            self.problems.append(
                                f"at {where}: a reference cycle applies the same subschemas to the same value "
                                "forever (nothing in between descends into a property or an item); break the cycle"
                            )
                        continue
                    if target not in state:
                        state[target] = 1
                        stack.append((target, 0))
                    continue
                stack.pop()
                state[at] = 2
                size[at] = min(MAX_APPLIED + 1, 1 + sum(size.get(t, 0) for t in edges))
                depth[at] = min(MAX_IN_PLACE_DEPTH + 1, 1 + max((depth.get(t, 0) for t in edges), default=0))
        for index in reachable:
            node = self.nodes[index]
            if size.get(index, 0) > MAX_APPLIED or depth.get(index, 0) > MAX_IN_PLACE_DEPTH:
                self.problems.append(
                    f"at {node.location}: the schema is too complex: validating one value here would apply more than "
                    f"{MAX_APPLIED} subschemas, or nest allOf/anyOf/oneOf/$ref deeper than {MAX_IN_PLACE_DEPTH} "
                    "(each level of nested allOf over the same definition doubles the work); simplify it"
                )
                return


def _in_place_edges(node: Node) -> list[int]:
    return node.always + node.maybe + [i for _, i in node.dependent] + node.hidden_in_place


def _visible_edges(node: Node) -> list[int]:
    out = node.always + node.maybe + [i for _, i in node.dependent] + list(node.properties.values())
    out += [i for _, i in node.pattern_properties] + node.prefix
    out += [i for i in (node.additional, node.unevaluated_properties, node.items, node.contains,
                        node.unevaluated_items) if i is not None]
    return out


# --- the walk over a config ----------------------------------------------------------------------


@dataclass
class _Applied:
    """Every subschema that may apply to one value (closed under in-place keywords)."""

    nodes: tuple[int, ...]
    secret: bool


class _Walk:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.closures: dict[frozenset[int], _Applied] = {}
        self.children: dict[tuple[int, str | int], frozenset[int]] = {}

    def locations(self, config: Any) -> list[Path]:
        if not self.graph.nodes:
            return []
        found: list[Path] = []
        todo: list[tuple[Path, Any, frozenset[int]]] = [((), config, frozenset([0]))]
        while todo:
            path, value, start = todo.pop()
            applied = self.applied(start)
            if applied.secret:
                if path:
                    found.append(path)
                    continue
                if isinstance(value, dict):  # writeOnly on the whole config: each top-level value is a secret
                    found.extend((key,) for key in value)
                continue
            if isinstance(value, dict):
                for key, item in value.items():
                    below = self.child_nodes(applied, key)
                    if below:
                        todo.append(((*path, key), item, below))
            elif isinstance(value, list):
                for number, item in enumerate(value):
                    below = self.child_nodes(applied, number)
                    if below:
                        todo.append(((*path, number), item, below))
        found.sort(key=lambda p: [str(step) for step in p])
        return found

    def applied(self, start: frozenset[int]) -> _Applied:
        known = self.closures.get(start)
        if known is not None:
            return known
        nodes = self.graph.nodes
        seen = set(start)
        todo = list(start)
        while todo:
            node = nodes[todo.pop()]
            for target in node.always + node.maybe + [i for _, i in node.dependent]:
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        result = _Applied(tuple(sorted(seen)), any(nodes[i].write_only for i in seen))
        self.closures[start] = result
        return result

    def child_nodes(self, applied: _Applied, key: str | int) -> frozenset[int]:
        memo_key = (id(applied), key if isinstance(key, str) else min(key, self._longest_prefix(applied)))
        known = self.children.get(memo_key)
        if known is not None:
            return known
        nodes = self.graph.nodes
        out: set[int] = set()
        for index in applied.nodes:
            node = nodes[index]
            if isinstance(key, str):
                named = key in node.properties
                if named:
                    out.add(node.properties[key])
                matched = False
                for program, target in node.pattern_properties:
                    # A pattern RE2 cannot run (only in a schema stored before it was refused) counts
                    # as matching: protecting too much is safe.
                    if program is None or program.search(key) is not None:
                        out.add(target)
                        matched = True
                if not named and not matched:
                    out.update(i for i in (node.additional, node.unevaluated_properties) if i is not None)
            else:
                if key < len(node.prefix):
                    out.add(node.prefix[key])
                    if not self.graph.modern and node.items is not None:
                        out.add(node.items)  # before 2019-09 prefixItems is an unknown keyword
                elif node.items is not None:
                    out.add(node.items)
                if node.contains is not None:
                    out.add(node.contains)
                if node.unevaluated_items is not None and key >= len(node.prefix) and node.items is None:
                    out.add(node.unevaluated_items)
        result = frozenset(out)
        self.children[memo_key] = result
        return result

    def _longest_prefix(self, applied: _Applied) -> int:
        return max((len(self.graph.nodes[i].prefix) for i in applied.nodes), default=0)
