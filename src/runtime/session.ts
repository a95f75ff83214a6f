/**
 * A box's life from start to stop, in the process that owns it (a foreground `run`, or a
 * box's supervisor): under the box's lock, boot the VM and serve the box socket to other
 * processes (exec, stop, attach), then run the main command — at once, or once a client
 * asks (a held start) — with its output going to at most one attached client
 * (guest-protocol/main-session.ts) and the owner's log. When it ends — by itself or by a
 * stop — the box is `stopping` at once (no new command is taken), then the VM is powered
 * off and the exit code recorded. Docker semantics: the box lives as long as its main command.
 */
import { rmSync } from "node:fs";
import { VERSION } from "../config/version.ts";
import type { BoxStateJson } from "../db/boxes.ts";
import type { ExitStatus } from "../guest-protocol/execution.ts";
import { type MainAttachment, type MainClient, MainSession } from "../guest-protocol/main-session.ts";
import { RelayServer } from "../guest-protocol/relay.ts";
import type { BoxOptions } from "../model/box-options.ts";
import { stoppingReason } from "../model/box-state.ts";
import { BoxliteError, isBoxliteError } from "../util/errors.ts";
import type { FileLock } from "../util/flock.ts";
import { type BootedBox, bootBox, SHUTDOWN_GRACE_MS, withConsoleTail } from "./boot.ts";
import { boxFacts, lockForStart, setBoxState } from "./box-facts.ts";
import { type BoxLayout, boxLayout } from "./box-layout.ts";
import { boxNetwork, publishedPorts } from "./box-network.ts";
import { boxShares } from "./box-volumes.ts";
import { boxImage } from "./create.ts";
import { discardBox } from "./discard.ts";
import type { Home } from "./home.ts";
import { boxHostname, processSpec } from "./options.ts";
import { recoverBoxBeforeStart } from "./disk-recovery.ts";
import { checkMemory, consumeMemory, discardMemory, findMemory, type SavedMemory } from "./box-memory.ts";
import { PauseGate } from "./pause.ts";
import { SuspendGate } from "./suspend.ts";
import { crashPoint } from "../config/crash.ts";
import { QuiesceGate } from "./quiesce.ts";
import { removeVmmPid, writeVmmPid } from "./vmm-pid.ts";
import { removeForkLeftovers } from "../disk/fork.ts";

/** Docker's default grace between SIGTERM and SIGKILL on stop. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
const SIGTERM = 15;

export interface SessionOptions {
  /** Named in "box busy" errors: "run" or "start". */
  operation: string;
  /** Gets every output byte of the main command (a supervisor's `logs/main.log`). */
  log?(chunk: Uint8Array): void;
  /** Attached before any other client can be: a foreground `run`'s terminal. */
  attach?: { client: MainClient; stdin: boolean; size?: { rows: number; cols: number } };
  /** Boot and serve the box socket, but run the main command only when a client sends START. */
  hold?: boolean;
}

export interface BoxSession {
  id: string;
  main: MainSession;
  /** `options.attach`'s hold on the main command. */
  attachment: MainAttachment | undefined;
  /**
   * Settles once the VM is gone (and an auto-remove box removed): with the main command's
   * exit, or null when the box was stopped before its main command started.
   */
  done: Promise<ExitStatus | null>;
  /** SIGTERM to the main command, then after `timeoutMs` the guest powers off (killing it); a held box powers off at once. */
  stop(timeoutMs?: number): void;
}

type Outcome = { exitCode: number | null } | { error: unknown };

/** The process's hold on one box, from its lock to its last record. */
class BoxOwner implements BoxSession {
  readonly main: MainSession;
  attachment: MainAttachment | undefined;
  done!: Promise<ExitStatus | null>;
  private relay: RelayServer | undefined;
  /** Set once the box stops taking commands: a stop was asked, or the main command ended. */
  private ending: string | undefined;
  private graceTimer: Timer | undefined;
  /** The box's state is saved (a suspend): it ends without its main command's exit. */
  private suspended = false;
  private readonly quiesce: QuiesceGate;
  private readonly pause: PauseGate;
  private readonly suspension: SuspendGate;

  constructor(
    private readonly home: Home,
    readonly id: string,
    private readonly layout: BoxLayout,
    private readonly options: BoxOptions,
    private readonly lock: FileLock,
    private readonly box: BootedBox,
    launch: ConstructorParameters<typeof MainSession>[0],
  ) {
    this.main = new MainSession(launch);
    // A paused box is not held for a snapshot (its guest cannot freeze), nor paused while held.
    this.quiesce = new QuiesceGate(home, id, box, () => this.ending ?? this.pause.refusal());
    this.pause = new PauseGate(
      home,
      id,
      box.control,
      () => this.ending,
      () => this.quiesce.isHeld,
    );
    this.suspension = new SuspendGate({
      home,
      id,
      options,
      box,
      main: this.main,
      pause: this.pause,
      relay: () => this.relay,
      ending: () => this.ending,
      quiesced: () => this.quiesce.isHeld,
    });
  }

