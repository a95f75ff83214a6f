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
import type { SharedDirDevice } from "./devices.ts";
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

/** `SOCKET:ROOT[:ro][:file=NAME]`: what fsd's --share takes, so neither path may hold a ':'. */
function shareArg(share: SharedDirDevice): string {
  for (const path of [share.socketPath, share.hostPath])
    if (path.includes(":")) throw new BoxliteError("invalid_argument", `the box file server cannot share ${path}: a path with ':' cannot be given to it`);
  return [share.socketPath, share.hostPath, ...(share.readOnly ? ["ro"] : []), ...(share.onlyName !== undefined ? [`file=${share.onlyName}`] : [])].join(":");
}

/** One fsd for all of a VM's shares; it is ready once the last share's socket exists (it binds them in order). */
export function fsdHelper(program: string, shares: readonly SharedDirDevice[]): HelperCommand {
  const last = shares.at(-1);
  if (!last) throw new Error("fsdHelper needs at least one share");
  return {
    name: "fs",
    argv: [program, ...shares.flatMap((share) => ["--share", shareArg(share)])],
    readyPath: last.socketPath,
    readyTimeoutMs: READY_TIMEOUT_MS,
  };
}
