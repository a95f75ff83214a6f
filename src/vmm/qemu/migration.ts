/**
 * Saving a whole VM to a file and loading it back, with QEMU's migration over QMP
 * (docs/templates.md). QEMU 7.2 has no `file:` migration target, so the stream goes
 * through `exec:cat`; the paths are boxlite's own, quoted for the shell QEMU runs.
 */
import { BoxliteError } from "../../util/errors.ts";
import type { QmpClient } from "./qmp.ts";

/** How often the migration's progress is asked for: a template's state is ~50 KB, a suspended box's tens of MB. */
const POLL_MS = 5;
/** A migration that has not finished by then is stuck (a full 4 GiB guest writes in seconds). */
const MIGRATION_TIMEOUT_MS = 120_000;

export interface MigrationOptions {
  /**
   * Leave guest RAM out of the stream: it lives in a file of its own that QEMU maps
   * (a template's memory, docs/templates.md); QEMU's `x-ignore-shared`.
   */
  ramInFile: boolean;
}

/** A path as one shell word: boxlite's paths never hold a quote, and one that did is refused rather than mangled. */
function shellWord(path: string): string {
  if (!path.startsWith("/") || /['\0\n]/.test(path)) throw new BoxliteError("internal", `cannot hand ${JSON.stringify(path)} to QEMU's migration shell`);
  return `'${path}'`;
}

async function setCapabilities(qmp: QmpClient, options: MigrationOptions): Promise<void> {
  await qmp.execute("migrate-set-capabilities", { capabilities: [{ capability: "x-ignore-shared", state: options.ramInFile }] });
}

/** Asks `done` every POLL_MS until it holds, or fails with `late` past `timeoutMs`; `done` throws to give up at once. */
async function pollUntil(done: () => Promise<boolean>, timeoutMs: number, late: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await done())) {
    if (performance.now() > deadline) throw new BoxliteError("vmm_failed", late);
    await Bun.sleep(POLL_MS);
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
    MIGRATION_TIMEOUT_MS,
    `QEMU did not ${what} within ${MIGRATION_TIMEOUT_MS / 1000} s`,
  );
}

/** Stops the VM and writes its whole state to `path` (created or truncated). The VM stays stopped. */
export async function saveVm(qmp: QmpClient, path: string, options: MigrationOptions): Promise<void> {
  await setCapabilities(qmp, options);
  await qmp.execute("stop");
  await qmp.execute("migrate", { uri: `exec:cat > ${shellWord(path)}` });
  await waitForMigration(qmp, `save the VM to ${path}`);
}

interface StatusInfo {
  status?: string;
}

/**
 * Loads a VM started with `-incoming defer` from `path`. It stays stopped: it runs with
 * `cont` once the host's agent channel is connected (see waitForAgentClient).
 */
export async function loadVm(qmp: QmpClient, path: string, options: MigrationOptions): Promise<void> {
  await setCapabilities(qmp, options);
  await qmp.execute("migrate-incoming", { uri: `exec:cat ${shellWord(path)}` });
  await pollUntil(
    async () => {
      const { status } = (await qmp.execute("query-status")) as StatusInfo;
      if (status === "paused" || status === "running") return true;
      if (status !== "inmigrate") throw new BoxliteError("vmm_failed", `QEMU could not load the VM from ${path}: its status is ${status}`);
      return false;
    },
    MIGRATION_TIMEOUT_MS,
    `QEMU did not load the VM from ${path} within ${MIGRATION_TIMEOUT_MS / 1000} s`,
  );
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
    timeoutMs,
    "no host connected to the restored guest's channel",
  );
}
