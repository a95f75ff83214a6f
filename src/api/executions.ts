/**
 * The REST server's executions: commands it started in boxes through their box sockets
 * (the server is one more client of each box's owner), keyed by an id it mints, each with
 * a replay backlog for (re)attaching clients (execution.ts), and the orphan reaper of
 * the reference's serve: a periodic tick sends SIGHUP to an execution nobody came back to within
 * the reconnect grace, SIGTERM a shutdown grace later, then SIGKILL and eviction; finished
 * executions are evicted after five minutes; a hard cap on an execution's life kills it
 * outright. A box's main session (GET /v1/boxes/{id}/attach) is one more execution, under
 * the box's id, that the reaper leaves alone: killing it would kill the box.
 */
import { ulid } from "ulid";
import { DEFAULT_TTY_SIZE } from "../guest-protocol/main-session.ts";
import type { Boxlite } from "../runtime/boxlite.ts";
import { BoxliteError } from "../util/errors.ts";
import { STDERR, STDOUT, TrackedExecution } from "./execution.ts";

export { type ExecutionClient, type ExecutionInfo, type ExecutionStatus, TrackedExecution } from "./execution.ts";

const SIGHUP = 1;
const SIGKILL = 9;
const SIGTERM = 15;
/** DELETE waits this long for the command to die (then 504, as the reference). */
const KILL_TIMEOUT_MS = 10_000;
/** `close` waits this long for the box connections to wind down. */
const CLOSE_TIMEOUT_MS = 5_000;

/** The reaper's clock; the defaults are the reference's (BOXLITE_RECONNECT_GRACE and friends). */
export interface ExecutionRegistryOptions {
  /** How often the reaper looks (30 s). */
  tickMs?: number;
  /** How long an execution without a client waits for one before SIGHUP (300 s). */
  reconnectGraceMs?: number;
  /** From SIGHUP to SIGTERM, and from SIGTERM to SIGKILL and eviction (30 s each). */
  shutdownGraceMs?: number;
  /** Killed outright past this age, attached or not (24 h). */
  maxLifetimeMs?: number;
  /** A finished execution stays readable this long (5 min). */
  completedTtlMs?: number;
}

/** How many reaped ids are remembered for their 410. */
const REAPED_MEMORY = 1000;

const DEFAULTS: Required<ExecutionRegistryOptions> = {
  tickMs: 30_000,
  reconnectGraceMs: 300_000,
  shutdownGraceMs: 30_000,
  maxLifetimeMs: 86_400_000,
  completedTtlMs: 300_000,
};

/** A command to start, in the runtime's terms (routes/executions.ts maps the contract's ExecRequest). */
export interface StartExecution {
  command: string[];
  /** `KEY=VALUE` entries over the box's environment. */
  env?: string[];
  workdir?: string;
  tty?: boolean;
  timeoutMs?: number;
  /** Written to stdin, which is then closed; without it stdin stays open for an attached client. */
  stdin?: string;
}

