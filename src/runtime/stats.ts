/**
 * Resource use of a running box as the host sees it: its whole process group (the
 * watchdog, the helpers and the VMM) from /proc — CPU time over an interval, resident
 * memory — against the box's limits. Read-only and lock-free: every process may ask, as
 * often as it likes.
 */
import { readFileSync } from "node:fs";
import { BoxliteError } from "../util/errors.ts";
import { procStatFields } from "../util/proc.ts";
import type { Home } from "./home.ts";
import { boxLayout } from "./box-layout.ts";
import { boxFacts } from "./box-facts.ts";
import { type NetworkFigures, networkFigures } from "./box-network.ts";
import { readyBox } from "./lifecycle.ts";
import { isBoxVmm } from "./reconcile.ts";
import { runningMembers } from "./vm-group.ts";

/** One sample, in the shape `stats --json` prints. */
export interface BoxStats {
  box_id: string;
  name: string | null;
  /** Of one host CPU over the sample interval (may pass 100 with several vCPUs). */
  cpu_percent: number;
  memory_bytes: number;
  memory_limit_bytes: number;
  cpus: number;
  /** Seconds since the VMM started. */
  uptime_seconds: number;
  /** The box's network figures since it started (its network process's); null for a box without a network. */
  network: NetworkFigures | null;
}

const PAGE_SIZE = 4096;
const CLOCK_TICKS = 100; // USER_HZ on Linux

interface ProcessSample {
  /** utime + stime, in clock ticks. */
  ticks: number;
  rssBytes: number;
  /** Since boot, in clock ticks. */
  startTicks: number;
}

function sampleProcess(pid: number): ProcessSample | undefined {
  const fields = procStatFields(pid);
  if (!fields) return undefined;
  return { ticks: Number(fields[11]) + Number(fields[12]), rssBytes: Number(fields[21]) * PAGE_SIZE, startTicks: Number(fields[19]) };
}

/** The box's whole group summed: the watchdog `pid`, and the helpers and VMM it started (as recorded, fingerprint-checked). */
function sampleGroup(pid: number, boxDir: string): ProcessSample | undefined {
  const root = sampleProcess(pid);
  if (!root) return undefined;
  for (const member of runningMembers(boxDir)) {
    const sample = sampleProcess(member.pid);
    if (!sample) continue;
    root.ticks += sample.ticks;
    root.rssBytes += sample.rssBytes;
  }
  return root;
}

function uptimeTicks(): number {
  return Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) * CLOCK_TICKS;
}

/** Samples the box's VMM twice, `intervalMs` apart. */
export async function boxStats(home: Home, idOrName: string, intervalMs = 1000): Promise<BoxStats> {
  const box = await readyBox(home, idOrName, "stats");
  const pid = box.pid;
  const boxDir = boxLayout(home.config, box.id).dir;
  if (pid === null || !isBoxVmm(pid, boxDir))
    throw new BoxliteError("conflict", `box ${box.id} is recorded as running but its VMM is gone; see 'boxlite ls -a'`);
  const first = sampleGroup(pid, boxDir);
  const startedAt = performance.now();
  await Bun.sleep(intervalMs);
  const second = sampleGroup(pid, boxDir);
  if (!first || !second) throw new BoxliteError("conflict", `box ${box.id} stopped while it was being measured`);
  const seconds = (performance.now() - startedAt) / 1000;
  const { resolved } = boxFacts(box);
  const network = resolved.network.mode === "enabled" ? ((await networkFigures(boxLayout(home.config, box.id))) ?? null) : null;
  return {
    box_id: box.id,
    name: box.name,
    cpu_percent: Math.round(((second.ticks - first.ticks) / CLOCK_TICKS / seconds) * 1000) / 10,
    memory_bytes: second.rssBytes,
    memory_limit_bytes: resolved.memoryMib * 1024 * 1024,
    cpus: resolved.cpus,
    uptime_seconds: Math.max(0, Math.round((uptimeTicks() - second.startTicks) / CLOCK_TICKS)),
    network,
  };
}
