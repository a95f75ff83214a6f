#!/usr/bin/env bun
/** boxlite's command line: argv → command; a failure → one clear line and its exit code. */
import { cpCommand } from "./cli/cp.ts";
import { execCommand } from "./cli/exec.ts";
import { statsCommand } from "./cli/stats.ts";
import { tunnelCommand } from "./cli/tunnel.ts";
import { createCommand, pauseCommand, restartCommand, resumeCommand, startCommand, stopCommand, suspendCommand, unpauseCommand } from "./cli/lifecycle.ts";
import { imagesCommand, pullCommand, rmiCommand } from "./cli/images.ts";
import { infoCommand } from "./cli/info.ts";
import { inspectCommand } from "./cli/inspect.ts";
import { logsCommand } from "./cli/logs.ts";
import { lsCommand } from "./cli/ls.ts";
import { err, flushOutput, out, warn } from "./cli/output.ts";
import { rmCommand } from "./cli/rm.ts";
import { runCommand } from "./cli/run.ts";
import { volumeCommand } from "./cli/volume.ts";
import { snapshotCommand } from "./cli/snapshot.ts";
import { cloneCommand } from "./cli/clone.ts";
import { exportCommand } from "./cli/export.ts";
import { importCommand } from "./cli/import.ts";
import { RemoteBoxlite } from "./api/client.ts";
import { type Config, loadConfig } from "./config/config.ts";
import type { BoxliteApi } from "./runtime/api.ts";
import { Boxlite } from "./runtime/boxlite.ts";
import { BoxliteError, ERROR_TABLE, isBoxliteError } from "./util/errors.ts";
import { VERSION } from "./config/version.ts";

const USAGE = `Usage: boxlite [--home DIR | --url URL] [--vmm BACKEND] [--registry HOST]... [--config FILE] [--debug] COMMAND [ARGS...]

Run OCI images as hardware-isolated micro-VMs ("boxes").

Commands:
  run      Boot a box and run a command in it
  exec     Run another command in a running box
  cp       Copy files between the host and a running box
  create   Create a box without starting it
  start    Start boxes in the background
  stop     Stop running boxes
  restart  Stop and start boxes
  pause    Pause running boxes (their VM stops in place)
  unpause  Let paused boxes go on
  suspend  Save running boxes' whole state to disk and end their VMs
  resume   Bring suspended boxes back where they were
  ls       List boxes (also: ps, list)
  inspect  Show boxes as JSON
  rm       Remove boxes
  logs     Print a box's console log
  stats    Show boxes' CPU, memory and network use
  tunnel   Forward a local port to a port in a box
  pull     Download an image into the cache
  images   List cached images
  rmi      Remove cached images
  volume   Create, list, inspect and remove named volumes
  snapshot Create, list, inspect, remove and restore a box's snapshots
  clone    Make new boxes from a box's disk and settings
  export   Write a box as a .boxlite archive
  import   Make a box from a .boxlite archive
  info     Show the VMM, accelerator, kernel and home in use
  serve    Serve the REST API (default http://127.0.0.1:8100)

Global options:
  --home DIR        Home directory (default: $BOXLITE_HOME or ~/.boxlite)
  --url URL         Use the 'boxlite serve' at URL instead of a home (default: $BOXLITE_URL
                    or $BOXLITE_REST_URL; the key is $BOXLITE_API_KEY)
  --vmm BACKEND     VMM backend: auto (default: krun when libkrun boots a probe VM,
                    else qemu), qemu or krun (also $BOXLITE_VMM)
  --registry HOST   Search this registry first for unqualified image names (repeatable)
  --config FILE     Registry settings: a JSON file with "image_registries" (see docs/images.md)
  --debug           Show stack traces on errors
  --version         Print the version

Run 'boxlite COMMAND --help' for a command's options.
`;

type Command = (runtime: BoxliteApi, argv: string[]) => Promise<number>;
/** A command that works on a home itself (never over --url). */
type LocalCommand = (runtime: Boxlite, argv: string[]) => Promise<number>;

/** A command that needs neither a home nor a server. */
type BareCommand = (argv: string[]) => Promise<number>;

/** `failureCode`: the exit code for boxlite's own failures. */
type CommandEntry = ({ run: Command } | { local: LocalCommand } | { bare: BareCommand }) & { failureCode?: number };

const COMMANDS: Record<string, CommandEntry> = {
  run: { run: runCommand, failureCode: 125 },
  exec: { run: execCommand, failureCode: 125 },
  cp: { run: cpCommand },
  create: { run: createCommand },
  start: { run: startCommand },
  stop: { run: stopCommand },
  restart: { run: restartCommand },
  pause: { run: pauseCommand },
  unpause: { run: unpauseCommand },
  suspend: { run: suspendCommand },
  resume: { run: resumeCommand },
  // Internal: the supervisor of a detached box (src/runtime/supervisor.ts).
  __supervise: {
    local: (runtime, [id, ...flags]) =>
      id === undefined ? Promise.resolve(2) : runtime.supervise(id, { hold: flags.includes("--hold"), lifeline: flags.includes("--lifeline") }),
  },
  // Internal: a krun box's VM process, configured on stdin (src/vmm/krun/vm.ts); it never opens the home.
  __vm: { bare: async () => (await import("./vmm/krun/vm.ts")).vmCommand(), failureCode: 125 },
  ls: { run: lsCommand },
  ps: { run: lsCommand },
  list: { run: lsCommand },
  inspect: { run: inspectCommand },
  rm: { run: rmCommand },
  logs: { run: logsCommand },
  info: { run: infoCommand },
  stats: { run: statsCommand },
  tunnel: { run: tunnelCommand },
  pull: { run: pullCommand },
  images: { run: imagesCommand },
  rmi: { run: rmiCommand },
  volume: { run: volumeCommand },
  snapshot: { run: snapshotCommand },
  clone: { run: cloneCommand },
  export: { run: exportCommand },
  import: { run: importCommand },
  // Loaded on use: the server (hono and the API) would otherwise slow every other command's start.
  serve: { local: async (runtime, argv) => (await import("./cli/serve.ts")).serveCommand(runtime, argv) },
};

