/** `boxlite stats`: CPU and memory of running boxes, once or every second. */
import type { BoxliteApi } from "../runtime/api.ts";
import type { BoxStats } from "../runtime/stats.ts";
import { BoxliteError } from "../util/errors.ts";
import { parseOptions } from "./args.ts";
import { out, printColumns, printJson } from "./output.ts";
import { formatBytes } from "./progress.ts";

export const STATS_USAGE = `Usage: boxlite stats [-s] [--json] BOX [BOX...]

Show the CPU and memory each running box uses on the host (its VMM and helper processes),
sampled over one second, and the bytes its network sent and received since it started.

Options:
  -s, --stream   Refresh every second until interrupted
      --json     Print JSON
`;

const OPTIONS = { stream: { type: "boolean", short: "s" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } } as const;

function print(samples: BoxStats[], json: boolean, clear: boolean): void {
  if (json) {
    printJson(samples);
    return;
  }
  if (clear) void out("\u001b[2J\u001b[H");
  printColumns(
    ["ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "NET I/O", "CPUS", "UPTIME"],
    samples.map((s) => [
      s.box_id.slice(0, 12),
      s.name ?? "",
      `${s.cpu_percent.toFixed(1)}%`,
      `${formatBytes(s.memory_bytes)} / ${formatBytes(s.memory_limit_bytes)}`,
      // docker's order: received / sent.
      s.network ? `${formatBytes(s.network.bytes_received)} / ${formatBytes(s.network.bytes_sent)}` : "--",
      String(s.cpus),
      `${s.uptime_seconds}s`,
    ]),
  );
}

export async function statsCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("stats", OPTIONS, argv, true);
  if (values.help) {
    void out(STATS_USAGE);
    return 0;
  }
  if (positionals.length === 0) throw new BoxliteError("usage", "stats needs at least one BOX; see 'boxlite stats --help'");
  for (;;) {
    const samples = await Promise.all(positionals.map((box) => runtime.stats(box)));
    print(samples, values.json === true, values.stream === true && process.stdout.isTTY === true);
    if (!values.stream) return 0;
  }
}
