/** `boxlite ls` (aliases `ps`, `list`): the boxes of this home. */
import type { BoxStatus } from "../db/box-status.ts";
import type { BoxView } from "../runtime/box-view.ts";
import type { BoxliteApi } from "../runtime/api.ts";
import { parseOptions } from "./args.ts";
import { out, printJson, printColumns } from "./output.ts";

export const LS_USAGE = `Usage: boxlite ls [-a] [-q] [--json]

List boxes: by default those with a running VM; with -a all of them.

Options:
  -a, --all     Show every box, stopped and failed ones too
  -q, --quiet   Print only box ids
      --json    Print JSON (the REST API's Box objects)
`;

const OPTIONS = {
  all: { type: "boolean", short: "a" },
  quiet: { type: "boolean", short: "q" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const STATUS_WORDS: Readonly<Record<BoxStatus, string>> = {
  unknown: "Unknown",
  configured: "Configured",
  running: "Running",
  stopping: "Stopping",
  stopped: "Stopped",
  paused: "Paused",
  failed: "Failed",
};

/**
 * The widest STATUS cell. A failure's reason is cut to fit (`inspect` and `--json` show it
 * whole): one long reason would otherwise widen every line of the table past a terminal.
 */
export const STATUS_WIDTH = 40;

/** Docker-style status: "Running", "Exited (3)", "Failed: reason" (its first line, cut to STATUS_WIDTH with "..."). */
export function statusText(box: BoxView): string {
  if (box.suspended && box.status === "stopped") return "Stopped (suspended)";
  if (box.status === "stopped" && box.exit_code !== null) return `Exited (${box.exit_code})`;
  const reason = box.status === "failed" ? box.error_reason : null;
  if (!reason) return STATUS_WORDS[box.status];
  const end = reason.indexOf("\n");
  const text = `Failed: ${end < 0 ? reason : reason.slice(0, end)}`;
  // ASCII dots, not "…": one character outside Latin-1 makes the whole table a two-byte string.
  return text.length <= STATUS_WIDTH ? text : `${text.slice(0, STATUS_WIDTH - 3)}...`;
}

/** Docker's PORTS cell: "127.0.0.1:8080->80/tcp, …" (only a running box publishes any). */
export function portsText(box: BoxView): string {
  const ports = box.network.published_ports;
  if (ports.length === 0) return "";
  return ports.map((port) => `${port.host_ip}:${port.host_port}->${port.guest_port}/${port.protocol}`).join(", ");
}

export async function lsCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values } = parseOptions("ls", OPTIONS, argv);
  if (values.help) {
    void out(LS_USAGE);
    return 0;
  }
  const boxes = await runtime.listBoxes({ all: values.all });
  if (values.json) printJson(boxes);
  else if (values.quiet) void out(boxes.map((box) => `${box.box_id}\n`).join(""));
  else {
    // An indexed loop: see printColumns.
    const rows = new Array<string[]>(boxes.length);
    for (let i = 0; i < boxes.length; i++) {
      const box = boxes[i] as BoxView;
      rows[i] = [box.box_id.slice(0, 12), box.image, statusText(box), box.created_at, portsText(box), box.name ?? ""];
    }
    printColumns(["ID", "IMAGE", "STATUS", "CREATED", "PORTS", "NAMES"], rows);
  }
  return 0;
}
