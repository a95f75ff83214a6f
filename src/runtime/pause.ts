/**
 * `boxlite pause` in the box's owner: the VM stopped in place — its vCPUs (QEMU: QMP `stop`;
 * libkrun: SIGSTOP of its VM process), its memory and its VMM process kept — and the box
 * `paused` until an UNPAUSE or a stop, from whichever client. Unlike a QUIESCE hold it is
 * the box's, not the asking client's, and the guest's filesystem is not frozen (docker pause
 * does not freeze it either). Pauses, unpauses and a stop's release run one at a time.
 */
import type { BoxStatus } from "../db/box-status.ts";
import { notPausedReason, pausedReason } from "../model/box-state.ts";
import { BoxliteError } from "../util/errors.ts";
import type { VmControl } from "../vmm/backend.ts";
import { setBoxState } from "./box-facts.ts";
import type { Home } from "./home.ts";

export class PauseGate {
  /** From the moment a pause starts until an unpause or a stop lets the VM go on. */
  private paused = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly home: Home,
    private readonly id: string,
    private readonly control: Pick<VmControl, "pause" | "resume">,
    /** Why the box takes no request now (it is stopping), or undefined. */
    private readonly ending: () => string | undefined,
    /** Whether a QUIESCE hold (a snapshot, clone or export) has the VM stopped now. */
    private readonly quiesced: () => boolean,
  ) {}

  /** Why commands and QUIESCE are refused now (the box is paused), or undefined. */
  refusal(): string | undefined {
    return this.paused ? pausedReason(this.id) : undefined;
  }

  pause(): Promise<void> {
    return this.serialize(async () => {
      this.refuseWhenEnding();
      if (this.paused) throw new BoxliteError("conflict", `box ${this.id} is already paused; unpause it with 'boxlite unpause ${this.id}'`);
      if (this.quiesced())
        throw new BoxliteError("busy", `box ${this.id} is busy: it is held still for a snapshot, clone or export; try again once that is done`);
      this.paused = true;
      this.record("paused");
      try {
        await this.control.pause();
      } catch (error) {
        this.paused = false;
        this.record("running");
        throw error;
      }
    });
  }

  unpause(): Promise<void> {
    return this.serialize(async () => {
      this.refuseWhenEnding();
      if (!this.paused) {
        const why = this.quiesced()
          ? `box ${this.id} is held still for a snapshot, clone or export, not paused: it goes on by itself once that is done`
          : notPausedReason(this.id, "running");
        throw new BoxliteError("conflict", why);
      }
      await this.control.resume();
      this.paused = false;
      this.record("running");
    });
  }

  /** For a stop: a paused VM goes on, so that its guest can end its command and power off. The status is the stop's. */
  releaseForStop(): Promise<void> {
    return this.serialize(async () => {
      if (!this.paused) return;
      await this.control.resume();
      this.paused = false;
    });
  }

  private refuseWhenEnding(): void {
    const why = this.ending();
    if (why !== undefined) throw new BoxliteError("conflict", why);
  }

  /** A box stopping meanwhile has moved on: its status is the stop's to say. */
  private record(status: BoxStatus): void {
    if (this.ending() === undefined) setBoxState(this.home.database.db, this.id, { status, last_updated: new Date().toISOString() });
  }

  /** Whether a user's pause has the VM stopped now. */
  get isPaused(): boolean {
    return this.paused;
  }

  /** Runs `step` in turn with pauses, unpauses and a stop's release (a suspend, docs/suspend.md). */
  inTurn(step: () => Promise<void>): Promise<void> {
    return this.serialize(step);
  }

  private serialize(step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(step);
    this.queue = run.catch(() => {});
    return run;
  }
}
