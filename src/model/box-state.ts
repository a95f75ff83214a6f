/**
 * The box state machine: for each status, what each request does — act on the box as it
 * is, do nothing (it is already so), boot it first, or refuse with a reason — and which
 * status may follow which. One table for the runtime, the REST routes and the REST client,
 * so every surface answers a request on a box the same way.
 */
import type { BoxStatus } from "../db/box-status.ts";
import { BoxliteError } from "../util/errors.ts";

/**
 * The statuses that claim a VM process: running, paused, and stopping (a stop in
 * progress, so a supervisor that died mid-stop is noticed). A Set, asked directly: `ls`
 * asks it for each of thousands of boxes, and a lookup costs less than a call there.
 */
export const CLAIMS_VM: ReadonlySet<BoxStatus> = new Set<BoxStatus>(["running", "paused", "stopping"]);

/** Running or paused: a VM process exists and the box is not on its way down (what `ls` shows without -a). */
export function isActiveStatus(status: BoxStatus): boolean {
  return status === "running" || status === "paused";
}

export type BoxAction = "start" | "stop" | "exec" | "copy" | "attach" | "remove" | "snapshot" | "pause" | "unpause" | "suspend" | "stats" | "tunnel";

/**
 * `act`: go ahead. `noop`: the box is already as asked: succeed without doing anything.
 * `boot`: the request needs the VM: boot the box first — unless that would run a main
 * command the user chose again (a box on its image's default command is booted, as the
 * reference does for its create-then-exec model). `force`: only when forced (`rm -f`).
 * `refuse`: a conflict, with the reason.
 */
type Rule = "act" | "noop" | "boot" | "force" | { refuse: (box: BoxFacts) => string };

/** What a decision needs to know of a box (a record, or the REST Box plus what the server knows). */
export interface BoxFacts {
  id: string;
  name: string | null;
  status: BoxStatus;
  /** The box runs a command the user gave (cmd or entrypoint), not its image's default. */
  userCommand: boolean;
}

export type Decision = "act" | "noop" | "boot";

/**
 * A box as a REST answer shows it. Whether its command is the user's is not in it, so these
 * facts serve only the requests that do not depend on that (start, stop, stats); the
 * server decides the others.
 */
export function factsOfView(view: { box_id: string; name: string | null; status: BoxStatus }): BoxFacts {
  return { id: view.box_id, name: view.name, status: view.status, userCommand: false };
}

const ref = (box: BoxFacts) => box.name ?? box.id;

/** Why a stopping box takes no request: the state machine's words, which the box's owner also answers with. */
export function stoppingReason(id: string): string {
  return `box ${id} is stopping; wait until it has stopped ('boxlite ls -a'), then try again`;
}

/** Why a paused box takes no request but stop, rm -f, stats and unpause: the state machine's words, which its owner also answers with. */
export function pausedReason(id: string, name: string = id): string {
  return `box ${id} is paused; unpause it with 'boxlite unpause ${name}' first`;
}

/** Why unpause is refused: the box is not paused (the owner says so too, of a box the record calls running). */
export function notPausedReason(id: string, status: BoxStatus): string {
  return `box ${id} is ${status}, not paused; only a box paused with 'boxlite pause' can be unpaused`;
}

const stopping = { refuse: (box: BoxFacts) => stoppingReason(box.id) };
const paused = { refuse: (box: BoxFacts) => pausedReason(box.id, ref(box)) };
const notRunning = { refuse: (box: BoxFacts) => `box ${box.id} is ${box.status}, not running; start it with 'boxlite start ${ref(box)}'` };
const notPaused = { refuse: (box: BoxFacts) => notPausedReason(box.id, box.status) };
const notSuspendable = {
  refuse: (box: BoxFacts) => `box ${box.id} is ${box.status}, not running: only a running or paused box can be suspended`,
};
const unsettled = { refuse: (box: BoxFacts) => `box ${box.id} is ${box.status}; start it with 'boxlite start ${ref(box)}' first` };

