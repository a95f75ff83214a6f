/**
 * A box's exec port (docs/guest-protocol.md, "The exec port"): a second session of its agent,
 * reached through a socket of its QEMU with no process in between, where the box socket
 * goes through the box's owner: a process hop less each way, ~0.3 ms of an exec on the
 * 2-core test machines. QEMU serves one connection at a time (the next waits unanswered in
 * its backlog), so the process that dials it holds `exec.lock` for as long as its connection
 * is open; every other process goes through the box socket. A process keeps its connection
 * for its next execs, and it serves one command at a time, as a box socket's connection does.
 */
import { existsSync } from "node:fs";
import { GuestChannel } from "../guest-protocol/client.ts";
import { FileLock } from "../util/flock.ts";
import { boxLayout } from "./box-layout.ts";
import { CONNECT_TIMEOUT_MS, noAnswer } from "./box-socket.ts";
import type { Home } from "./home.ts";

interface PortHold {
  channel: GuestChannel;
  /** A command runs over it. */
  busy: boolean;
}

/** The exec ports this process holds, per home and box, until their connection closes. */
const holds = new WeakMap<Home, Map<string, PortHold>>();

/** Whether this process holds box `id`'s exec port: then its VM runs (its QEMU ends the connection when it goes). */
export function holdsExecPort(home: Home, id: string): boolean {
  return holds.get(home)?.has(id) ?? false;
}

/**
 * The exec port's connection for one command, or undefined: this process's own when it is
 * idle; a new one when no process holds the port (and the box's VM has one: QEMU's do).
 * Given back with releaseExecPort once the command ended.
 */
export async function takeExecPort(home: Home, id: string): Promise<GuestChannel | undefined> {
  const boxes = holds.get(home) ?? new Map<string, PortHold>();
  holds.set(home, boxes);
  const held = boxes.get(id);
  // One whose VM went (a suspend, a stop) is forgotten as its close is handled, which may not have happened yet.
  if (held && !held.channel.isClosed) {
    if (held.busy) return undefined;
    held.busy = true;
    held.channel.keepProcessAlive(true);
    return held.channel;
  }
  const layout = boxLayout(home.config, id);
  if (!existsSync(layout.execSocket)) return undefined;
  // Whatever keeps this process from the port — its lock taken, its socket refused (left by a VM
  // that is gone, or by another VMM's run of the box), the box's directory gone — the box
  // socket is the way, and says what is wrong if anything is.
  let lock: FileLock | undefined;
  try {
    const attempt = FileLock.tryAcquire(layout.execLock, "exec");
    if (!(attempt instanceof FileLock)) return undefined;
    lock = attempt;
    const unanswered = () => noAnswer(home, id, () => `box ${id}'s agent does not answer on its exec port ${layout.execSocket}; see 'boxlite ls -a'`);
    const channel = await GuestChannel.dial(layout.execSocket, { timeoutMs: CONNECT_TIMEOUT_MS, unanswered, connectRetryMs: 0 });
    return holdPort(boxes, id, channel, lock);
  } catch {
    lock?.release();
    return undefined;
  }
}

/** The port is this process's while `channel` is open. */
function holdPort(boxes: Map<string, PortHold>, id: string, channel: GuestChannel, lock: FileLock): GuestChannel {
  const entry = { channel, busy: true };
  boxes.set(id, entry);
  void channel.closed.then(() => {
    lock.release();
    if (boxes.get(id) === entry) boxes.delete(id);
  });
  return channel;
}

/** The command over the exec port's connection ended: the connection waits for the next one, not keeping the process alive. */
export function releaseExecPort(home: Home, id: string, channel: GuestChannel): void {
  const held = holds.get(home)?.get(id);
  if (held?.channel !== channel) return;
  held.busy = false;
  channel.keepProcessAlive(false);
}
