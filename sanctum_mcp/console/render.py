"""Jinja2 templates and static files of the console, shipped inside the package (nothing is
fetched at run time). Autoescaping is on for every template: a value is text, never markup."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from sanctum_mcp import __version__

if TYPE_CHECKING:
    from sanctum_mcp.console.app import Ctx

HERE = Path(__file__).parent
STATIC = HERE / "static"

# auto_reload off: the templates ship inside the package and do not change while it runs, so each
# is compiled once and never stat()ed again per request (a page and its base cost ~10 stats each).
_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                   trim_blocks=True, lstrip_blocks=True, auto_reload=False)


def render(ctx: Ctx, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    from sanctum_mcp.console.pages import NAV

    base = {
        "caller": ctx.caller,
        "csrf": ctx.session.csrf if ctx.session else None,
        "nav": NAV,
        "path": ctx.request.url.path,
        "revision": ctx.revision,
        "version": __version__,
    }
    return HTMLResponse(_env.get_template(template).render(**base, **context), status_code=status)
