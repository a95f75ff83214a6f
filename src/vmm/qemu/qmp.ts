/**
 * A minimal QMP client (QEMU Machine Protocol: JSON lines over the unix socket that
 * `-qmp unix:…,server=on,wait=off` serves). One connection per request batch: QEMU serves
 * one QMP client at a time on a socket, and a box's owner is the only one that dials it.
 */
import type { Socket } from "bun";
import { BoxliteError } from "../../util/errors.ts";

/** A command's `return` value (QMP answers are JSON objects or arrays). */
export type QmpValue = unknown;

const CONNECT_TIMEOUT_MS = 5_000;
/**
 * QEMU creates its sockets one after another at start-up: the agent's (which the start waits
 * for) can come before QMP's. Looked for again every millisecond: a box restored from a
 * template waits on this before anything else, and a failed connect costs microseconds.
 */
const SOCKET_RETRY_MS = 1;
/** blockdev-add and blockdev-snapshot write and fsync a header; under TCG a loaded host is slow. */
const COMMAND_TIMEOUT_MS = 30_000;

interface Pending {
  resolve(value: QmpValue): void;
  reject(error: Error): void;
}

interface EventWaiter extends Pending {
  name: string;
  accepts(data: QmpValue): boolean;
}

/** Settles `answer`, once, clearing its `timer` (the timeout that would otherwise settle it). */
function settling(answer: PromiseWithResolvers<QmpValue>, timer: Timer): Pending {
  return {
    resolve: (value) => {
      clearTimeout(timer);
      answer.resolve(value);
    },
    reject: (error) => {
      clearTimeout(timer);
      answer.reject(error);
    },
  };
}

export class QmpClient {
  private buffered = "";
  private greeted = Promise.withResolvers<void>();
  private pending: Pending[] = [];
  private waiters: EventWaiter[] = [];
  private closedWith: Error | undefined;

  private constructor(private socket: Socket<undefined> | undefined) {}

  /** Connects, reads the greeting and leaves capabilities negotiation mode. */
  static async connect(path: string): Promise<QmpClient> {
    const client = new QmpClient(undefined);
    const timer = setTimeout(
      () => client.fail(new BoxliteError("vmm_failed", `QMP on ${path} did not greet within ${CONNECT_TIMEOUT_MS} ms`)),
      CONNECT_TIMEOUT_MS,
    );
    const deadline = performance.now() + CONNECT_TIMEOUT_MS;
    try {
      for (;;) {
        try {
          client.socket = await Bun.connect({
            unix: path,
            socket: {
              data: (_socket, bytes) => client.receive(new TextDecoder().decode(bytes)),
              close: () => client.fail(new BoxliteError("vmm_failed", `QEMU closed its QMP socket ${path}`)),
              error: (_socket, error) => client.fail(new BoxliteError("vmm_failed", `QMP socket ${path}: ${error.message}`)),
            },
          });
          break;
        } catch (cause) {
          if (performance.now() > deadline) throw cause;
          await Bun.sleep(SOCKET_RETRY_MS);
        }
      }
      await client.greeted.promise;
      await client.execute("qmp_capabilities");
      return client;
    } catch (cause) {
      client.close();
      if (cause instanceof BoxliteError) throw cause;
      throw new BoxliteError("vmm_failed", `cannot reach QEMU's QMP socket ${path}: ${String(cause)}`, { cause });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs one command; QMP answers in order, so answers are matched to requests by position. */
  execute(command: string, args?: Record<string, unknown>): Promise<QmpValue> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const answer = Promise.withResolvers<QmpValue>();
    const timer = setTimeout(
      () => this.fail(new BoxliteError("vmm_failed", `QEMU did not answer ${command} within ${COMMAND_TIMEOUT_MS} ms`)),
      COMMAND_TIMEOUT_MS,
    );
    this.pending.push(settling(answer, timer));
    this.socket?.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    return answer.promise;
  }

  /**
   * Settles with the data of the next event `name` that `accepts` takes (asked before the
   * command that causes it, so that it cannot be missed); fails with the connection, or
   * with `late` past `timeoutMs`.
   */
  nextEvent(name: string, accepts: (data: QmpValue) => boolean, timeoutMs: number, late: string): Promise<QmpValue> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const event = Promise.withResolvers<QmpValue>();
    const timer = setTimeout(() => {
      this.waiters = this.waiters.filter((other) => other !== waiter);
      waiter.reject(new BoxliteError("vmm_failed", late));
    }, timeoutMs);
    const waiter: EventWaiter = { name, accepts, ...settling(event, timer) };
    this.waiters.push(waiter);
    return event.promise;
  }

  close(): void {
    this.fail(new BoxliteError("vmm_failed", "the QMP connection was closed"));
    this.socket?.end();
  }

  private receive(text: string): void {
    this.buffered += text;
    for (let end = this.buffered.indexOf("\n"); end >= 0; end = this.buffered.indexOf("\n")) {
      const line = this.buffered.slice(0, end).trim();
      this.buffered = this.buffered.slice(end + 1);
      if (line !== "") this.handle(line);
    }
  }

  private handle(line: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.fail(new BoxliteError("vmm_failed", `QEMU sent a QMP line that is not JSON: ${line.slice(0, 200)}`));
      return;
    }
    if ("QMP" in message) {
      this.greeted.resolve();
      return;
    }
    if ("event" in message) {
      const waiter = this.waiters.find((candidate) => candidate.name === message.event && candidate.accepts(message.data));
      this.waiters = this.waiters.filter((other) => other !== waiter);
      waiter?.resolve(message.data);
      return;
    }
    const pending = this.pending.shift();
    if (!pending) return;
    if ("return" in message) {
      pending.resolve(message.return);
      return;
    }
    const error = message.error as { class?: string; desc?: string } | undefined;
    pending.reject(new BoxliteError("vmm_failed", `QEMU refused: ${error?.desc ?? line.slice(0, 200)}`));
  }

  private fail(error: Error): void {
    if (this.closedWith) return;
    this.closedWith = error;
    this.greeted.reject(error);
    void this.greeted.promise.catch(() => {});
    for (const pending of [...this.pending.splice(0), ...this.waiters.splice(0)]) pending.reject(error);
  }
}
