/**
 * Saving a whole VM to a file and loading it back, with QEMU's migration over QMP
 * (docs/templates.md). QEMU 7.2 has no `file:` migration target: a save streams over a
 * unix socket beside the QMP one, and boxlite writes it to the file; a load reads the file
 * from a descriptor QEMU inherited (`fd:`, process.ts VMM_FILE_FD). QEMU never opens a
 * state file, nor runs a program for it (`exec:cat` would): a jailed QEMU has no shell in
 * view and may not spawn one (docs/security.md).
 */
import { createWriteStream, rmSync } from "node:fs";
import type { Server, Socket } from "node:net";
import { dirname, join } from "node:path";
import { BoxliteError } from "../../util/errors.ts";
import { giveToDirOwner } from "../jail/jail.ts";
import { VMM_FILE_FD } from "../process.ts";
import type { QmpClient } from "./qmp.ts";

/** How often a save's progress is asked for: a template's state is ~50 KB, a suspended box's tens of MB (each question is work for QEMU's main loop). */
const SAVE_POLL_MS = 5;
/**
 * How often, once the state is loaded, the agent channel's state is asked for: a box's start
 * waits on it, so a coarser look would add most of one to every restore.
 */
const CHANNEL_POLL_MS = 1;
/** A migration that has not finished by then is stuck (a full 4 GiB guest writes in seconds). */
const MIGRATION_TIMEOUT_MS = 120_000;

export interface MigrationOptions {
  /**
   * Leave guest RAM out of the stream: it lives in a file of its own that QEMU maps
   * (a template's memory, docs/templates.md); QEMU's `x-ignore-shared`.
   */
  ramInFile: boolean;
}

/** Where the migration stream of the VM whose QMP socket is `qmpSocket` flows: beside it, inside what a jailed QEMU sees. */
export function migrationSocketOf(qmpSocket: string): string {
  return join(dirname(qmpSocket), "migrate.sock");
}

/** Listens on `socketPath` for QEMU's one migration connection and writes what it sends to `path`. */
async function receiveInto(socketPath: string, path: string): Promise<{ server: Server; written: Promise<void> }> {
  rmSync(socketPath, { force: true });
  // Loaded on use, as every node:net and node:stream user does (decompress.ts says why).
  const [{ createServer }, { pipeline }] = await Promise.all([import("node:net"), import("node:stream/promises")]);
  const accepted = Promise.withResolvers<Socket>();
  const server = createServer((socket) => accepted.resolve(socket));
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(socketPath, resolve));
  giveToDirOwner(socketPath);
  const written = accepted.promise.then((socket) => pipeline(socket, createWriteStream(path)));
  return { server, written };
}

async function setCapabilities(qmp: QmpClient, options: MigrationOptions): Promise<void> {
  // `events`: QEMU says when a migration's status changes (MIGRATION), which a load waits for.
  await qmp.execute("migrate-set-capabilities", {
    capabilities: [
      { capability: "x-ignore-shared", state: options.ramInFile },
      { capability: "events", state: true },
    ],
  });
}

/** Asks `done` every `everyMs` until it holds, or fails with `late` past `timeoutMs`; `done` throws to give up at once. */
async function pollUntil(done: () => Promise<boolean>, everyMs: number, timeoutMs: number, late: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await done())) {
    if (performance.now() > deadline) throw new BoxliteError("vmm_failed", late);
    await Bun.sleep(everyMs);
  }
}

interface MigrationInfo {
  status?: string;
  "error-desc"?: string;
}

async function waitForMigration(qmp: QmpClient, what: string): Promise<void> {
  await pollUntil(
    async () => {
      const info = (await qmp.execute("query-migrate")) as MigrationInfo;
      if (info.status === "failed" || info.status === "cancelled")
        throw new BoxliteError("vmm_failed", `QEMU could not ${what}: ${info["error-desc"] ?? info.status}`);
      return info.status === "completed";
    },
    SAVE_POLL_MS,
    MIGRATION_TIMEOUT_MS,
    `QEMU did not ${what} within ${MIGRATION_TIMEOUT_MS / 1000} s`,
  );
}

/** Stops the VM and writes its whole state to `path` (created or truncated). The VM stays stopped. */
export async function saveVm(qmp: QmpClient, qmpSocket: string, path: string, options: MigrationOptions): Promise<void> {
  await setCapabilities(qmp, options);
  await qmp.execute("stop");
  const socketPath = migrationSocketOf(qmpSocket);
  const { server, written } = await receiveInto(socketPath, path);
  try {
    await qmp.execute("migrate", { uri: `unix:${socketPath}` });
    await waitForMigration(qmp, `save the VM to ${path}`);
    // QEMU closed its end once completed: the file has all of it once the pipe is drained.
    await written;
  } finally {
    server.close();
    rmSync(socketPath, { force: true });
  }
}

interface StatusInfo {
  status?: string;
}

/** The statuses a load ends in (QMP MigrationStatus). */
const LOAD_ENDS = ["completed", "failed", "cancelled"];

/**
 * Loads a VM started with `-incoming defer` from the state file `path` it was given open as
 * VMM_FILE_FD. It stays stopped: it runs with `cont` once the host's agent channel is
 * connected (see waitForAgentClient).
 */
export async function loadVm(qmp: QmpClient, path: string, options: MigrationOptions): Promise<void> {
  await setCapabilities(qmp, options);
  // Waited for as an event, not by asking: the load runs in QEMU's main loop, which every
  // question interrupts (asked each millisecond, a suspended box's 50 MB loaded ≈ 15 % slower).
  const ended = qmp.nextEvent(
    "MIGRATION",
    (data) => LOAD_ENDS.includes((data as StatusInfo | undefined)?.status ?? ""),
    MIGRATION_TIMEOUT_MS,
    `QEMU did not load the VM from ${path} within ${MIGRATION_TIMEOUT_MS / 1000} s`,
  );
  ended.catch(() => {}); // awaited below, unless the load could not even start
  // Read by QEMU itself: streamed through boxlite over a socket instead, a suspended box's
  // tens of MB took 100–260 ms to load where the descriptor takes 30–40 (docs/suspend.md).
  await qmp.execute("migrate-incoming", { uri: `fd:${VMM_FILE_FD}` });
  const { status } = (await ended) as StatusInfo;
  if (status !== "completed") throw new BoxliteError("vmm_failed", `QEMU could not load the VM from ${path}: the load ${status}`);
}

interface ChardevInfo {
  label?: string;
  filename?: string;
}

/**
 * Waits until a host is connected to the agent's channel (chardev `agent`): QEMU names a
 * listening socket chardev `disconnected:…` until a client is accepted. A restored guest
 * is run only then — it was saved with a host connected, and a connection made after it
 * runs again can go unnoticed by the guest (docs/templates.md, "The channel").
 */
export async function waitForAgentClient(qmp: QmpClient, timeoutMs: number): Promise<void> {
  await pollUntil(
    async () => {
      const chardevs = (await qmp.execute("query-chardev")) as ChardevInfo[];
      const agent = chardevs.find((chardev) => chardev.label === "agent");
      return agent?.filename !== undefined && !agent.filename.startsWith("disconnected:");
    },
    CHANNEL_POLL_MS,
    timeoutMs,
    "no host connected to the restored guest's channel",
  );
}
