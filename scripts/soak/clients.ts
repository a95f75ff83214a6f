/**
 * A soak client: boxes through their whole life, one after another, until the deadline —
 * run, write a token, copy a file in and check it, snapshot, read the token back (a box that
 * reads another's is a data leak), stop, start, read again, and remove most of them. Every
 * step's failure is counted by cause; the chaos loop makes many of them.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Cli, CliRun } from "./cli.ts";

export interface Tally {
  ops: Map<string, number>;
  failures: Map<string, number>;
  /** One whole message of each failure cause, with the box and client it happened to. */
  examples: Map<string, string>;
  /** Boxes that read another box's token or file: must stay empty. */
  crossings: string[];
  /** Every box name a client made (the audit looks for what is left of them). */
  names: Set<string>;
}

export function newTally(): Tally {
  return { ops: new Map(), failures: new Map(), examples: new Map(), crossings: [], names: new Set() };
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** A failure's cause: the first line of its message, without the ids and numbers that make each one unique. */
function cause(op: string, run: CliRun): string {
  const line = (run.stderr.trim().split("\n")[0] ?? "").replace(/^boxlite: /, "");
  const general = line
    .replace(/\b[0-9a-z]{26}\b|\b[0-9a-z]{12}\b/g, "<id>")
    .replace(/soak-[\w-]+/g, "<box>")
    .replace(/\d+(\.\d+)?/g, "N");
  return `${op}: ${general || `exit ${run.code}`}`;
}

export interface ClientOptions {
  cli: Cli;
  label: string;
  deadline: number;
  work: string;
  tally: Tally;
  /** Whether this box is kept (a survivor the audit checks), not removed at once. */
  keep: (n: number) => boolean;
  /** Most boxes a client keeps running: the oldest goes when one more is kept, so a long soak holds a few, not thousands. */
  maxKept: number;
}

export async function runClient(options: ClientOptions): Promise<void> {
  const { cli, label, tally } = options;
  const kept: string[] = [];
  for (let n = 0; Date.now() < options.deadline; n++) {
    const name = `soak-${label}-${n}`;
    tally.names.add(name);
    const payload = crypto.getRandomValues(new Uint8Array(64 * 1024));
    const file = join(options.work, `${name}.bin`);
    writeFileSync(file, payload);
    const digest = new Bun.CryptoHasher("sha256").update(payload).digest("hex");
    const step = async (op: string, args: string[], check?: (out: string) => boolean): Promise<boolean> => {
      bump(tally.ops, op);
      const run = await cli.run(args);
      if (run.code !== 0) {
        const why = cause(op, run);
        bump(tally.failures, why);
        if (!tally.examples.has(why)) tally.examples.set(why, `${name} (${cli.url ? "through serve" : "CLI"}): ${run.stderr.trim().slice(0, 400)}`);
        return false;
      }
      if (check && !check(run.stdout)) {
        tally.crossings.push(`${name} ${op}: read ${JSON.stringify(run.stdout.slice(0, 200))}`);
        return false;
      }
      return true;
    };
    const ownToken = (out: string) => out.trim() === name;
    const steps: Array<() => Promise<boolean>> = [
      () => step("run", ["run", "-d", "--name", name, "--network", "disabled", "--", "sleep", "1000000"]),
      () => step("exec", ["exec", name, "--", "sh", "-c", `echo ${name} > /token && sync`]),
      () => step("cp", ["cp", file, `${name}:/data.bin`]),
      () => step("exec", ["exec", name, "--", "sha256sum", "/data.bin"], (out) => out.startsWith(digest)),
      () => step("snapshot", ["snapshot", "create", name, "s1"]),
      () => step("exec", ["exec", name, "--", "cat", "/token"], ownToken),
      () => step("stop", ["stop", "-t", "1", name]),
      () => step("start", ["start", name]),
      () => step("exec", ["exec", name, "--", "cat", "/token"], ownToken),
    ];
    for (const next of steps) if (Date.now() >= options.deadline || !(await next())) break;
    rmSync(file, { force: true });
    if (options.keep(n)) kept.push(name);
    else await step("rm", ["rm", "-f", name]);
    while (kept.length > options.maxKept) await step("rm", ["rm", "-f", kept.shift() ?? ""]);
  }
}