  /** Serves the box socket and follows the main command to the box's end. */
  serve(session: SessionOptions): void {
    const { attach } = session;
    if (attach) {
      this.attachment = this.main.attach(attach.client, { stdin: attach.stdin });
      if (attach.size) this.attachment.resize(attach.size.rows, attach.size.cols);
    }
    rmSync(this.layout.boxSocket, { force: true });
    this.relay = RelayServer.listen(this.layout.boxSocket, {
      channel: this.box.channel,
      main: this.main,
      agent: `boxlite/${VERSION}`,
      onStopRequest: (timeoutMs) => this.stop(timeoutMs),
      refuseExec: () => this.refusal(),
      onQuiesce: (request) => this.quiesce.hold(request),
      onPause: () => this.pause.pause(),
      onUnpause: () => this.pause.unpause(),
      onSuspend: () => this.suspend(),
    });
    // While the main command is held nothing else watches the VM: its end ends the box.
    void this.box.vm.exited.then((exit) =>
      this.main.abort(new BoxliteError("vmm_failed", exit.reason ?? "the VM stopped before the box's main command started")),
    );
    this.done = this.main.exit.promise.then(
      async (status) => {
        await this.finish({ exitCode: status.code });
        return status;
      },
      async (error: unknown) => {
        // Stopped while held: the main command never ran, so there is no exit code.
        if (this.ending !== undefined) {
          await this.finish({ exitCode: null });
          return null;
        }
        const reported = withConsoleTail(error, this.layout);
        await this.finish({ error: reported });
        throw reported;
      },
    );
    void this.done.catch(() => {});
    if (!session.hold) this.main.start();
  }

  stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS): void {
    if (this.ending !== undefined) return;
    this.markEnding();
    this.main.markStopping();
    if (this.main.state === "held") {
      this.main.abort(new BoxliteError("conflict", `box ${this.id} was stopped before its main command started`));
      return;
    }
    this.main.signal(SIGTERM);
    // Then the guest is asked to power off; one that does not within its grace (hung, or
    // hostile: it never reads the SHUTDOWN) has its VM killed, as docker kills a container.
    this.graceTimer = setTimeout(() => {
      this.box.channel.shutdown();
      this.graceTimer = setTimeout(() => this.box.vm.kill("SIGKILL"), SHUTDOWN_GRACE_MS);
    }, timeoutMs);
  }

  /**
   * Saves the box's whole state into its directory (suspend.ts), then ends the box as a
   * stopped one: its VMM is killed, not powered off — the guest is to go on from the state.
   */
  private async suspend(): Promise<void> {
    await this.suspension.suspend();
    crashPoint(this.home.config, "suspend-saved");
    this.suspended = true;
    this.ending = `box ${this.id} was suspended; resume it with 'boxlite resume ${this.id}'`;
    setBoxState(this.home.database.db, this.id, { status: "stopping", last_updated: new Date().toISOString() });
    // Its main command is lost with the channel, and the box ends like one stopped while held (no exit code).
    this.box.vm.kill("SIGKILL");
  }

  /** Why a new command is refused now: the box is stopping (or being suspended), or paused. */
  private refusal(): { code: "stopping" | "paused"; message: string } | undefined {
    if (this.ending !== undefined) return { code: "stopping", message: this.ending };
    const suspending = this.suspension.refusal();
    if (suspending !== undefined) return { code: "stopping", message: suspending };
    const paused = this.pause.refusal();
    return paused === undefined ? undefined : { code: "paused", message: paused };
  }

  /**
   * From now on the box takes no command, and says so: the record turns `stopping` at once.
   * A paused VM goes on, so that its guest can power off; one that cannot is killed.
   */
  private markEnding(): void {
    this.ending = stoppingReason(this.id);
    setBoxState(this.home.database.db, this.id, { status: "stopping", last_updated: new Date().toISOString() });
    void this.pause.releaseForStop().catch(() => this.box.vm.kill("SIGKILL"));
  }

  private async finish(outcome: Outcome): Promise<void> {
    clearTimeout(this.graceTimer);
    // A main command that ended by itself: the window until the VM is down answers "stopping", not "running".
    if (this.ending === undefined) this.markEnding();
    // Commands still running die with the VM: their clients hear why.
    await this.relay?.close(
      this.suspended
        ? `box ${this.id} was suspended while the command ran`
        : `box ${this.id} stopped while the command ran (its main command ended, or the box was stopped)`,
    );
    await releaseBox(this.home, this.id, this.layout, this.options, this.lock, this.box, outcome);
  }
}