interface GlobalArgs {
  home?: string;
  debug: boolean;
  registries: string[];
  configFile?: string;
  url?: string;
  vmm?: string;
  rest: string[];
}

/** Global options that take a value: `--name VALUE` or `--name=VALUE`. */
const VALUE_GLOBALS: Record<string, { what: string; set: (globals: GlobalArgs, value: string) => void }> = {
  "--home": { what: "a directory", set: (globals, value) => (globals.home = value) },
  "--registry": { what: "a registry host", set: (globals, value) => globals.registries.push(value) },
  "--config": { what: "a JSON file", set: (globals, value) => (globals.configFile = value) },
  "--url": { what: "a server URL", set: (globals, value) => (globals.url = value) },
  "--vmm": { what: "a backend (auto, qemu or krun)", set: (globals, value) => (globals.vmm = value) },
};

function parseGlobals(argv: string[]): GlobalArgs {
  const globals: GlobalArgs = { debug: false, registries: [], rest: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === "--debug") {
      globals.debug = true;
      continue;
    }
    const eq = token.indexOf("=");
    const name = eq > 0 ? token.slice(0, eq) : token;
    const option = VALUE_GLOBALS[name];
    if (!option) break;
    const value = eq > 0 ? token.slice(eq + 1) : argv[++i];
    if (value === undefined || value === "") throw new BoxliteError("usage", `${name} needs ${option.what}`);
    option.set(globals, value);
  }
  globals.rest = argv.slice(i);
  return globals;
}

async function main(argv: string[]): Promise<number> {
  let globals: GlobalArgs = { debug: false, registries: [], rest: [] };
  let failureCode: number | undefined;
  try {
    globals = parseGlobals(argv);
    const [name, ...args] = globals.rest;
    if (name === "--version" || name === "version") {
      void out(`boxlite ${VERSION}\n`);
      return 0;
    }
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      void out(USAGE);
      return name === undefined ? 2 : 0;
    }
    // BOXLITE_DEBUG=1 is the same as --debug (docs/cli.md): the configuration reads it.
    globals.debug = configOf(globals).debug;
    const entry = COMMANDS[name];
    if (!entry) throw new BoxliteError("usage", `unknown command ${JSON.stringify(name)}; see 'boxlite --help'`);
    failureCode = entry.failureCode;
    if ("bare" in entry) return await entry.bare(args);
    if ("run" in entry) return await entry.run(openRuntime(globals), args);
    if (globals.url !== undefined) throw new BoxliteError("usage", `${name} works on a home and takes no --url`);
    return await entry.local(openLocal(configOf(globals), name === "serve"), args);
  } catch (error) {
    return reportFailure(error, globals.debug, failureCode);
  }
}

/** The configuration the global options and the environment give (loaded once per command). */
function configOf(globals: GlobalArgs): Readonly<Config> {
  return loadConfig({
    home: globals.home,
    debug: globals.debug || undefined,
    registries: globals.registries,
    configFile: globals.configFile,
    url: globals.url,
    vmm: globals.vmm,
  });
}

/** `ownsUndetached`: only a server's process lives as long as the boxes it starts for clients that did not detach them. */
function openLocal(config: Readonly<Config>, ownsUndetached = false): Boxlite {
  if (config.homeWasRelative) void err(`boxlite: using home ${config.home}\n`);
  return new Boxlite(config, warn, ownsUndetached);
}

/** The server at --url (or $BOXLITE_URL, unless --home is given) when there is one, else the home. */
function openRuntime(globals: GlobalArgs): BoxliteApi {
  if (globals.url !== undefined && globals.home !== undefined)
    throw new BoxliteError("usage", "--home and --url exclude each other: a server uses its own home");
  const config = configOf(globals);
  if (config.url === undefined || globals.home !== undefined) return openLocal(config);
  if (globals.vmm !== undefined)
    throw new BoxliteError(
      "usage",
      `--vmm picks this host's VMM; the server at ${config.url} uses its own (start it with 'boxlite --vmm ${globals.vmm} serve')`,
    );
  return new RemoteBoxlite(config.url, config.apiKey);
}

function reportFailure(error: unknown, debug: boolean, failureCode: number | undefined): number {
  const known = isBoxliteError(error) ? error : new BoxliteError("internal", `unexpected error: ${String(error)}`, { cause: error });
  void err(`boxlite: ${known.message}\n`);
  if (debug) void err(`${(known.cause instanceof Error ? known.cause : known).stack ?? ""}\n`);
  return failureCode ?? ERROR_TABLE[known.code].exit;
}

const exitCode = await main(process.argv.slice(2));
await flushOutput();
process.exit(exitCode);
