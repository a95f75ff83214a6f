/** How the host reaches the guest channel's other end: what connecting takes, and the socket itself. */
import type { Socket } from "bun";
import { BoxliteError } from "../util/errors.ts";
import type { GuestConfig } from "./messages.ts";
import type { WakeRequest } from "./wake.ts";

export interface ConnectOptions {
  /** How long the guest may take to answer HELLO (it may still be booting). */
  timeoutMs: number;
  /** Settles when the VM is gone: no point waiting for a HELLO then. */
  vmExited: Promise<unknown>;
  /**
   * The box's configuration, sent after HELLO; connect resolves once the guest applied it
   * (or already had it). Only the box's owner has one: a box socket refuses CONFIG.
   */
  config?: GuestConfig;
  /** The VM was restored from saved memory: WAKE is sent after HELLO, before any CONFIG. */
  wake?: WakeRequest;
  /**
   * Called once the connection exists and HELLO is sent, before waiting for the answer: a
   * restored VM is run only now (docs/templates.md, "The channel"). Called once.
   */
  opened?: () => Promise<void>;
}

export interface DialOptions {
  /** How long the other end may take to answer HELLO. */
  timeoutMs: number;
  /** Why the connection failed when the other end did not answer HELLO: it closed first, or took too long. */
  unanswered(): BoxliteError;
  /** How long a refused connect is tried again (CONNECT_RETRY_MS by default; 0: once). */
  connectRetryMs?: number;
}

/** Between a connection closed before HELLO and the next attempt. */
export const RECONNECT_PAUSE_MS = 20;

/** QEMU creates the socket file (bind) a moment before it listens: a refused connect is retried this long. */
const CONNECT_RETRY_MS = 2000;
type SocketHandlers = Parameters<typeof Bun.connect<undefined>>[0]["socket"];

export async function connectWithRetry(path: string, retryMs: number | undefined, handlers: SocketHandlers): Promise<Socket<unknown>> {
  const deadline = performance.now() + (retryMs ?? CONNECT_RETRY_MS);
  for (;;) {
    try {
      return await Bun.connect({ unix: path, socket: handlers });
    } catch (cause) {
      if (performance.now() >= deadline) throw new BoxliteError("vmm_failed", `cannot connect to the guest channel at ${path}`, { cause });
      await Bun.sleep(5);
    }
  }
}
