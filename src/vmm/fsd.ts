/**
 * The box file server for QEMU (host/fsd, docs/volumes.md): embedded and extracted once per
 * build, and the helper command that serves a VM's shares. libkrun serves its shares itself.
 */
import { chmodSync } from "node:fs";
import { dirname, join } from "node:path";
import fsdPath from "../../build/host/fsd.bin" with { type: "file" };
import type { Config } from "../config/config.ts";
import { cachedFile, sha256Hex } from "../util/fs.ts";
import type { HelperCommand } from "./helpers.ts";
import type { Identity } from "./jail/view.ts";

/** fsd opens its roots and binds its socket in milliseconds; a loaded machine gets ample slack. */
const READY_TIMEOUT_MS = 10_000;

/** One share of fsd's device: the guest sees hostPath as the directory `name` of the device's root. */
export interface FsdShare {
  /** 1 to 36 of [A-Za-z0-9_.-], unique among the shares (fsd refuses anything else). */
  name: string;
  hostPath: string;
  readOnly: boolean;
  /** A single-file share: the only entry of hostPath the guest sees. */
  onlyName?: string;
}

export async function prepareFsd(config: Config): Promise<string> {
  const bytes = await Bun.file(fsdPath).bytes();
  return cachedFile(join(config.runtimeDir, "bin", `fsd-${sha256Hex(bytes).slice(0, 12)}`), async (tmp) => {
    await Bun.write(tmp, bytes);
    chmodSync(tmp, 0o755);
  });
}

/** A path or file name in fsd's --share: its ':' separates the parts, so ':' is %3A and '%' is %25. */
const escapeShare = (part: string) => part.replaceAll("%", "%25").replaceAll(":", "%3A");

/** `NAME:ROOT[:ro][:file=FILE]`: what fsd's --share takes. */
function shareArg(share: FsdShare): string {
  const options = [...(share.readOnly ? ["ro"] : []), ...(share.onlyName !== undefined ? [`file=${escapeShare(share.onlyName)}`] : [])];
  return [share.name, escapeShare(share.hostPath), ...options].join(":");
}

/**
 * One fsd serving all of a VM's shares on one vhost-user-fs device at socketPath; ready once
 * that socket exists. `socketOwner`: the jailed VMM's uid, when it is not fsd's (the socket is 0600).
 */
export function fsdHelper(program: string, socketPath: string, shares: readonly FsdShare[], socketOwner?: Identity): HelperCommand {
  if (shares.length === 0) throw new Error("fsdHelper needs at least one share");
  const owner = socketOwner ? ["--socket-owner", `${socketOwner.uid}:${socketOwner.gid}`] : [];
  return {
    name: "fs",
    argv: [program, "--socket", socketPath, ...owner, ...shares.flatMap((share) => ["--share", shareArg(share)])],
    readyPath: socketPath,
    readyTimeoutMs: READY_TIMEOUT_MS,
    // Its shares and its socket; it keeps boxlite's uid (with only the file capabilities), serving the user's files as the user.
    view: {
      readOnly: shares.filter((share) => share.readOnly).map((share) => share.hostPath),
      readWrite: [...shares.filter((share) => !share.readOnly).map((share) => share.hostPath), dirname(socketPath)],
      devices: [],
      network: false,
      dropUid: false,
    },
  };
}