const TABLE: Record<BoxStatus, Record<BoxAction, Rule>> = {
  configured: {
    start: "act",
    stop: "noop",
    exec: "boot",
    copy: "boot",
    attach: "boot",
    remove: "act",
    snapshot: "act",
    pause: notRunning,
    unpause: notPaused,
    suspend: notSuspendable,
    stats: notRunning,
    tunnel: "boot",
  },
  running: {
    start: "noop",
    stop: "act",
    exec: "act",
    copy: "act",
    attach: "act",
    remove: "force",
    snapshot: "act",
    pause: "act",
    unpause: notPaused,
    suspend: "act",
    stats: "act",
    tunnel: "act",
  },
  stopping: {
    start: stopping,
    stop: "noop",
    exec: stopping,
    copy: stopping,
    attach: stopping,
    remove: "force",
    snapshot: stopping,
    pause: stopping,
    unpause: stopping,
    suspend: stopping,
    stats: stopping,
    tunnel: stopping,
  },
  stopped: {
    start: "act",
    stop: "noop",
    exec: "boot",
    copy: "boot",
    attach: "boot",
    remove: "act",
    snapshot: "act",
    pause: notRunning,
    unpause: notPaused,
    suspend: notSuspendable,
    stats: notRunning,
    tunnel: "boot",
  },
  // Paused by a user, or held still for a snapshot, clone or export: the owner knows which, and answers pause and unpause.
  paused: {
    start: paused,
    stop: "act",
    exec: paused,
    copy: paused,
    attach: paused,
    remove: "force",
    snapshot: paused,
    pause: "act",
    unpause: "act",
    suspend: "act",
    stats: "act",
    tunnel: paused,
  },
  // A failed box keeps its disk and its reason; only an explicit start tries again.
  failed: {
    start: "act",
    stop: "noop",
    exec: unsettled,
    copy: unsettled,
    attach: "boot",
    remove: "act",
    snapshot: "act",
    pause: notRunning,
    unpause: notPaused,
    suspend: notSuspendable,
    stats: notRunning,
    tunnel: unsettled,
  },
  unknown: {
    start: "act",
    stop: "noop",
    exec: unsettled,
    copy: unsettled,
    attach: unsettled,
    remove: "act",
    snapshot: unsettled,
    pause: notRunning,
    unpause: notPaused,
    suspend: notSuspendable,
    stats: notRunning,
    tunnel: unsettled,
  },
};

const WHAT: Record<BoxAction, string> = {
  start: "start",
  stop: "stop",
  exec: "exec",
  copy: "copying files",
  attach: "attach",
  remove: "removing",
  snapshot: "a snapshot",
  pause: "pause",
  unpause: "unpause",
  suspend: "suspend",
  stats: "stats",
  tunnel: "a tunnel",
};

/**
 * What `action` does to `box`, or a `conflict` saying why not. An attach boots a box
 * held (its main command waits for a start), so it never runs a command by itself.
 */
export function decide(box: BoxFacts, action: BoxAction, options: { force?: boolean } = {}): Decision {
  const rule = TABLE[box.status][action];
  if (rule === "act" || rule === "noop") return rule;
  if (rule === "force") {
    if (options.force) return "act";
    throw new BoxliteError("conflict", `box ${box.id} is ${box.status}; stop it first, or remove it with rm -f`);
  }
  if (rule === "boot") {
    if (!box.userCommand || action === "attach") return "boot";
    const again = box.status === "configured" ? "would run its main command, which was never started" : "would run its main command again";
    throw new BoxliteError(
      "conflict",
      `box ${box.id} is ${box.status}: ${WHAT[action]} needs it running, and booting it ${again}; start it with 'boxlite start ${ref(box)}' first`,
    );
  }
  throw new BoxliteError("conflict", rule.refuse(box));
}

/** Which status may follow which (the reference's `can_transition_to`, with its Paused bracket). */
const TRANSITIONS: Record<BoxStatus, readonly BoxStatus[]> = {
  configured: ["running", "failed", "stopped"],
  running: ["stopping", "stopped", "paused", "failed"],
  stopping: ["stopped", "failed"],
  stopped: ["running", "failed"],
  paused: ["running", "stopping", "stopped", "failed"],
  failed: ["running", "stopped", "failed"],
  unknown: ["running", "stopped", "failed"],
};

/** Whether a box may go from `from` to `to` (staying is always allowed). */
export function canTransition(from: BoxStatus, to: BoxStatus): boolean {
  return from === to || TRANSITIONS[from].includes(to);
}

/** Throws `conflict` unless the box may go from `from` to `to`. */
export function checkTransition(id: string, from: BoxStatus, to: BoxStatus): void {
  if (!canTransition(from, to)) throw new BoxliteError("conflict", `box ${id} is ${from} and cannot become ${to}; see 'boxlite ls -a'`);
}
