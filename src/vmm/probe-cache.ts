/**
 * A probe's verdict kept for the rest of the host boot: booting a probe VM costs a boot,
 * and what it found (KVM usable, libkrun booting) holds until the host reboots or the
 * probed program changes (`key`). Shared by the qemu accelerator probe and the krun probe.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { readHostBootId } from "../util/boot-id.ts";

interface Cached<T> {
  bootId: string;
  key: string;
  verdict: T;
}

/** The cached verdict (its reason saying so) when `path` holds one for this boot and `key`, else `probe()`'s, then cached. */
export async function probedOncePerBoot<T extends { reason: string }>(path: string, key: string, probe: () => Promise<T>): Promise<T> {
  const bootId = readHostBootId();
  try {
    const cached = JSON.parse(readFileSync(path, "utf8")) as Cached<T>;
    if (cached.bootId === bootId && cached.key === key) return { ...cached.verdict, reason: `${cached.verdict.reason} (probed once this host boot)` };
  } catch {
    // No verdict yet (or one in an older format): probe below.
  }
  const verdict = await probe();
  const record: Cached<T> = { bootId, key, verdict };
  writeFileSync(path, JSON.stringify(record));
  return verdict;
}
