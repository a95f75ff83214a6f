/**
 * Helper processes beside a box's VMM (a network stack, a file server): started by the
 * watchdog before the VMM, each ready before the next starts, and stopped with it
 * (host/vmm-watch.c). Nothing in the product starts one yet; networking and volumes will.
 */
import { dirname } from "node:path";
import { BoxliteError } from "../util/errors.ts";
import type { JailView } from "./jail/view.ts";

export interface HelperCommand {
  /** Names it in reports, records and errors: [a-z0-9-], unique, not "vmm" (the VMM's own name). */
  name: string;
  argv: string[];
  /** What the helper creates once it serves (its socket): the next helper, then the VMM, start only after it exists. */
  readyPath: string;
  /** How long it may take to create readyPath. */
  readyTimeoutMs: number;
  /** What it may see and do when the box is jailed (docs/security.md); absent: its ready path's directory, no network. */
  view?: JailView;
}

/** A helper's jail view: its own, or the least one (it can make its socket, and nothing else). */
export function helperView(helper: HelperCommand): JailView {
  return helper.view ?? { readOnly: [], readWrite: [dirname(helper.readyPath)], devices: [], network: false, dropUid: true };
}

/** The name the watchdog gives the VMM in its reports and boxlite in its records. */
export const VMM_NAME = "vmm";
/** The watchdog's bound (MAX_MEMBERS in vmm-watch.c, less the VMM). */
export const MAX_HELPERS = 16;

const NAME = /^[a-z][a-z0-9-]{0,31}$/;

function invalid(name: string, message: string): BoxliteError {
  return new BoxliteError("invalid_argument", `helper ${JSON.stringify(name)}: ${message}`);
}

/** Refuses helpers the watchdog cannot run as given, saying what is wrong. */
export function checkHelpers(helpers: readonly HelperCommand[]): void {
  if (helpers.length > MAX_HELPERS) throw new BoxliteError("invalid_argument", `a box has at most ${MAX_HELPERS} helpers, not ${helpers.length}`);
  const names = new Set<string>();
  for (const helper of helpers) {
    if (!NAME.test(helper.name) || helper.name === VMM_NAME)
      throw invalid(helper.name, `a name is 1-32 of [a-z0-9-], starting with a letter, and not "${VMM_NAME}"`);
    if (names.has(helper.name)) throw invalid(helper.name, "two helpers have this name");
    names.add(helper.name);
    if (helper.argv.length === 0 || helper.argv[0] === "") throw invalid(helper.name, "no program to run");
    if (helper.argv.some((arg) => arg.includes("\0"))) throw invalid(helper.name, "an argument cannot contain NUL");
    if (!helper.readyPath.startsWith("/")) throw invalid(helper.name, `its ready path must be absolute, not ${JSON.stringify(helper.readyPath)}`);
    if (!Number.isInteger(helper.readyTimeoutMs) || helper.readyTimeoutMs <= 0 || helper.readyTimeoutMs > 600_000)
      throw invalid(helper.name, `its ready timeout must be 1 to 600000 ms, not ${helper.readyTimeoutMs}`);
  }
}
