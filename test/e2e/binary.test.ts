/** The compiled executable (dist/boxlite, built by scripts/build.ts) works on its own, from any directory. */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { insertBox } from "../../src/db/boxes.ts";
import { openDatabase } from "../../src/db/database.ts";
import { buildRecorder, newCallLog, readCalls, typicalBox } from "../fixtures/libkrun-recorder/recorder.ts";
import { REPO } from "../helpers/cli.ts";
import { writeOciImage } from "../helpers/oci-image.ts";
import { startRegistry } from "../helpers/registry.ts";
import { TempDirs } from "../helpers/temp.ts";

const temp = new TempDirs();
afterAll(() => temp.removeAll());

const BINARY = join(REPO, "dist", "boxlite");

async function runBinary(args: string[], env: Record<string, string> = {}, stdin?: string, cwd = tmpdir(), binary = BINARY) {
  const proc = Bun.spawn([binary, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdin: stdin === undefined ? "ignore" : new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

test("the build produced dist/boxlite", () => {
  expect(existsSync(BINARY)).toBe(true);
});

test("dist/boxlite runs a box from another directory with its embedded agent, image, kernel and libraries", async () => {
  const result = await runBinary(["run", "--rm", "--", "sh", "-c", "echo hello from $(cat /etc/hostname)"]);
  expect(result).toMatchObject({ code: 0, stdout: "hello from boxlite\n", stderr: "" });
});

test("dist/boxlite info --json says what it uses and why", async () => {
  const result = await runBinary(["info", "--json"]);
  expect(result.code).toBe(0);
  const info = JSON.parse(result.stdout);
  expect(info.homeDir).toBe(process.env.BOXLITE_HOME);
  expect(info.vmm).toMatchObject({ backend: "qemu", accelerator: "tcg", reason: "forced by BOXLITE_ACCEL=tcg" });
  // No libkrun on these hosts: auto says so, and what to install.
  expect(info.vmm.rejected).toEqual([
    { name: "krun", reason: expect.stringMatching(/^libkrun was not found; tried libkrun\.so\.1, .*; install libkrun ≥ 1\.18\.0/) },
  ]);
  expect(info.kernel.libkrunfwVersion).toBe(5);
  expect(info.kernel.linuxVersion).toMatch(/^\d+\.\d+\.\d+/);
  expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
  // Counted from the home's records: every listed box is in exactly one status.
  const listed = JSON.parse((await runBinary(["ls", "-a", "--json"])).stdout) as Array<{ status: string }>;
  expect(info.boxesTotal).toBe(listed.length);
  expect(info.boxesStopped).toBe(listed.filter((box) => box.status === "stopped").length);
  expect(info.boxesRunning).toBe(listed.filter((box) => box.status === "running").length);
  expect(info.imagesCount).toBe((JSON.parse((await runBinary(["images", "--json"])).stdout) as unknown[]).length);
});

test("dist/boxlite alone boots a box: it extracts the libkrunfw and the disk library it embeds to an empty runtime directory, and info says so", async () => {
  // A copy in a directory of its own: nothing beside it, and a runtime directory that does not exist yet.
  const dir = temp.make("boxlite-alone-");
  const binary = join(dir, "boxlite");
  copyFileSync(BINARY, binary);
  chmodSync(binary, 0o755);
  const runtimeDir = join(dir, "runtime");
  const env = { BOXLITE_RUNTIME_DIR: runtimeDir, BOXLITE_LIBKRUNFW: "" };
  const booted = await runBinary(["run", "--rm", "--", "echo", "booted"], env, undefined, tmpdir(), binary);
  expect(booted).toMatchObject({ code: 0, stdout: "booted\n", stderr: "" });
  expect(readdirSync(dir).sort()).toEqual(["boxlite", "runtime"]);
  // The disk library is loaded from a copy of its own (named by Bun's hash of its bytes), not the
  // temporary one dlopen of an embedded file makes; the archive packer only by an export.
  const extracted = readdirSync(join(runtimeDir, "lib")).sort();
  expect(extracted).toEqual([expect.stringMatching(/^libkrunfw-[0-9a-f]{12}\.so\.5$/), expect.stringMatching(/^libqcow2-[0-9a-z]{8}\.so$/)]);
  const libkrunfw = join(runtimeDir, "lib", extracted[0] as string);

  const info = JSON.parse((await runBinary(["info", "--json"], env, undefined, tmpdir(), binary)).stdout);
  expect(info.kernel).toMatchObject({ source: "libkrunfw", origin: "embedded", path: libkrunfw, libkrunfwVersion: 5 });
  // BOXLITE_LIBKRUNFW still picks another copy, and info says that one is in use.
  const chosen = await runBinary(["info"], { ...env, BOXLITE_LIBKRUNFW: libkrunfw }, undefined, tmpdir(), binary);
  expect(chosen.stdout).toContain(` from libkrunfw 5 (BOXLITE_LIBKRUNFW=${libkrunfw})\n`);
});

test("dist/boxlite takes no settings from the .env or bunfig.toml of the directory it runs in", async () => {
  // A compiled Bun executable loads both by default: a project's .env could move the home or the server.
  const dir = temp.make("boxlite-dotenv-");
  const elsewhere = join(dir, "home-from-dotenv");
  writeFileSync(join(dir, ".env"), `BOXLITE_HOME=${elsewhere}\nBOXLITE_URL=http://127.0.0.1:9\n`);
  writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./missing-preload.ts"]\n');
  const result = await runBinary(["info", "--json"], {}, undefined, dir);
  expect(result.code).toBe(0);
  expect(JSON.parse(result.stdout).homeDir).toBe(process.env.BOXLITE_HOME);
  expect(existsSync(elsewhere)).toBe(false);
});

test("dist/boxlite pulls a registry image and builds its base disk, applying the layers in its embedded worker thread", async () => {
  const layout = temp.make("boxlite-binary-layout-");
  writeOciImage(layout, "v1", { layers: [{ entries: [{ path: "from-layer.txt", data: "layer\n" }] }] });
  const registry = await startRegistry();
  try {
    await registry.push(layout, "test/binary", "v1");
    const home = temp.make("boxlite-binary-pull-");
    const result = await runBinary(["--home", home, "pull", "-q", `${registry.host}/test/binary:v1`]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    const configDigest = result.stdout.trim();
    const disk = join(home, "images", "disk-images", `${configDigest.replace(":", "-")}.ext4`);
    const listing = Bun.spawnSync(["debugfs", "-R", "cat /from-layer.txt", disk], { stdout: "pipe", stderr: "pipe" });
    expect(listing.stdout.toString()).toBe("layer\n");
  } finally {
    await registry.stop();
  }
});

test("dist/boxlite info prints a human summary", async () => {
  const result = await runBinary(["info"]);
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/^Version:\s+\d/m);
  expect(result.stdout).toMatch(/^Accelerator:\s+tcg: forced by BOXLITE_ACCEL=tcg$/m);
  expect(result.stdout).toMatch(/^Kernel:\s+Linux \d+\.\d+\.\d+ from libkrunfw 5 \(embedded, extracted to \/\S+\/lib\/libkrunfw-[0-9a-f]{12}\.so\.5\)$/m);
  expect(result.stdout).toMatch(/^Boxes:\s+\d+ \(\d+ running, \d+ stopped, \d+ configured\)$/m);
});

test("dist/boxlite writes a listing bigger than a pipe's buffer whole before it exits", async () => {
  const home = temp.make("boxlite-big-home-");
  expect((await runBinary(["ls"], { BOXLITE_HOME: home })).code).toBe(0);
  const database = openDatabase({ home });
  const count = 600; // about 300 KB of JSON: several 64 KiB pipe buffers
  database.db.transaction(() => {
    for (let i = 0; i < count; i++) {
      const id = `bigbox_${String(i).padStart(4, "0")}`;
      insertBox(
        database.db,
        {
          id,
          name: null,
          created_at: "2026-07-01T10:00:00Z",
          container: { id: "c".repeat(64) },
          options: { rootfs: { Image: "alpine:latest" } },
          engine_kind: "Libkrun",
          box_home: join(home, "boxes", id),
        },
        { status: "stopped", pid: null, container_id: "c".repeat(64), last_updated: "2026-07-01T11:00:00Z", lock_id: null, exit_code: 0 },
      );
    }
  })();
  database.close();
  // A reader that starts late, as `| less` or a busy consumer does: the pipe fills first.
  const proc = Bun.spawn(["sh", "-c", `"$0" ls -a --json | { sleep 0.5; cat; }`, BINARY], { env: { ...process.env, BOXLITE_HOME: home }, stdout: "pipe" });
  const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  expect(code).toBe(0);
  expect((JSON.parse(stdout) as unknown[]).length).toBe(count);
});

test("dist/boxlite runs a detached box under its own supervisor, execs into it, suspends and resumes it (its saved state checked in an embedded worker thread) and stops it", async () => {
  const started = await runBinary(["run", "-d", "--", "sleep", "3600"]);
  expect(started.code).toBe(0);
  const id = started.stdout.trim();
  // The supervisor is the compiled executable itself, not bun.
  const supervisor = Bun.spawnSync(["pgrep", "-af", `__supervise ${id}`]).stdout.toString();
  expect(supervisor).toContain(`${BINARY} --home`);
  expect(await runBinary(["exec", id, "--", "echo", "inside"])).toMatchObject({ code: 0, stdout: "inside\n" });
  expect(await runBinary(["suspend", id])).toMatchObject({ code: 0 });
  expect(await runBinary(["resume", id])).toMatchObject({ code: 0, stderr: "" });
  expect(await runBinary(["exec", id, "--", "echo", "resumed"])).toMatchObject({ code: 0, stdout: "resumed\n" });
  expect((await runBinary(["stop", "-t", "0", id])).code).toBe(0);
  expect((await runBinary(["rm", id])).code).toBe(0);
});

test("dist/boxlite exports a box, packing its disk in its embedded worker thread, and imports it", async () => {
  const name = `binary-export-${process.pid}`;
  const archive = join(temp.make("boxlite-binary-export-"), "box.boxlite");
  // The box's main command must outlive `start`: a start re-runs it, and one that wrote the
  // file and exited would race the exec below (truncating /kept, or stopping the box first).
  expect(await runBinary(["run", "-d", "--name", name, "--", "sleep", "3600"])).toMatchObject({ code: 0 });
  try {
    expect(await runBinary(["exec", name, "--", "sh", "-c", "echo kept > /kept"])).toMatchObject({ code: 0 });
    expect(await runBinary(["stop", name])).toMatchObject({ code: 0 });
    expect(await runBinary(["export", name, "-o", archive])).toMatchObject({ code: 0, stderr: "" });
    expect(Bun.spawnSync(["zstd", "-q", "-t", archive]).exitCode).toBe(0);
    expect(await runBinary(["import", archive, "--name", `${name}-copy`])).toMatchObject({ code: 0 });
    expect(await runBinary(["start", `${name}-copy`])).toMatchObject({ code: 0 });
    expect(await runBinary(["exec", `${name}-copy`, "--", "cat", "/kept"])).toMatchObject({ code: 0, stdout: "kept\n" });
  } finally {
    await runBinary(["rm", "-f", name, `${name}-copy`]);
  }
});

test("dist/boxlite __vm is the krun VM process of the executable itself: it configures libkrun from stdin and enters the VM", async () => {
  const log = newCallLog(temp);
  const config = { ...typicalBox("/home/u/.boxlite"), libkrun: buildRecorder() };
  const result = await runBinary(["__vm", "b1"], { KRUN_RECORDER_LOG: log, KRUN_RECORDER_EXIT: "9" }, JSON.stringify(config));
  expect(result).toEqual({ code: 9, stdout: "", stderr: "" });
  const calls = readCalls(log).map((call) => call.call);
  expect(calls[0]).toBe("krun_set_log_level");
  expect(calls.at(-1)).toBe("krun_start_enter");
  expect(calls).toHaveLength(13);
});
