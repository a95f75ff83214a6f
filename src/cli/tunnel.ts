/**
 * `boxlite tunnel BOX PORT [--listen ADDR]`: a local listener whose every connection is
 * one connection to PORT in the box, through the box's network process (or, with --url,
 * through the server's tunnel). Runs until interrupted.
 */
import type { Socket } from "node:net";
import { relay } from "../api/tunnels.ts";
import type { BoxliteApi } from "../runtime/api.ts";
import { BoxliteError } from "../util/errors.ts";
import { parseInteger } from "../util/flags.ts";
import { parseOptions } from "./args.ts";
import { out, warn } from "./output.ts";

export const TUNNEL_USAGE = `Usage: boxlite tunnel [--listen [HOST:]PORT] BOX PORT

Forward a local port to TCP port PORT in a box, until interrupted: each connection to the
local address is one connection to the box's port, without publishing it (-p). A
stopped box is started first. Works against a server too (--url), through its tunnel.

Options:
      --listen [HOST:]PORT   Where to listen (default 127.0.0.1 and a port the OS picks)
`;

const OPTIONS = { listen: { type: "string" }, help: { type: "boolean", short: "h" } } as const;

/** `[HOST:]PORT` (an IPv6 host in brackets); port 0 lets the OS pick. */
export function parseListen(text: string | undefined): { host: string; port: number } {
  if (text === undefined) return { host: "127.0.0.1", port: 0 };
  const match = /^(?:(\[[^\]]+\]|[^:]+):)?(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new BoxliteError("usage", `--listen ${JSON.stringify(text)}: use [HOST:]PORT, such as 127.0.0.1:8080 or 8080`);
  const host = match[1]?.replace(/^\[|\]$/g, "") ?? "127.0.0.1";
  return { host, port };
}

export async function tunnelCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("tunnel", OPTIONS, argv, true);
  if (values.help) {
    void out(TUNNEL_USAGE);
    return 0;
  }
  const [box, portText, ...extra] = positionals;
  if (box === undefined || portText === undefined || extra.length > 0)
    throw new BoxliteError("usage", "tunnel needs a BOX and a PORT; see 'boxlite tunnel --help'");
  const port = parseInteger("PORT", portText) ?? 0;
  if (port < 1 || port > 65535) throw new BoxliteError("usage", `PORT ${port} is outside 1-65535`);
  const listen = parseListen(values.listen);
  // One dial first: a box that cannot be reached fails here, with why, not on the first client.
  const first = await runtime.dialPort(box, port);
  first.destroy();
  // Loaded on use (src/image/decompress.ts says why).
  const { createServer } = await import("node:net");
  const server = createServer((client: Socket) => {
    client.pause();
    runtime.dialPort(box, port).then(
      (upstream) => relay(client, upstream),
      (error: unknown) => {
        warn(error instanceof Error ? error.message : String(error));
        client.destroy();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(new BoxliteError("invalid_argument", `cannot listen on ${values.listen ?? "127.0.0.1"}: ${error.message}`)));
    server.listen(listen.port, listen.host, () => resolve());
  });
  const address = server.address();
  const where = address !== null && typeof address !== "string" ? `${address.address}:${address.port}` : String(address);
  void out(`${where} -> ${box}:${port}\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  server.close();
  return 0;
}
