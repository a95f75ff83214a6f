/**
 * A box as stored in the home database, in the reference's JSON shapes (BoxConfig,
 * BoxState, BoxOptions as serde writes them), so that the reference reads our boxes and
 * we read its boxes.
 */
import { randomBytes } from "node:crypto";
import type { BoxConfigJson, BoxStateJson } from "../db/boxes.ts";
import type { RunOptions } from "./options.ts";

export interface NewBox {
  id: string;
  name: string | null;
  image: string;
  options: RunOptions;
  cpus: number;
  memoryMib: number;
  boxHome: string;
}

function envPairs(env: readonly string[]): Array<[string, string]> {
  return env.map((entry) => {
    const eq = entry.indexOf("=");
    return [entry.slice(0, eq), entry.slice(eq + 1)];
  });
}

export function newBoxConfig(box: NewBox): BoxConfigJson {
  const { options } = box;
  return {
    id: box.id,
    name: box.name,
    created_at: new Date().toISOString(),
    container: { id: randomBytes(32).toString("hex") },
    options: {
      cpus: box.cpus,
      memory_mib: box.memoryMib,
      disk_size_gb: null,
      working_dir: options.workdir ?? null,
      env: envPairs(options.env ?? []),
      rootfs: options.rootfs !== undefined ? { RootfsPath: box.image } : { Image: box.image },
      volumes: [],
      network: { Enabled: { allow_net: [] } },
      ports: [],
      auto_remove: options.autoRemove ?? false,
      detach: false,
      entrypoint: options.entrypoint ?? null,
      cmd: options.command && options.command.length > 0 ? options.command : null,
      user: options.user ?? null,
      tty: options.tty !== undefined,
    },
    engine_kind: "qemu",
    box_home: box.boxHome,
  };
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

const stringOr = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const stringsOr = (value: unknown): string[] | undefined => (Array.isArray(value) && value.every((item) => typeof item === "string") ? value : undefined);

/**
 * The options a stored box starts with again (`start`, a detached supervisor): what
 * newBoxConfig wrote, or what the reference wrote (unknown fields are ignored).
 */
export function runOptionsOf(config: BoxConfigJson): RunOptions {
  const options = config.options;
  const run: RunOptions = { autoRemove: options.auto_remove === true };
  const env = Array.isArray(options.env)
    ? options.env.filter((pair): pair is [string, string] => Array.isArray(pair) && typeof pair[0] === "string" && typeof pair[1] === "string")
    : [];
  run.env = env.map(([key, value]) => `${key}=${value}`);
  const command = stringsOr(options.cmd);
  const entrypoint = stringsOr(options.entrypoint);
  const workdir = stringOr(options.working_dir);
  const user = stringOr(options.user);
  if (command) run.command = command;
  if (entrypoint) run.entrypoint = entrypoint;
  if (workdir !== undefined) run.workdir = workdir;
  if (user !== undefined) run.user = user;
  if (typeof options.cpus === "number") run.cpus = options.cpus;
  if (typeof options.memory_mib === "number") run.memoryMib = options.memory_mib;
  return run;
}
