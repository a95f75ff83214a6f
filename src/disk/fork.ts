/**
 * Forking a disk (docs/snapshots.md): the live qcow2 becomes an immutable file `dest` (a
 * snapshot or a clone base) and a new, empty overlay on it takes the live disk's place.
 * Every step leaves a valid live disk, and a crash at any step is finished or undone by
 * `recoverFork` from the plan alone:
 *
 *   1. link live → dest            (one file, two names: nothing changed yet)
 *   2. create `next`, an empty overlay backed by dest
 *   3. (running box) the VMM switches its writes to `next`
 *   4. next replaces live (a second name, then rename over live)
 *
 * A running VMM reopens its files by the names it opened them with, so no name it knows
 * ever changes meaning: `live` keeps the old file until step 4, and `next` stays a name of
 * the new top until the box stops (`removeForkLeftovers`).
 */
import { existsSync, linkSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { createOverlay, readQcow2Info } from "./qcow2.ts";

/** Named steps, for fault injection: the process may die after any of them. */
export type ForkStep = "fork-linked" | "fork-overlay" | "fork-switched" | "fork-done";

export interface ForkPlan {
  /** The live disk: stays the box's disk, a new overlay after the fork. */
  live: string;
  /** Where the live disk's file ends up, immutable; must not exist. */
  dest: string;
  /** The new overlay's first name, beside `live`. */
  next: string;
}

const NEXT_PREFIX = ".next-";

/** A plan with a fresh `next` name (never reused, so a VMM's old names never collide). */
export function planFork(live: string, dest: string): ForkPlan {
  const tag = `${Date.now().toString(36)}-${crypto.getRandomValues(new Uint32Array(1))[0]?.toString(36)}`;
  return { live, dest, next: join(dirname(live), `${NEXT_PREFIX}${tag}.qcow2`) };
}

/** Whether two paths name one file (both exist). */
export function isSameFile(a: string, b: string): boolean {
  try {
    const x = statSync(a);
    const y = statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

export interface ForkHooks {
  /** Step 3 for a running box: switch the VMM's writes to `next`. */
  switchLive?(next: string): Promise<void>;
  /** Called after each step (fault injection). */
  step?(name: ForkStep): void;
}

/** Forks per `plan`. On an error before step 3 the fork is undone; after it, it is finished. */
export async function forkDisk(plan: ForkPlan, hooks: ForkHooks = {}): Promise<void> {
  const { live, dest, next } = plan;
  const { virtualSize } = readQcow2Info(live);
  linkSync(live, dest);
  hooks.step?.("fork-linked");
  try {
    createOverlay({ path: next, backingFile: dest, backingFormat: "qcow2", virtualSize });
    hooks.step?.("fork-overlay");
    await hooks.switchLive?.(next);
  } catch (error) {
    rmSync(next, { force: true });
    rmSync(dest, { force: true });
    throw error;
  }
  hooks.step?.("fork-switched");
  replaceLive(plan, hooks.switchLive !== undefined);
  hooks.step?.("fork-done");
}

/** Step 4: `next` becomes `live`; a running VMM keeps `next` as a name of its top too. */
function replaceLive({ live, next }: ForkPlan, keepNext: boolean): void {
  if (!keepNext) {
    renameSync(next, live);
    return;
  }
  const second = `${next}.live`;
  rmSync(second, { force: true });
  linkSync(next, second);
  renameSync(second, live);
}

export type ForkOutcome = "done" | "undone";

/**
 * Finishes or undoes a fork a crash interrupted, once no VMM uses the disk: done when the
 * new overlay exists (it may already hold writes), undone otherwise.
 */
export function recoverFork(plan: ForkPlan): ForkOutcome {
  const { live, dest, next } = plan;
  rmSync(`${next}.live`, { force: true });
  if (existsSync(next)) {
    if (!isSameFile(next, live)) renameSync(next, live);
    else rmSync(next);
    return "done";
  }
  if (!existsSync(dest)) return "undone";
  // dest is a second name of the live disk (step 1 only): undo it.
  if (isSameFile(dest, live)) {
    rmSync(dest);
    return "undone";
  }
  return readQcow2Info(live).backingFile === dest ? "done" : "undone";
}

/** Removes the extra names a running VMM's forks left beside `live` (call once no VMM uses it). */
export function removeForkLeftovers(live: string): void {
  const dir = dirname(live);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith(NEXT_PREFIX) && name !== basename(live)) rmSync(join(dir, name), { force: true });
  }
}