async function within<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: Timer | undefined;
  const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class ExecutionRegistry {
  private readonly executions = new Map<string, TrackedExecution>();
  /** Ids the reaper ended, newest last (bounded): asked for again, they are 410, not 404. */
  private readonly reaped = new Set<string>();
  private readonly options: Required<ExecutionRegistryOptions>;
  private readonly timer: Timer;

  constructor(
    private readonly runtime: Boxlite,
    options: ExecutionRegistryOptions = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.timer = setInterval(() => this.reap(), this.options.tickMs);
    // The reaper alone must not keep a process alive.
    this.timer.unref();
  }

  /**
   * Starts a command in a box (booted first where the state machine says so: a box on its
   * image's default command) and tracks it. Resolves once the command exists — or has
   * already exited, as with an unknown user, whose status then says why.
   */
  async start(boxRef: string, request: StartExecution): Promise<TrackedExecution> {
    const boxId = (await this.runtime.getBox(boxRef)).box_id;
    const tracked = new TrackedExecution(ulid().toLowerCase(), boxId, request.tty ?? false);
    const exec = await this.runtime.exec(
      boxId,
      {
        command: request.command,
        ...(request.env ? { env: request.env } : {}),
        ...(request.workdir !== undefined ? { workdir: request.workdir } : {}),
        ...(request.tty ? { tty: { ...DEFAULT_TTY_SIZE } } : {}),
        ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {}),
        stdin: true,
      },
      { onStdout: (chunk) => tracked.output(STDOUT, chunk), onStderr: (chunk) => tracked.output(STDERR, chunk) },
    );
    tracked.bind(exec);
    try {
      await exec.execution.started.promise;
    } catch (error) {
      // Refused by the box (no exit at all): nothing to track.
      const exited = await exec.done.then(
        () => true,
        () => false,
      );
      if (!exited) throw error;
    }
    if (request.stdin !== undefined) {
      void tracked.writeStdin(new TextEncoder().encode(request.stdin)).catch(() => {});
      void tracked.closeStdin().catch(() => {});
    }
    this.executions.set(tracked.id, tracked);
    return tracked;
  }

  /**
   * Attaches to box `boxRef`'s main command — the runtime boots the box held first when it
   * is not running (its main command then waits for `startMain`) — and tracks it as an execution
   * whose id is the box's; its attach slot is reserved for the caller. `conflict` when a
   * client is attached already (here, or to the box's owner from elsewhere).
   */
  async attachMain(boxRef: string): Promise<TrackedExecution> {
    const box = await this.runtime.getBox(boxRef);
    const known = this.executions.get(box.box_id);
    if (known?.isMain && known.isRunning) {
      known.reserve();
      return known;
    }
    // The id of the box: stable across restarts (the reference reuses its container's), and known to the client.
    const tracked = new TrackedExecution(box.box_id, box.box_id, false, true);
    const connection = await this.runtime.attachMain(box.box_id, {
      onStdout: (chunk) => tracked.output(STDOUT, chunk),
      onStderr: (chunk) => tracked.output(STDERR, chunk),
    });
    tracked.tty = connection.attached.tty;
    tracked.bind(
      { execution: connection.execution, done: connection.done.then((status) => ({ ...status, timedOut: false })), close: connection.close },
      connection.start,
    );
    tracked.reserve();
    this.executions.set(tracked.id, tracked);
    return tracked;
  }

  /**
   * Runs box `boxId`'s held main command: on the connection of its main session when this
   * server holds one (so it follows what the client sent there, a resize say), else on a
   * new one. Nothing happens when it already runs.
   */
  async startMain(boxId: string): Promise<void> {
    const main = this.executions.get(boxId);
    if (main?.isMain && main.isRunning) return main.start();
    await this.runtime.startMain(boxId);
  }

  /** Execution `executionId` of box `boxRef` (an id, name or id prefix); 404 when either is unknown or they do not match. */
  async find(boxRef: string, executionId: string): Promise<TrackedExecution> {
    const tracked = this.executions.get(executionId);
    // An auto-delete box is gone as soon as its main command ended; its session's status is still asked for.
    const box = await this.runtime.getBox(boxRef).catch((error: unknown) => {
      if (tracked?.isMain && tracked.boxId === boxRef && error instanceof BoxliteError && error.code === "not_found") return { box_id: boxRef };
      throw error;
    });
    if (!tracked && this.reaped.has(executionId)) {
      throw new BoxliteError("session_reaped", `execution ${executionId} was ended by the server's reaper: nobody attached to it within the reconnect grace`);
    }
    if (!tracked || tracked.boxId !== box.box_id) throw new BoxliteError("not_found", `no execution ${JSON.stringify(executionId)} in box ${box.box_id}`);
    return tracked;
  }

  /** SIGKILL, wait for the exit (the attached client gets it), and forget the execution. */
  async kill(tracked: TrackedExecution): Promise<void> {
    if (tracked.isRunning) {
      tracked.killRequested = true;
      tracked.signal(SIGKILL);
      if ((await within(tracked.whenEnded, KILL_TIMEOUT_MS)) === "timeout") {
        throw new BoxliteError("guest_timeout", `execution ${tracked.id} did not die within ${KILL_TIMEOUT_MS / 1000} s of SIGKILL; try again`);
      }
    }
    this.evict(tracked);
  }

  /** One reaper tick at `now` (the timer calls it; tests may too). */
  reap(now: number = Date.now()): void {
    const { reconnectGraceMs, shutdownGraceMs, maxLifetimeMs, completedTtlMs } = this.options;
    for (const tracked of this.executions.values()) {
      if (!tracked.isRunning) {
        if (now - (tracked.endedAt ?? now) >= completedTtlMs) this.executions.delete(tracked.id);
        continue;
      }
      // The main session is the box's life: only a stop ends it.
      if (tracked.isMain) continue;
      if (now - tracked.startedAt.getTime() >= maxLifetimeMs) {
        tracked.killRequested = true;
        tracked.signal(SIGKILL);
        continue;
      }
      // An attached client is a live session; attaching again resets the stages.
      if (tracked.isAttached) continue;
      if (tracked.reapStage === "none") {
        if (now - (tracked.detachedSince ?? now) < reconnectGraceMs) continue;
        tracked.signal(SIGHUP);
        tracked.reapStage = "hup";
        tracked.reapStageAt = now;
      } else if (now - tracked.reapStageAt >= shutdownGraceMs) {
        if (tracked.reapStage === "hup") {
          tracked.signal(SIGTERM);
          tracked.reapStage = "term";
          tracked.reapStageAt = now;
        } else {
          tracked.killRequested = true;
          tracked.signal(SIGKILL);
          this.evict(tracked);
          this.remember(tracked.id);
        }
      }
    }
  }

  /** Stops the reaper, closes attached clients with 1001 (going away) and ends every execution. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const ends: Promise<void>[] = [];
    for (const tracked of this.executions.values()) {
      // The client first, so it hears "going away" rather than the execution's loss.
      tracked.dropClient(1001, "the server is shutting down");
      if (!tracked.isRunning) continue;
      tracked.disconnect();
      ends.push(tracked.whenEnded);
    }
    this.executions.clear();
    await within(Promise.all(ends), CLOSE_TIMEOUT_MS);
  }

  private remember(id: string): void {
    this.reaped.add(id);
    if (this.reaped.size > REAPED_MEMORY) this.reaped.delete(this.reaped.values().next().value as string);
  }

  private evict(tracked: TrackedExecution): void {
    this.executions.delete(tracked.id);
    // Closing its box connection makes the box's owner kill a command still running.
    if (tracked.isRunning) tracked.disconnect();
  }
}
