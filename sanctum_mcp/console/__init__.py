"""The browser console: server-side HTML (Jinja2) with vendored htmx, served at / by the HTTP
transport beside /mcp and /sse, over the same registry.

app.py       the routes and the checks before every page (Host, Origin, session, CSRF)
sessions.py  sign-in sessions (memory, bounded) and the CSRF token of each
links.py     one-time sign-in links (`sanctum-mcp console link`)
actions.py   the only way pages read or change anything: a catalogue tool as the signed-in caller
render.py    templates/ and static/
pages/       one module per page (pages/__init__.py says how to add one)
"""
