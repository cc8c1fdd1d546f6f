// An independent MCP client (the TypeScript SDK) driving sanctum-mcp for tests/test_interop.py.
// Usage: node ts_client.mjs stdio <command> [args...] | node ts_client.mjs http|sse <url>
// Lists tools, calls a write tool and a read tool, reads a resource; prints one JSON report.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";

const [kind, target, ...rest] = process.argv.slice(2);
const agentName = process.env.AGENT_NAME ?? "TsAgent";
let transport;
if (kind === "stdio") transport = new StdioClientTransport({ command: target, args: rest, env: process.env, stderr: "ignore" });
else if (kind === "http") transport = new StreamableHTTPClientTransport(new URL(target));
else if (kind === "sse") transport = new SSEClientTransport(new URL(target));
else throw new Error(`unknown transport ${kind}`);

const client = new Client({ name: "ts-interop", version: "1.0.0" });
await client.connect(transport);
const tools = await client.listTools();
const created = await client.callTool({ name: "create_agent", arguments: { name: agentName, description: "from TypeScript" } });
const read = await client.callTool({ name: "get_agent", arguments: { agent: agentName } });
const missing = await client.callTool({ name: "get_agent", arguments: { agent: "Nobody" } });
const resource = await client.readResource({ uri: "sanctum://agents" });
console.log(JSON.stringify({
  server: client.getServerVersion(),
  protocol: transport.protocolVersion ?? null,
  tools: tools.tools.map((t) => t.name),
  created,
  read,
  missing,
  resourceText: resource.contents[0].text,
}));
await client.close();
