/** `boxlite volume create|ls|inspect|rm`: the home's named volumes (docs/volumes.md). */
import type { BoxliteApi } from "../runtime/api.ts";
import type { VolumeRecord } from "../runtime/named-volumes.ts";
import { BoxliteError } from "../util/errors.ts";
import { parseOptions } from "./args.ts";
import { printUsage, runSubcommand, type Subcommand } from "./subcommands.ts";
import { eachReported, out, printColumns, printJson } from "./output.ts";

export const VOLUME_USAGE = `Usage: boxlite volume COMMAND [ARGS...]

Manage named volumes: directories under the home that outlive the boxes using them.

Commands:
  create    Create a volume
  ls        List volumes (also: list)
  inspect   Show volumes as JSON (also: get)
  rm        Remove volumes and their data (also: delete)

Run 'boxlite volume COMMAND --help' for a command's options.
`;

const CREATE_USAGE = `Usage: boxlite volume create [--name NAME]

Create a named volume and print its id.

Options:
      --name NAME   A unique name (2 to 64 letters, digits, '_', '.' or '-', starting
                    with a letter or digit); default: the volume's id
`;

const LS_USAGE = `Usage: boxlite volume ls [-q] [--json]

List named volumes, newest first.

Options:
  -q, --quiet   Print only volume ids
      --json    Print JSON
`;

const INSPECT_USAGE = `Usage: boxlite volume inspect VOLUME [VOLUME...]

Show volumes (by id, name or unique id prefix) as a JSON array.
`;

const RM_USAGE = `Usage: boxlite volume rm [-f] VOLUME [VOLUME...]

Remove volumes (by id, name or unique id prefix) and everything in them.

Options:
  -f, --force   Remove even a volume a box uses, and ignore volumes that do not exist
`;

const HELP = { help: { type: "boolean", short: "h" } } as const;
const CREATE_OPTIONS = { name: { type: "string" }, ...HELP } as const;
const LS_OPTIONS = { quiet: { type: "boolean", short: "q" }, json: { type: "boolean" }, ...HELP } as const;
const RM_OPTIONS = { force: { type: "boolean", short: "f" }, ...HELP } as const;

async function createVolume(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("volume create", CREATE_OPTIONS, argv, true);
  if (values.help) return printUsage(CREATE_USAGE);
  if (positionals.length > 0) throw new BoxliteError("usage", "volume create takes no arguments (the name goes in --name); see 'boxlite volume create --help'");
  const volume = await runtime.createVolume(values.name === undefined ? {} : { name: values.name });
  void out(`${volume.id}\n`);
  return 0;
}

async function listVolumes(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values } = parseOptions("volume ls", LS_OPTIONS, argv);
  if (values.help) return printUsage(LS_USAGE);
  const volumes = await runtime.listVolumes();
  if (values.json) printJson(volumes);
  else if (values.quiet) void out(volumes.map((volume) => `${volume.id}\n`).join(""));
  else
    printColumns(
      ["ID", "NAME", "CREATED"],
      volumes.map((volume) => [volume.id, volume.name, volume.created_at]),
    );
  return 0;
}

async function inspectVolumes(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("volume inspect", HELP, argv, true);
  if (values.help) return printUsage(INSPECT_USAGE);
  if (positionals.length === 0) throw new BoxliteError("usage", "volume inspect needs at least one VOLUME; see 'boxlite volume inspect --help'");
  const found: VolumeRecord[] = [];
  const failed = await eachReported(positionals, async (ref) => {
    found.push(await runtime.getVolume(ref));
  });
  printJson(found);
  return failed ? 1 : 0;
}

async function removeVolumes(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("volume rm", RM_OPTIONS, argv, true);
  if (values.help) return printUsage(RM_USAGE);
  if (positionals.length === 0) throw new BoxliteError("usage", "volume rm needs at least one VOLUME; see 'boxlite volume rm --help'");
  const failed = await eachReported(positionals, async (ref) => {
    const removed = await runtime.removeVolume(ref, { force: Boolean(values.force) });
    if (removed !== undefined) void out(`${removed}\n`);
  });
  return failed ? 1 : 0;
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  create: createVolume,
  ls: listVolumes,
  list: listVolumes,
  inspect: inspectVolumes,
  get: inspectVolumes,
  rm: removeVolumes,
  delete: removeVolumes,
};

export async function volumeCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  return runSubcommand("volume", VOLUME_USAGE, SUBCOMMANDS, runtime, argv);
}
