/**
 * Ordered writes to a Bun socket: `socket.write` may take only part of a buffer, so the
 * rest waits here until the socket drains. The queue is bounded by the protocol's
 * windows, not by this class.
 */
import type { Socket } from "bun";

export class SocketWriter {
  private queue: Uint8Array[] = [];
  private drained: Array<() => void> = [];

  constructor(private readonly socket: Socket<unknown>) {}

  write(bytes: Uint8Array): void {
    this.queue.push(bytes);
    if (this.queue.length === 1) this.flush();
  }

  /** Buffers waiting for the socket to drain. */
  get pending(): number {
    return this.queue.length;
  }

  /** Settles once the queue emptied, or after `timeoutMs`. */
  whenDrained(timeoutMs: number): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, timeoutMs));
      this.drained.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Called from the socket's drain handler. */
  flush(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0] as Uint8Array;
      const written = this.socket.write(head);
      if (written < 0) return;
      if (written < head.length) {
        this.queue[0] = head.subarray(written);
        return;
      }
      this.queue.shift();
    }
    for (const wake of this.drained.splice(0)) wake();
  }
}
