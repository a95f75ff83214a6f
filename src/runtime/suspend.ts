/**
 * `boxlite suspend` in the box's owner (docs/suspend.md): the guest is told that its next
 * connection is a resume (SUSPEND: the main command and detached commands go on), the VM's
 * whole state is saved into the box's directory (box-memory.ts), and the owner then ends the
 * box like a stopped one, its VMM killed. Until the saved state is renamed into place nothing
 * is final: on any failure the guest forgets the resume and the VM goes on as it was.
 */
import type { RelayServer } from "../guest-protocol/relay.ts";
import type { MainSession } from "../guest-protocol/main-session.ts";
import type { BoxOptions } from "../model/box-options.ts";
import { BoxliteError } from "../util/errors.ts";
import type { BootedBox } from "./boot.ts";
import { saveMemory } from "./box-memory.ts";
import type { Home } from "./home.ts";
import type { PauseGate } from "./pause.ts";

/** What a suspend needs of the box's owner. */
export interface SuspendOwner {
  home: Home;
  id: string;
  options: BoxOptions;
  box: BootedBox;
  main: MainSession;
  pause: PauseGate;
  relay(): RelayServer | undefined;
  /** Why the box takes no request now (it is stopping), or undefined. */
  ending(): string | undefined;
  /** Whether a QUIESCE hold (a snapshot, clone or export) has the VM stopped now. */
  quiesced(): boolean;
}

/** How long the guest may take to answer SUSPEND (it answers at once; a guest that does not is stuck). */
const GUEST_ANSWER_MS = 10_000;

/** The guest's answer, or `vmm_failed` when it does not come in time. */
async function answered(request: Promise<void>): Promise<void> {
  let timer: Timer | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BoxliteError("vmm_failed", `the guest did not answer SUSPEND within ${GUEST_ANSWER_MS / 1000} s`)), GUEST_ANSWER_MS);
  });
  try {
    await Promise.race([request, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Why new commands are refused while a suspend saves the box. */
export function suspendingReason(id: string): string {
  return `box ${id} is being suspended; resume it with 'boxlite resume ${id}' once it is`;
}

export class SuspendGate {
  private suspending = false;

  constructor(private readonly owner: SuspendOwner) {}

  /** Why commands are refused now (a suspend is saving the box), or undefined. */
  refusal(): string | undefined {
    return this.suspending ? suspendingReason(this.owner.id) : undefined;
  }

  /** Saves the box's state into its directory; resolves once it is there for good. The owner then ends the box. */
  suspend(): Promise<void> {
    return this.owner.pause.inTurn(async () => {
      const { id, box } = this.owner;
      const ending = this.owner.ending();
      if (ending !== undefined) throw new BoxliteError("conflict", ending);
      if (this.suspending) throw new BoxliteError("conflict", suspendingReason(id));
      if (this.owner.options.autoRemove) throw new BoxliteError("conflict", `box ${id} is removed when it stops (--rm): it cannot be suspended`);
      const refusal = box.control.saveRefusal();
      if (refusal !== undefined) throw new BoxliteError("unsupported", refusal);
      if (this.owner.quiesced())
        throw new BoxliteError("busy", `box ${id} is busy: it is held still for a snapshot, clone or export; try again once that is done`);
      // A box just started may not have its main command's STARTED yet: a suspend waits for it.
      if (this.owner.main.state === "running") await this.owner.main.started.promise.catch(() => {});
      const main = this.owner.main.guestStream();
      if (!main) throw new BoxliteError("conflict", `box ${id}'s main command is not running: there is nothing to suspend; stop the box instead`);
      this.suspending = true;
      // A paused guest cannot answer SUSPEND: it runs for that moment (the save stops it again).
      const paused = this.owner.pause.isPaused;
      try {
        if (paused) await box.control.resume();
        await answered(box.channel.suspend({ keep: [main.stream], orphan: this.owner.relay()?.detachedStreams() ?? [] }));
        await saveMemory(this.owner.home.config, box.layout.dir, async (statePath) => {
          const vm = await box.control.saveState(statePath);
          // Its EXIT came in before the VM stopped: the box is ending, there is nothing to resume.
          if (!this.owner.main.guestStream()) throw new BoxliteError("conflict", `box ${id}'s main command ended while it was being suspended`);
          return { vmm: box.vmm, vm, main, hostname: box.config.hostname };
        });
      } catch (error) {
        await this.giveUp(paused);
        throw error;
      }
    });
  }

  /** A suspend that failed: the guest's next connection is a plain one again, and the VM goes on — or stays paused, when a user paused it. */
  private async giveUp(paused: boolean): Promise<void> {
    const { box } = this.owner;
    this.suspending = false;
    await box.control.resume().catch(() => {});
    await answered(box.channel.suspend({ keep: [], orphan: [] })).catch(() => {});
    if (paused) await box.control.pause().catch(() => {});
  }
}
