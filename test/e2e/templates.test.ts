/**
 * Memory templates end to end (docs/templates.md): boxes restored from one template are as
 * separate as cold-booted ones, a damaged or failing template is never trusted, a build
 * killed midway is never used, and BOXLITE_TEMPLATES=off boots cold. The file has its own
 * runtime directory, so it sees only the templates it made.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { qemuProcesses, runCli } from "../helpers/cli.ts";

const runtimeDir = mkdtempSync(join(tmpdir(), "boxlite-templates-"));
process.env.BOXLITE_RUNTIME_DIR = runtimeDir;
const templatesDir = join(runtimeDir, "templates");

afterAll(() => {
  rmSync(runtimeDir, { recursive: true, force: true });
});

/** The published templates: directories named by their key (a build's is `<key>.tmp-<pid>-<random>`). */
function templates(): string[] {
  return existsSync(templatesDir) ? readdirSync(templatesDir).filter((name) => /^[0-9a-f]{24}$/.test(name)) : [];
}

function manifest(key: string): { state_sha256: string; created_at: string } {
  return JSON.parse(readFileSync(join(templatesDir, key, "manifest.json"), "utf8"));
}

/** Runs a named box to completion and returns its console log. */
async function consoleOf(name: string, env: Record<string, string> = {}): Promise<string> {
  const run = await runCli(["run", "--name", name, "--", "true"], { env });
  expect(run).toMatchObject({ code: 0, stderr: "" });
  const logs = await runCli(["logs", name]);
  await runCli(["rm", "-f", name]);
  return logs.stdout;
}

const WOKE = "woke from saved memory: clock set, RNG reseeded, the box's disks adopted";
const COLD = /agent \S+ ready on \/dev\/vport/;

