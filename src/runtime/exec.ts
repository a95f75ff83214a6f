/**
 * `exec`: another command in a running box, through its exec port (exec-port.ts: the agent
 * directly, when this process can have the port) or its box socket (the process that owns
 * the box relays it onto the guest channel). As with docker, the command gets the box's
 * environment (image, then `run -e`, then `exec -e`), working directory and user unless
 * told otherwise. A box that is not running is booted first when the state machine says
 * so (its image's default command), never when that would re-run a command the user chose.
 */
import type { ExecHandlers, ExitStatus, GuestExecution } from "../guest-protocol/execution.ts";
import type { ImageBase } from "../image/image.ts";
import { type BoxOptions, envFromPairs, splitEnvEntry } from "../model/box-options.ts";
import { BoxliteError } from "../util/errors.ts";
import { boxFacts } from "./box-facts.ts";
import { type BoxRecord, getBoxState, resolveExistingBox } from "../db/boxes.ts";
import { connectBox, hasIdleChannel, keepIdleChannel, takeIdleChannel } from "./box-socket.ts";
import { boxImage } from "./create.ts";
import { holdsExecPort, releaseExecPort, takeExecPort } from "./exec-port.ts";
import type { Home } from "./home.ts";
import { readyBox } from "./lifecycle.ts";
import { boxHostname, type ProcessSpec, processSpec } from "./options.ts";

const SIGTERM = 15;
const SIGKILL = 9;
/** Between the timeout's SIGTERM and its SIGKILL. */
const TIMEOUT_GRACE_MS = 2_000;

export interface ExecOptions {
  command: string[];
  env?: string[];
  workdir?: string;
  user?: string;
  tty?: { rows: number; cols: number };
  stdin?: boolean;
  /** Keep the command running after this process goes (its output is discarded). */
  detach?: boolean;
  /** After this long the command gets SIGTERM, and SIGKILL after a grace period; its exit then says `timedOut`. */
  timeoutMs?: number;
}

/** An exec's exit; `timedOut` when the timeout ended it. */
export interface ExecExit extends ExitStatus {
  timedOut: boolean;
}

export interface BoxExec {
  execution: GuestExecution;
  /** Settles with the command's exit; the connection is then kept for the next exec of this box. */
  done: Promise<ExecExit>;
  /** Closes the connection while the command runs (a detached command keeps running); nothing once it exited. */
  close(): void;
}

/** Whether a connection of ours to the box is open: its owner's, which ends its connections when its VM goes and dies with it, or its QEMU's exec port. */
function connectedTo(home: Home, id: string): boolean {
  return holdsExecPort(home, id) || hasIdleChannel(home, id);
}

/**
 * The box, ready for an exec (readyBox): its id, and its record when one was read. A running
 * box that a connection of ours reaches (connectedTo) needs no look at its VM (reconcile).
 * Nor at its whole record, given its id: reading and checking the record costs ~0.1 ms, more
 * than the rest of an exec's host side, and its status alone is what decides.
 */
async function readyForExec(home: Home, idOrName: string): Promise<{ id: string; record?: BoxRecord }> {
  if (connectedTo(home, idOrName) && getBoxState(home.database.db, idOrName)?.status === "running") return { id: idOrName };
  const record = resolveExistingBox(home.database.db, idOrName);
  if (record.status === "running" && connectedTo(home, record.id)) return { id: record.id, record };
  const ready = await readyBox(home, idOrName, "exec");
  return { id: ready.id, record: ready };
}

/** What an exec takes from its box besides the command: fixed when the box was made. */
interface ExecBasis {
  options: BoxOptions;
  image: ImageBase;
  /** A plain exec's environment, working directory and user (the box's own), once one was made. */
  plain?: Omit<ProcessSpec, "argv">;
}

/** Bases already read, per home and box id (a box's options and image never change; ids are never reused). */
const bases = new WeakMap<Home, Map<string, ExecBasis>>();
/** Beyond this many boxes the memo starts afresh: a server's home may see many over its life. */
const BASES_KEPT = 256;

