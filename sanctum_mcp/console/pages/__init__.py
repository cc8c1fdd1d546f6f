"""The console's pages. Adding one:

1. a module here (pages/<name>.py) whose handlers are `async def h(ctx: Ctx) -> Response`, each
   registered with `@page(path, ...)`: `nav="Title"` puts it in the navigation bar, `methods`
   ("POST" for a change: the CSRF and Origin checks run first, console/app.py), `public=True` only
   for the sign-in pages; a page whose list reloads itself on `changed` registers both its routes
   with parts.listed_page (and reads a listing tool's ?cursor= page with parts.one_page);
2. its name in _MODULES below (the order of the navigation bar);
3. its template in templates/<name>.html, extending base.html;
4. reads and changes only through actions.run (a catalogue tool as the signed-in caller), and
   controls shown only when actions.may says the caller's role reaches them.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

_MODULES = ("signin", "overview", "settings", "live", "objects", "letta", "plugins", "jobs", "logs", "backups", "users")


@dataclass(frozen=True)
class Page:
    path: str
    handler: Callable[..., Awaitable[Any]]
    methods: tuple[str, ...]
    public: bool


_PAGES: list[Page] = []
_NAV: list[tuple[str, str]] = []


def page(path: str, *, methods: tuple[str, ...] = ("GET",), nav: str | None = None,
         public: bool = False) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    def register(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        _PAGES.append(Page(path, handler, methods, public))
        if nav is not None:
            _NAV.append((nav, path))
        return handler

    return register


def _load() -> None:
    if not _PAGES:
        for name in _MODULES:
            importlib.import_module(f"{__name__}.{name}")


class _Lazy:
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __iter__(self) -> Any:
        _load()
        return iter(self.items)


PAGES = _Lazy(_PAGES)
NAV = _Lazy(_NAV)