test("boxes restored from one template each have their own randomness, boot id, clock and hostname", async () => {
  const probe =
    "cat /proc/sys/kernel/random/boot_id; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; date +%s; hostname; cat /sys/block/vdb/size; echo \"hotplug=$(cat /proc/sys/kernel/hotplug)\"";
  const seen = [];
  let built: string | undefined;
  for (let i = 0; i < 3; i++) {
    const run = await runCli(["run", "--rm", "--", "sh", "-c", probe]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    // Built by the first box, then restored by each: never discarded and built again.
    const [key] = templates();
    built ??= manifest(key as string).created_at;
    expect(manifest(key as string).created_at).toBe(built);
    const [bootId, random, clock, hostname, sectors, hotplug] = run.stdout.trim().split("\n");
    seen.push({ bootId, random, hostname });
    expect(bootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(random).toMatch(/^[0-9a-f]{32}$/);
    // The wall clock is the host's, not the template's (saved seconds or minutes earlier).
    expect(Math.abs(Number(clock) - Date.now() / 1000)).toBeLessThan(5);
    // The box's own disk (1 GiB by default), not the template's 1 MiB stand-in.
    expect(Number(sectors)).toBeGreaterThan(1_000_000);
    // No uevent helper (guest/main.c): the disk's size change at WAKE spawns nothing.
    expect(hotplug).toBe("hotplug=");
  }
  expect(templates()).toHaveLength(1);
  for (const field of ["bootId", "random", "hostname"] as const) expect(new Set(seen.map((box) => box[field])).size).toBe(3);
  expect(await consoleOf("restored")).toContain(WOKE);
});

test("no box's data reaches another box or the template", async () => {
  const secret = `secret-${crypto.randomUUID()}`;
  expect((await runCli(["run", "-d", "--name", "holder", "--", "sleep", "600"])).code).toBe(0);
  const write = await runCli(["exec", "holder", "--", "sh", "-c", `echo ${secret} > /dev/shm/s; echo ${secret} > /root/s; cat /dev/shm/s`]);
  expect(write).toMatchObject({ code: 0, stdout: `${secret}\n` });
  const other = await runCli(["run", "--rm", "--", "sh", "-c", "cat /dev/shm/s /root/s 2>&1; grep -rs secret- /dev/shm /root; true"]);
  expect(other.code).toBe(0);
  expect(other.stdout).not.toContain(secret);
  // The template's memory is mapped privately: what a box writes in RAM never lands in it.
  const [key] = templates();
  expect(readFileSync(join(templatesDir, key as string, "ram")).includes(secret)).toBe(false);
  await runCli(["rm", "-f", "holder"]);
});

test("a restored box adopts its own disk: its exact size, nothing of the stand-in, a clean filesystem after it wrote", async () => {
  // The disk's size is not part of the shape: this 3 GiB box restores the template the 1 GiB boxes made.
  const write =
    "cat /sys/block/vdb/size; mkdir /data; for i in $(seq 1 300); do echo $i > /data/f$i; done; head -c 16777216 /dev/urandom > /data/big; sync; df -k / | tail -1";
  const run = await runCli(["run", "--name", "adopted", "--disk-size", "3", "--", "sh", "-c", write]);
  expect(run).toMatchObject({ code: 0, stderr: "" });
  const [sectors, df] = run.stdout.trim().split("\n");
  expect(Number(sectors)).toBe((3 * 1024 ** 3) / 512);
  // The filesystem grew to the box's disk: the guest read its size, not the 1 MiB stand-in's.
  expect(Number(df?.trim().split(/\s+/)[1])).toBeGreaterThan(3 * 1024 * 1024 * 0.95);
  const id = JSON.parse((await runCli(["inspect", "adopted"])).stdout)[0].Id as string;
  const logs = await runCli(["logs", "adopted"]);
  expect(logs.stdout).toContain(WOKE);
  expect(logs.stdout).not.toMatch(COLD);
  // Stopped cleanly (its command ended): e2fsck, reading the whole disk as raw, finds nothing wrong.
  const raw = join(runtimeDir, "adopted.raw");
  const disk = join(process.env.BOXLITE_HOME as string, "boxes", id, "disks", "disk.qcow2");
  expect(Bun.spawnSync(["qemu-img", "convert", "-U", "-O", "raw", disk, raw]).exitCode).toBe(0);
  const fsck = Bun.spawnSync(["e2fsck", "-fn", raw]);
  expect({ code: fsck.exitCode, output: fsck.stdout.toString() + fsck.stderr.toString() }).toMatchObject({ code: 0 });
  rmSync(raw);
  await runCli(["rm", "-f", "adopted"]);
});

test("BOXLITE_TEMPLATES=off boots cold, and info says whether templates are in use", async () => {
  const off = await consoleOf("cold", { BOXLITE_TEMPLATES: "off" });
  expect(off).toMatch(COLD);
  expect(off).not.toContain("woke from saved memory");
  const on = JSON.parse((await runCli(["info", "--json"])).stdout);
  expect(on.vmm.templates).toMatchObject({ enabled: true, dir: templatesDir });
  const offInfo = JSON.parse((await runCli(["info", "--json"], { env: { BOXLITE_TEMPLATES: "off" } })).stdout);
  expect(offInfo.vmm.templates).toEqual({ enabled: false, reason: expect.stringContaining("BOXLITE_TEMPLATES=off") });
  expect((await runCli(["info"], { env: { BOXLITE_TEMPLATES: "bad" } })).stderr).toContain("BOXLITE_TEMPLATES=bad is not valid; use one of on, off");
});

test("a template whose state does not match its checksum is rebuilt, never restored", async () => {
  const [key] = templates() as [string];
  const before = manifest(key);
  const state = readFileSync(join(templatesDir, key, "state"));
  state[state.length - 100] = (state[state.length - 100] as number) ^ 0xff;
  writeFileSync(join(templatesDir, key, "state"), state);
  expect(await consoleOf("after-corruption")).toContain(WOKE);
  expect(templates()).toEqual([key]);
  expect(manifest(key).created_at).not.toBe(before.created_at);
});

test("a template QEMU cannot restore is discarded and the box boots cold", async () => {
  const [key] = templates() as [string];
  // Garbage with a matching checksum: it passes the check, and QEMU refuses it.
  const garbage = new TextEncoder().encode("not a migration stream");
  writeFileSync(join(templatesDir, key, "state"), garbage);
  const entry = JSON.parse(readFileSync(join(templatesDir, key, "manifest.json"), "utf8"));
  entry.state_sha256 = new Bun.CryptoHasher("sha256").update(garbage).digest("hex");
  writeFileSync(join(templatesDir, key, "manifest.json"), JSON.stringify(entry));
  expect(await consoleOf("after-bad-state")).toMatch(COLD);
  expect(templates()).toEqual([]);
  // The next box builds a new one.
  expect(await consoleOf("rebuilt")).toContain(WOKE);
  expect(templates()).toEqual([key]);
});

test("a box killed while it is restored leaves no VM, and the template serves the next box", async () => {
  const [key] = templates() as [string];
  const before = manifest(key);
  const crashed = await runCli(["run", "--name", "killed", "--", "true"], { env: { BOXLITE_CRASH_AT: "template-restored" } });
  expect(crashed.code).not.toBe(0);
  const id = JSON.parse((await runCli(["inspect", "killed"])).stdout)[0].Id as string;
  expect(id).toMatch(/^[0-9a-z]{26}$/);
  expect(qemuProcesses(id)).toEqual([]);
  expect(manifest(key)).toEqual(before);
  expect(await consoleOf("after-killed-restore")).toContain(WOKE);
  expect(manifest(key)).toEqual(before);
  await runCli(["rm", "-f", "killed"]);
});

test("a detached box whose supervisor is killed while it starts says how it ended, and leaves no VM", async () => {
  const crashed = await runCli(["run", "-d", "--name", "killed-detached", "--", "true"], { env: { BOXLITE_CRASH_AT: "template-restored" } });
  expect(crashed.code).not.toBe(0);
  expect(crashed.stderr).toContain("supervisor exited before the box started (killed by SIGKILL)");
  const id = JSON.parse((await runCli(["inspect", "killed-detached"])).stdout)[0].Id as string;
  expect(qemuProcesses(id)).toEqual([]);
  await runCli(["rm", "-f", "killed-detached"]);
});

test("a build killed before it is published is never used, and leaves no VM behind", async () => {
  const crashed = await runCli(["run", "--rm", "--memory", "384", "--", "true"], { env: { BOXLITE_CRASH_AT: "template-saved" } });
  expect(crashed.code).not.toBe(0);
  expect(templates()).toHaveLength(1); // only the 512 MiB shape's
  const leftovers = readdirSync(templatesDir).filter((name) => name.includes(".tmp-"));
  expect(leftovers).toHaveLength(1);
  expect(qemuProcesses(join(templatesDir, leftovers[0] as string))).toEqual([]);
  // The next build of that shape removes the dead one's directory and publishes its own.
  expect((await runCli(["run", "--rm", "--memory", "384", "--", "true"])).code).toBe(0);
  expect(templates()).toHaveLength(2);
  expect(readdirSync(templatesDir).filter((name) => name.includes("."))).toEqual([]);
});
