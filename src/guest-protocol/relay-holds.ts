/**
 * The pauses one box-socket client holds (QUIESCE … RESUME, docs/guest-protocol.md): each
 * answered once the owner paused the box, released by RESUME on its stream or, for all of
 * them, when the client goes away — a client never leaves a box paused that way. A user's
 * PAUSE is the exception: it is the box's, not the client's, and lasts until UNPAUSE.
 */
import { isBoxliteError } from "../util/errors.ts";
import { FrameError, FrameType } from "./frames.ts";
import type { QuiesceRequest } from "./quiesce.ts";

/** A box held paused for a client. */
export interface QuiesceHold {
  pauseMs: number;
  release(): Promise<void>;
}

type Send = (type: FrameType, stream: number, payload: object) => void;

/** The requests only the box's owner answers, each left out by an owner that cannot. */
export interface OwnerRequests {
  /**
   * A client sent QUIESCE: pause the box (and fork its disk). Resolves once paused with
   * what resumes it, which the client's RESUME — or its disconnect — calls.
   */
  onQuiesce?(request: QuiesceRequest): Promise<QuiesceHold>;
  /** A client sent PAUSE: stop the box's VM in place until UNPAUSE or a stop, whoever asks; resolves once it is stopped. */
  onPause?(): Promise<void>;
  /** A client sent UNPAUSE: let the box's paused VM go on; resolves once it runs. */
  onUnpause?(): Promise<void>;
  /** A client sent SUSPEND_BOX: save the box's whole state and end its VM; resolves once saved. */
  onSuspend?(): Promise<void>;
}

/** An owner's failure as an ERROR payload: a BoxliteError keeps its code, so the client rethrows the same. */
function errorPayload(error: unknown): { code: string; message: string } {
  if (isBoxliteError(error)) return { code: error.code, message: error.message };
  return { code: "internal", message: error instanceof Error ? error.message : String(error) };
}

const CANNOT_PAUSE = { code: "unsupported", message: "this box's owner cannot pause it" };
const CANNOT_SUSPEND = { code: "unsupported", message: "this box's owner cannot suspend it" };

export class RelayHolds {
  private readonly holds = new Map<number, Promise<QuiesceHold | undefined>>();

  constructor(
    private readonly owner: OwnerRequests,
    private readonly send: Send,
    private readonly gone: () => boolean,
  ) {}

  quiesce(stream: number, request: QuiesceRequest): void {
    if (!this.owner.onQuiesce) {
      this.send(FrameType.ERROR, stream, CANNOT_PAUSE);
      return;
    }
    if (this.holds.has(stream)) throw new FrameError("bad_stream", `stream ${stream} is in use`);
    const held = this.owner.onQuiesce(request).then(
      (hold) => {
        // Paused for a client that left meanwhile: resume at once.
        if (this.gone()) void hold.release().catch(() => {});
        else this.send(FrameType.QUIESCE, stream, { pause_ms: hold.pauseMs });
        return hold;
      },
      (error: unknown) => {
        this.holds.delete(stream);
        this.send(FrameType.ERROR, stream, errorPayload(error));
        return undefined;
      },
    );
    this.holds.set(stream, held);
  }

  resume(stream: number): void {
    const held = this.holds.get(stream);
    if (!held) {
      this.send(FrameType.ERROR, stream, { code: "conflict", message: `stream ${stream} holds no pause` });
      return;
    }
    this.holds.delete(stream);
    void held
      .then((hold) => hold?.release())
      .then(
        () => this.send(FrameType.RESUME, stream, {}),
        (error: unknown) => this.send(FrameType.ERROR, stream, errorPayload(error)),
      );
  }

  /**
   * PAUSE, UNPAUSE or SUSPEND_BOX: answered on its stream with the same type once done, or
   * ERROR. Nothing is held for the client: the stream is free again once answered.
   */
  pause(type: typeof FrameType.PAUSE | typeof FrameType.UNPAUSE | typeof FrameType.SUSPEND_BOX, stream: number): void {
    if (this.holds.has(stream)) throw new FrameError("bad_stream", `stream ${stream} is in use`);
    const act = type === FrameType.PAUSE ? this.owner.onPause : type === FrameType.UNPAUSE ? this.owner.onUnpause : this.owner.onSuspend;
    if (!act) {
      this.send(FrameType.ERROR, stream, type === FrameType.SUSPEND_BOX ? CANNOT_SUSPEND : CANNOT_PAUSE);
      return;
    }
    act.call(this.owner).then(
      () => this.send(type, stream, {}),
      (error: unknown) => this.send(FrameType.ERROR, stream, errorPayload(error)),
    );
  }

  releaseAll(): void {
    for (const hold of this.holds.values()) void hold.then((held) => held?.release()).catch(() => {});
    this.holds.clear();
  }
}