/** Powers the box's VM off (or kills it, when its disk is discarded next) and records how it ended. */
async function releaseBox(
  home: Home,
  id: string,
  layout: BoxLayout,
  options: BoxOptions,
  lock: FileLock,
  box: BootedBox | undefined,
  outcome: Outcome,
): Promise<void> {
  const { db } = home.database;
  try {
    rmSync(layout.boxSocket, { force: true });
    // An auto-remove box's disk is deleted next, so there is nothing to sync: skip the clean
    // power-off. A guest that broke the protocol has no channel to hear SHUTDOWN on: waiting
    // out the grace period would only keep a misbehaving VM running.
    const broken = "error" in outcome && isBoxliteError(outcome.error) && outcome.error.code === "protocol";
    await (options.autoRemove || broken ? box?.kill() : box?.stop());
    removeVmmPid(layout.dir);
    removeForkLeftovers(layout.disk);
    const now = new Date().toISOString();
    if (options.autoRemove) discardBox(home.config, home.database, id);
    else if ("exitCode" in outcome)
      setBoxState(db, id, { status: "stopped", pid: null, exit_code: outcome.exitCode, error_reason: null, published_ports: [], last_updated: now });
    else
      setBoxState(db, id, {
        status: "failed",
        pid: null,
        error_reason: outcome.error instanceof Error ? outcome.error.message : String(outcome.error),
        published_ports: [],
        last_updated: now,
      });
  } finally {
    // Whatever failed above, the box is not left locked by a process that is done with it.
    lock.release();
  }
}

/** The error of a start that was to resume the box: its saved state is gone, and the next start boots. */
function notResumed(id: string, error: unknown): BoxliteError {
  const why = error instanceof Error ? error.message : String(error);
  const code = error instanceof BoxliteError ? error.code : "vmm_failed";
  return new BoxliteError(code, `box ${id} could not be resumed from its saved state, which is discarded (the next start boots it from its disk): ${why}`, {
    cause: error,
  });
}

export async function startBox(home: Home, id: string, options: SessionOptions): Promise<BoxSession> {
  const { lock, record } = lockForStart(home, id, options.operation);
  const layout = boxLayout(home.config, id);
  const facts = boxFacts(record);
  let box: BootedBox | undefined;
  let saved: SavedMemory | undefined;
  try {
    saved = findMemory(layout.dir);
  } catch (error) {
    discardMemory(layout.dir);
    const reported = notResumed(id, error);
    await releaseBox(home, id, layout, facts.options, lock, undefined, { error: reported });
    throw reported;
  }
  try {
    recoverBoxBeforeStart(home, id);
    const image = await boxImage(home, id, facts.options.image);
    const spec = processSpec(facts.options, image.config, boxHostname(id));
    const { cpus, memoryMib } = facts.resolved;
    const network = await boxNetwork(home.config, layout, facts.resolved.network, facts.options.ports ?? []);
    const shares = boxShares(facts.options.volumes ?? [], spec.user);
    const memory = saved;
    // Once the resumed VM runs, the guest changes the disk: the state must never be loaded again.
    const resume = memory && {
      statePath: memory.statePath,
      // Checked while QEMU loads it (both read it from the page cache): the VM runs only once it holds.
      verified: checkMemory(memory),
      identity: memory.manifest.vm,
      consumed: () => {
        crashPoint(home.config, "resume-loaded");
        consumeMemory(layout.dir);
        crashPoint(home.config, "resume-consumed");
      },
    };
    resume?.verified.catch(() => {}); // awaited before the VM runs; its failure fails the boot
    box = await bootBox(home.config, {
      id,
      image,
      cpus,
      memoryMib,
      ...(network ? { network } : {}),
      devices: shares.devices,
      mounts: shares.mounts,
      ...(facts.options.capabilities ? { capabilities: facts.options.capabilities } : {}),
      ...(resume ? { resume } : {}),
      ...(memory?.manifest.hostname ? { hostname: memory.manifest.hostname } : {}),
      security: facts.resolved.security,
    });
    writeVmmPid(layout.dir, box.vm.pid);
    const state: Partial<BoxStateJson> = {
      status: "running",
      pid: box.vm.pid,
      exit_code: null,
      error_reason: null,
      vmm: box.vmm,
      published_ports: publishedPorts(layout),
      last_updated: new Date().toISOString(),
    };
    setBoxState(home.database.db, id, state);
    const booted = box;
    const owner = new BoxOwner(home, id, layout, facts.options, lock, booted, {
      tty: facts.resolved.tty,
      // Nobody attached at the start: the command's stdin is held open for whoever attaches later.
      holdStdin: !options.attach,
      // A resumed box's main command runs already: the owner takes over its stream (docs/suspend.md).
      launch: memory
        ? (_io, handlers) => booted.channel.adopt(memory.manifest.main.stream, handlers, { pid: memory.manifest.main.pid })
        : (io, handlers) => booted.channel.exec({ ...spec, create_cwd: true, tty: io.tty, stdin: io.stdin }, handlers),
      ...(options.log ? { log: options.log } : {}),
    });
    owner.serve(memory ? { ...options, hold: false } : options);
    return owner;
  } catch (error) {
    if (saved) discardMemory(layout.dir);
    const reported = saved ? notResumed(id, error) : error;
    await releaseBox(home, id, layout, facts.options, lock, box, { error: reported });
    throw reported;
  }
}
