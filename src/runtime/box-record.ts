/**
 * A new box as stored in the home database, in the reference's JSON shapes (BoxConfig,
 * BoxState, BoxOptions as serde writes them), so that the reference reads our boxes and
 * we read its boxes. The options go in through the one codec (model/codec.ts).
 */
import { randomBytes } from "node:crypto";
import type { BoxConfigJson, BoxStateJson } from "../db/boxes.ts";
import { recordWith } from "../model/codec.ts";
import type { ResolvedOptions } from "./options.ts";

/**
 * The reference's `VmmKind`: the only values it reads are "Libkrun" and "Firecracker", and
 * its local runtime is libkrun. Which VMM really ran a box (qemu or krun) is our own
 * `vmm` field of BoxState, written at each start.
 */
const ENGINE_KIND = "Libkrun";

/** BoxOptions as serde writes them when nothing is set: the base a new record's options are written into. */
const SERDE_DEFAULTS = {
  cpus: null,
  memory_mib: null,
  disk_size_gb: null,
  working_dir: null,
  env: [],
  volumes: [],
  network: { Enabled: { allow_net: [] } },
  ports: [],
  auto_remove: false,
  auto_delete: null,
  detach: false,
  entrypoint: null,
  cmd: null,
  user: null,
  tty: false,
  secrets: [],
};

export function newBoxConfig(id: string, options: ResolvedOptions & { image?: string; rootfsPath?: string }, boxHome: string): BoxConfigJson {
  const base: BoxConfigJson = {
    id,
    name: null,
    created_at: new Date().toISOString(),
    container: { id: randomBytes(32).toString("hex") },
    options: { ...SERDE_DEFAULTS },
    engine_kind: ENGINE_KIND,
    box_home: boxHome,
  };
  return recordWith(base, options);
}

export function newBoxState(status: BoxStateJson["status"]): BoxStateJson {
  return {
    status,
    pid: null,
    container_id: null,
    last_updated: new Date().toISOString(),
    lock_id: null,
    health_status: { state: "None", failures: 0, last_check: null },
    error_reason: null,
    exit_code: null,
  };
}