async function execBasis(home: Home, id: string, record?: BoxRecord): Promise<ExecBasis> {
  const known = bases.get(home) ?? new Map<string, ExecBasis>();
  bases.set(home, known);
  const kept = known.get(id);
  if (kept) return kept;
  const { options } = boxFacts(record ?? resolveExistingBox(home.database.db, id));
  const basis = { options, image: await boxImage(home, id, options.image) };
  if (known.size >= BASES_KEPT) known.clear();
  known.set(id, basis);
  return basis;
}

/** The exec's process: a plain one (nothing of its own but the command) reuses the box's, made once: ~50 µs an exec otherwise. */
function processSpecOf(basis: ExecBasis, id: string, options: ExecOptions): ProcessSpec {
  const make = () =>
    processSpec(basis.options, basis.image.config, boxHostname(id), {
      command: options.command,
      env: envFromPairs((options.env ?? []).map(splitEnvEntry)),
      ...(options.workdir !== undefined ? { workingDir: options.workdir } : {}),
      ...(options.user !== undefined ? { user: options.user } : {}),
      tty: options.tty !== undefined,
    });
  const plain = (options.env ?? []).length === 0 && options.workdir === undefined && options.user === undefined && options.tty === undefined;
  if (!plain) return make();
  if (basis.plain) return { argv: options.command, ...basis.plain };
  const { argv, ...rest } = make();
  basis.plain = rest;
  return { argv, ...rest };
}

/**
 * Why a command over the exec port ended without its EXIT when the port's connection closed:
 * its VM went, as the box's owner tells the clients of its box socket (session.ts), rather
 * than "the guest channel closed".
 */
function lostWithVm(id: string): BoxliteError {
  return new BoxliteError("conflict", `box ${id} stopped while the command ran (its main command ended, or the box was stopped or suspended)`);
}

export async function execInBox(home: Home, idOrName: string, options: ExecOptions, handlers: ExecHandlers): Promise<BoxExec> {
  if (options.command.length === 0) throw new BoxliteError("usage", "exec needs a command after the box; see 'boxlite exec --help'");
  const box = await readyForExec(home, idOrName);
  const basis = await execBasis(home, box.id, box.record);
  const spec = processSpecOf(basis, box.id, options);
  // The exec port when this process can have it; a detached command must outlive this process's connection, which only its owner can see to.
  const direct = options.detach ? undefined : await takeExecPort(home, box.id);
  const channel = direct ?? takeIdleChannel(home, box.id) ?? (await connectBox(home, box));
  const execution = channel.exec(
    { ...spec, create_cwd: false, tty: options.tty ?? null, stdin: options.stdin ?? false, detach: options.detach ?? false },
    handlers,
  );
  let timedOut = false;
  const timers: Timer[] = [];
  if (options.timeoutMs !== undefined) {
    timers.push(
      setTimeout(() => {
        timedOut = true;
        execution.signal(SIGTERM);
        timers.push(setTimeout(() => execution.signal(SIGKILL), TIMEOUT_GRACE_MS));
      }, options.timeoutMs),
    );
  }
  // The connection serves this command alone while it runs; once it exited, it waits idle for
  // the next exec, and closing this one is moot. Closing the box socket's connection kills the
  // command (its owner does); the exec port's is kept, and the command is killed over it.
  let ended = false;
  const done = execution.exit.promise
    .then((status) => ({ ...status, timedOut }))
    .catch((error: unknown) => Promise.reject(direct?.isClosed ? lostWithVm(box.id) : error))
    .finally(() => {
      for (const timer of timers) clearTimeout(timer);
      if (direct) releaseExecPort(home, box.id, direct);
      if (ended) return;
      ended = true;
      if (!direct) keepIdleChannel(home, box.id, channel);
    });
  const close = () => {
    if (ended) return;
    ended = true;
    if (direct) execution.signal(SIGKILL);
    else channel.close();
  };
  return { execution, done, close };
}
