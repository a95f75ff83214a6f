/**
 * The network process beside a box's VMM (host/netd, docs/network.md), embedded and
 * extracted once per build, and the helper command that runs it for one box.
 */
import { chmodSync } from "node:fs";
import { join } from "node:path";
import netdPath from "../../build/host/netd.bin" with { type: "file" };
import type { Config } from "../config/config.ts";
import { cachedFile, sha256Hex } from "../util/fs.ts";
import type { HelperCommand } from "./helpers.ts";

/** netd binds its ports and sockets in milliseconds; a loaded machine gets ample slack. */
const READY_TIMEOUT_MS = 10_000;

export async function prepareNetd(config: Config): Promise<string> {
  const bytes = await Bun.file(netdPath).bytes();
  return cachedFile(join(config.runtimeDir, "bin", `netd-${sha256Hex(bytes).slice(0, 12)}`), async (tmp) => {
    await Bun.write(tmp, bytes);
    chmodSync(tmp, 0o755);
  });
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
  };
}
