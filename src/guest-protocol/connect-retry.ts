/** Connecting to the guest channel's unix socket, which its VMM may not listen on yet. */
import type { Socket } from "bun";
import { BoxliteError } from "../util/errors.ts";

/** QEMU creates the socket file (bind) a moment before it listens: a refused connect is retried this long. */
const CONNECT_RETRY_MS = 2000;
type SocketHandlers = Parameters<typeof Bun.connect<undefined>>[0]["socket"];

export async function connectWithRetry(path: string, handlers: SocketHandlers): Promise<Socket<unknown>> {
  const deadline = performance.now() + CONNECT_RETRY_MS;
  for (;;) {
    try {
      return await Bun.connect({ unix: path, socket: handlers });
    } catch (cause) {
      if (performance.now() > deadline) throw new BoxliteError("vmm_failed", `cannot connect to the guest channel at ${path}`, { cause });
      await Bun.sleep(5);
    }
  }
}
