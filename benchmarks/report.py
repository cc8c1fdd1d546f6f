"""The report's table: one Row per figure (a median, its same-run baseline and the ratio's target),
printed by section."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Row:
    label: str
    value: float
    unit: str = "ms"
    baseline: str = ""
    base: float | None = None
    limit: float | None = None  # target on value / base: <= limit (or >= limit when at_least)
    at_least: bool = False
    target: str = ""  # how the target reads in the table (derived from limit when empty)
    passed: bool | None = None  # for targets that are not a ratio (lost updates)

    @property
    def ratio(self) -> float | None:
        return self.value / self.base if self.base else None

    def verdict(self) -> str:
        if self.passed is not None:
            return "ok" if self.passed else "MISSED"
        if self.limit is None or self.ratio is None:
            return ""
        ok = self.ratio >= self.limit if self.at_least else self.ratio <= self.limit
        return "ok" if ok else "MISSED"

    def target_text(self) -> str:
        if self.target or self.limit is None:
            return self.target
        return f"{'>=' if self.at_least else '<='}{self.limit:g}x"


def show(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == "ms":
        return f"{value:.3f} ms" if value < 100 else f"{value:.1f} ms"
    if unit == "/s":
        return f"{value:.0f}/s"
    return f"{value:g}{unit}"


def print_table(rows: list[Row]) -> None:
    width = max(len("measure (median)"), *(len(r.label) for r in rows))
    based = max(len("baseline (same run)"), *(len(r.baseline) for r in rows))
    header = (f"{'measure (median)':<{width}} {'value':>11}  {'baseline (same run)':<{based}} {'baseline':>11} "
              f"{'ratio':>7} {'target':>7}  verdict")
    print(header)
    print("-" * len(header))
    section = None
    for r in rows:
        if section is not None and r.label[:2] != section:
            print()
        section = r.label[:2]
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        print(f"{r.label:<{width}} {show(r.value, r.unit):>11}  {r.baseline:<{based}} {show(r.base, r.unit):>11} "
              f"{ratio:>7} {r.target_text():>7}  {r.verdict()}".rstrip())
