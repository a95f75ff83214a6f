/**
 * The box file server for QEMU (host/fsd, docs/volumes.md): embedded and extracted once per
 * build, and the helper command that serves a VM's shares. libkrun serves its shares itself.
 */
import { chmodSync } from "node:fs";
import { join } from "node:path";
import fsdPath from "../../build/host/fsd.bin" with { type: "file" };
import type { Config } from "../config/config.ts";
import { BoxliteError } from "../util/errors.ts";
import { cachedFile, sha256Hex } from "../util/fs.ts";
import type { HelperCommand } from "./helpers.ts";

/** fsd opens its roots and binds its sockets in milliseconds; a loaded machine gets ample slack. */
const READY_TIMEOUT_MS = 10_000;

export async function prepareFsd(config: Config): Promise<string> {
  const bytes = await Bun.file(fsdPath).bytes();
  return cachedFile(join(config.runtimeDir, "bin", `fsd-${sha256Hex(bytes).slice(0, 12)}`), async (tmp) => {
    await Bun.write(tmp, bytes);
    chmodSync(tmp, 0o755);
  });
}

/** A directory fsd serves, named in its root (the share's virtio-fs tag elsewhere). */
export interface FsdShare {
  name: string;
  hostPath: string;
  readOnly: boolean;
  onlyName?: string;
}

/** `NAME:ROOT[:ro][:file=FILE]`: what fsd's --share takes, so the path may not hold a ':'. */
function shareArg(share: FsdShare): string {
  if (share.hostPath.includes(":"))
    throw new BoxliteError("invalid_argument", `the box file server cannot share ${share.hostPath}: a path with ':' cannot be given to it`);
  return [share.name, share.hostPath, ...(share.readOnly ? ["ro"] : []), ...(share.onlyName !== undefined ? [`file=${share.onlyName}`] : [])].join(":");
}

/** One fsd serving all of a VM's shares on one socket; ready once the socket exists. */
export function fsdHelper(program: string, socketPath: string, shares: readonly FsdShare[]): HelperCommand {
  return {
    name: "fs",
    argv: [program, "--socket", socketPath, ...shares.flatMap((share) => ["--share", shareArg(share)])],
    readyPath: socketPath,
    readyTimeoutMs: READY_TIMEOUT_MS,
  };
}
