"""The SDK's floor: a bare MCPServer with one no-op tool.

    python benchmarks/bare_server.py                       stdio (the cold-start baseline)
    python benchmarks/bare_server.py --shaped RESULT.json  stdio, plus `noop_shaped` (see below)
    python benchmarks/bare_server.py --http PORT [--shaped RESULT.json] [--json]
                                                           Streamable HTTP at /mcp on 127.0.0.1:PORT
                                                           (--json: one JSON body per request, as
                                                           sanctum-mcp answers; default: the SDK's
                                                           SSE stream per request)

Without options nothing but the SDK is imported, so that cold start measures the SDK alone. With
--shaped the server is bench_config.bare_server(): `noop` returns a one-field result and
`noop_shaped` returns the canned get_config result in RESULT.json under get_config's own output
schema, so the client pays the same validation as for a real get_config.
"""

import argparse

from mcp.server.mcpserver import MCPServer

server = MCPServer("bare")


@server.tool()
def noop() -> str:
    """Do nothing."""
    return "ok"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", type=int, metavar="PORT", help="serve Streamable HTTP on 127.0.0.1:PORT")
    parser.add_argument("--shaped", metavar="RESULT.json", help="also serve noop_shaped returning this result")
    parser.add_argument("--json", action="store_true", help="HTTP: answer each request with one JSON body")
    args = parser.parse_args()
    chosen = server
    if args.shaped:
        import json
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_config import bare_server

        chosen = bare_server(json.loads(Path(args.shaped).read_text()))
    if args.http is None:
        chosen.run()
        return
    import uvicorn

    app = chosen.streamable_http_app(host="127.0.0.1", json_response=args.json)
    uvicorn.run(app, host="127.0.0.1", port=args.http, log_level="warning")


if __name__ == "__main__":
    main()
