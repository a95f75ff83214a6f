/**
 * The network process beside a box's VMM (host/netd, docs/network.md), embedded and
 * extracted once per build, and the helper command that runs it for one box.
 */
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import netdPath from "../../build/host/netd.bin" with { type: "file" };
import type { Config } from "../config/config.ts";
import { readHostBootId } from "../util/boot-id.ts";
import { BoxliteError } from "../util/errors.ts";
import { cachedFile, sha256Hex } from "../util/fs.ts";
import type { HelperCommand } from "./helpers.ts";
import { socketDirs } from "./jail/view.ts";

/** netd binds its ports and sockets in milliseconds; a loaded machine gets ample slack. */
const READY_TIMEOUT_MS = 10_000;

/** Programs already seen to load, so each process checks once. */
const loads = new Set<string>();

/**
 * Fails with what to install when netd cannot start on this host: it links the system's
 * libslirp (QEMU's own), and a host without it would otherwise fail every box's start with
 * the dynamic loader's words. Run without arguments, netd loads, prints its usage and
 * exits 2; a loader failure exits 127. A program that loaded is not run again in this host
 * boot (`<program>.loads` holds the boot's id): running it costs every box's start a few
 * milliseconds. Should libslirp go within the boot, a start fails with the helper's own exit
 * and the loader's words instead.
 */
export function checkNetdLoads(program: string): void {
  if (loads.has(program)) return;
  const marker = `${program}.loads`;
  const bootId = readHostBootId();
  if (readMarker(marker) === bootId) {
    loads.add(program);
    return;
  }
  const run = Bun.spawnSync([program], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  if (run.exitCode === 127 || run.exitCode === 126) {
    const why = run.stderr.toString().trim().split("\n").at(-1) ?? "";
    throw new BoxliteError(
      "missing_dependency",
      `the box's network process cannot start (${why}); install libslirp0 (apt-get install libslirp0), or create the box with --network disabled`,
    );
  }
  loads.add(program);
  try {
    writeFileSync(marker, bootId);
  } catch {
    // Checked again by the next process: nothing lost.
  }
}

function readMarker(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

export async function prepareNetd(config: Config): Promise<string> {
  const bytes = await Bun.file(netdPath).bytes();
  const program = await cachedFile(join(config.runtimeDir, "bin", `netd-${sha256Hex(bytes).slice(0, 12)}`), async (tmp) => {
    await Bun.write(tmp, bytes);
    chmodSync(tmp, 0o755);
  });
  checkNetdLoads(program);
  return program;
}

export interface NetdSpec {
  /** Where the VMM's NIC connects: the helper is ready once it exists. */
  socket: string;
  control: string;
  portsFile: string;
  /** `IP:PORT` upstream resolvers; empty: the host's /etc/resolv.conf. */
  dns: readonly string[];
  allow: readonly string[];
  /** `HOST_IP:HOST_PORT:BOX_PORT`, HOST_PORT 0 for one the OS picks. */
  publish: readonly string[];
}

export function netdHelper(program: string, spec: NetdSpec): HelperCommand {
  const repeated = (flag: string, values: readonly string[]) => values.flatMap((value) => [flag, value]);
  return {
    name: "net",
    argv: [
      program,
      "--socket",
      spec.socket,
      "--control",
      spec.control,
      "--ports-file",
      spec.portsFile,
      ...repeated("--dns", spec.dns),
      ...repeated("--allow", spec.allow),
      ...repeated("--publish", spec.publish),
    ],
    readyPath: spec.socket,
    readyTimeoutMs: READY_TIMEOUT_MS,
    // The host's network is its job, and the host's resolvers when none are given; as the box's uid, so no port below 1024.
    view: {
      readOnly: spec.dns.length === 0 ? ["/etc/resolv.conf"] : [],
      readWrite: socketDirs([spec.socket, spec.control, spec.portsFile]),
      devices: [],
      network: true,
      dropUid: true,
    },
  };
}
