/** `boxlite snapshot create|ls|inspect|rm|restore`: named snapshots of a box's disk (docs/snapshots.md). */
import type { SnapshotInfo } from "../db/snapshots.ts";
import type { BoxliteApi } from "../runtime/api.ts";
import { BoxliteError } from "../util/errors.ts";
import { parseOptions } from "./args.ts";
import { printUsage, runSubcommand, type Subcommand } from "./subcommands.ts";
import { eachReported, out, printColumns, printJson } from "./output.ts";
import { formatBytes } from "./progress.ts";

export const SNAPSHOT_USAGE = `Usage: boxlite snapshot COMMAND BOX [ARGS...]

Manage a box's snapshots: its disk as it was, to go back to later.

Commands:
  create    Snapshot a box's disk (a running box is paused for a moment)
  ls        List a box's snapshots (also: list)
  inspect   Show snapshots as JSON
  rm        Remove snapshots (also: delete)
  restore   Put a stopped box's disk back to a snapshot

Run 'boxlite snapshot COMMAND --help' for a command's options.
`;

const CREATE_USAGE = `Usage: boxlite snapshot create [--json] BOX NAME

Snapshot BOX's disk as NAME and print the name. A running box is paused for the fork
and then goes on. NAME is unique per box: no '/' or '\\', not starting with '.', up to
255 bytes (such as before-upgrade or v1.2).

Options:
      --json   Print the snapshot as JSON
`;

const LS_USAGE = `Usage: boxlite snapshot ls [-q] [--json] BOX

List BOX's snapshots, newest first.

Options:
  -q, --quiet   Print only snapshot names
      --json    Print JSON
`;

const INSPECT_USAGE = `Usage: boxlite snapshot inspect BOX NAME [NAME...]

Show BOX's snapshots as a JSON array.
`;

const RM_USAGE = `Usage: boxlite snapshot rm BOX NAME [NAME...]

Remove snapshots of BOX. A snapshot that another snapshot or the box's disk was made
from is kept, and the command says which one needs it.
`;

const RESTORE_USAGE = `Usage: boxlite snapshot restore BOX NAME

Put BOX's disk back to the snapshot NAME: what was written since is gone. The box must
be stopped. The snapshot is kept.
`;

const HELP = { help: { type: "boolean", short: "h" } } as const;
const JSON_OPTIONS = { json: { type: "boolean" }, ...HELP } as const;
const LS_OPTIONS = { quiet: { type: "boolean", short: "q" }, ...JSON_OPTIONS } as const;

/** A snapshot as the CLI prints it: the REST API's fields, the same locally and over --url. */
export function snapshotJson(info: SnapshotInfo) {
  const { id, box_id, name, created_at, container_disk_bytes, size_bytes } = info;
  return { id, box_id, name, created_at, container_disk_bytes, size_bytes };
}

/** Positionals as `BOX NAME` (exactly, or with more names when `many`), else a usage error naming the command. */
function boxAndNames(command: string, positionals: string[], many: boolean): [string, string[]] {
  const [box, ...names] = positionals;
  const shape = many ? "BOX NAME [NAME...]" : "BOX NAME";
  if (box === undefined || names.length === 0 || (!many && names.length > 1))
    throw new BoxliteError("usage", `snapshot ${command} takes ${shape}; see 'boxlite snapshot ${command} --help'`);
  return [box, names];
}

async function createSnapshot(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("snapshot create", JSON_OPTIONS, argv, true);
  if (values.help) return printUsage(CREATE_USAGE);
  const [box, [name]] = boxAndNames("create", positionals, false);
  const info = await runtime.createSnapshot(box, name as string);
  if (values.json) printJson(snapshotJson(info));
  else void out(`${info.name}\n`);
  return 0;
}

async function listSnapshots(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("snapshot ls", LS_OPTIONS, argv, true);
  if (values.help) return printUsage(LS_USAGE);
  const [box, ...extra] = positionals;
  if (box === undefined || extra.length > 0) throw new BoxliteError("usage", "snapshot ls takes one BOX; see 'boxlite snapshot ls --help'");
  const snapshots = await runtime.listSnapshots(box);
  if (values.json) printJson(snapshots.map(snapshotJson));
  else if (values.quiet) void out(snapshots.map((info) => `${info.name}\n`).join(""));
  else
    printColumns(
      ["NAME", "ID", "CREATED", "SIZE", "DISK SIZE"],
      snapshots.map((info) => [
        info.name,
        info.id,
        new Date(info.created_at * 1000).toISOString(),
        formatBytes(info.size_bytes),
        formatBytes(info.container_disk_bytes),
      ]),
    );
  return 0;
}

async function inspectSnapshots(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("snapshot inspect", HELP, argv, true);
  if (values.help) return printUsage(INSPECT_USAGE);
  const [box, names] = boxAndNames("inspect", positionals, true);
  const found: ReturnType<typeof snapshotJson>[] = [];
  const failed = await eachReported(names, async (name) => {
    found.push(snapshotJson(await runtime.getSnapshot(box, name)));
  });
  printJson(found);
  return failed ? 1 : 0;
}

async function removeSnapshots(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("snapshot rm", HELP, argv, true);
  if (values.help) return printUsage(RM_USAGE);
  const [box, names] = boxAndNames("rm", positionals, true);
  const failed = await eachReported(names, async (name) => {
    await runtime.removeSnapshot(box, name);
    void out(`${name}\n`);
  });
  return failed ? 1 : 0;
}

async function restoreSnapshot(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("snapshot restore", HELP, argv, true);
  if (values.help) return printUsage(RESTORE_USAGE);
  const [box, [name]] = boxAndNames("restore", positionals, false);
  await runtime.restoreSnapshot(box, name as string);
  void out(`${name}\n`);
  return 0;
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  create: createSnapshot,
  ls: listSnapshots,
  list: listSnapshots,
  inspect: inspectSnapshots,
  rm: removeSnapshots,
  delete: removeSnapshots,
  restore: restoreSnapshot,
};

export async function snapshotCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  return runSubcommand("snapshot", SNAPSHOT_USAGE, SUBCOMMANDS, runtime, argv);
}
