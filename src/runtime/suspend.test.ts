/**
 * The owner's side of a suspend, with a VM control and a guest channel that record what they
 * were told (the e2e tests suspend real VMs): what is refused before the guest hears of it —
 * libkrun, volumes, a `--rm` box, a box held for a snapshot or without a running main
 * command — and that a save that fails lets the VM go on with nothing left behind.
 */
import { afterAll, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../test/helpers/temp.ts";
import { loadConfig } from "../config/config.ts";
import type { MainSession } from "../guest-protocol/main-session.ts";
import type { RelayServer } from "../guest-protocol/relay.ts";
import { BoxliteError } from "../util/errors.ts";
import type { VmProcess } from "../vmm/backend.ts";
import { KrunControl } from "../vmm/krun/control.ts";
import type { BootedBox } from "./boot.ts";
import type { Home } from "./home.ts";
import type { PauseGate } from "./pause.ts";
import { SuspendGate } from "./suspend.ts";

const temp = new TempDirs();
afterAll(() => temp.removeAll());
const config = loadConfig({ home: temp.make("suspend-home-") });

interface Setup {
  calls: string[];
  dir: string;
  gate: SuspendGate;
}

/** A suspend of a box whose main command is stream 3 (pid 9), with a detached command on stream 7. */
function setup(options: { failSave?: boolean; paused?: boolean; autoRemove?: boolean; quiesced?: boolean; mainRunning?: boolean; krun?: boolean } = {}): Setup {
  const calls: string[] = [];
  const dir = temp.make("suspend-box-");
  const qemuControl = {
    pause: async () => void calls.push("pause"),
    resume: async () => void calls.push("resume"),
    switchDisk: async () => {},
    saveRefusal: () => undefined,
    saveState: async (path: string) => {
      calls.push("save");
      if (options.failSave) throw new BoxliteError("vmm_failed", "QEMU could not save the VM: No space left on device");
      writeFileSync(path, "state");
      return { format: 1, ram: ["ram"] };
    },
    close: () => {},
  };
  const control = options.krun ? new KrunControl({ members: [] } as unknown as VmProcess) : qemuControl;
  const channel = { suspend: async (request: unknown) => void calls.push(`SUSPEND ${JSON.stringify(request)}`) };
  const box = {
    control,
    channel,
    vmm: options.krun ? "krun" : "qemu",
    layout: { dir },
    config: { hostname: "box-host", rootfs: { device: "vdb" } },
  } as unknown as BootedBox;
  let queue = Promise.resolve();
  const pause = {
    isPaused: options.paused === true,
    inTurn: (step: () => Promise<void>) => {
      const run = queue.then(step);
      queue = run.catch(() => {});
      return run;
    },
  } as unknown as PauseGate;
  // Its STARTED comes a moment after the suspend is asked for, unless the main command does not run.
  const started = Promise.withResolvers<void>();
  let hasStarted = false;
  setTimeout(() => {
    hasStarted = true;
    started.resolve();
  }, 20);
  const main = {
    state: options.mainRunning === false ? "exited" : "running",
    started,
    guestStream: () => (options.mainRunning === false || !hasStarted ? undefined : { stream: 3, pid: 9 }),
  } as unknown as MainSession;
  const relay = { detachedStreams: () => [7] } as unknown as RelayServer;
  const gate = new SuspendGate({
    home: { config } as Home,
    id: "b1",
    options: options.autoRemove ? { autoRemove: true } : {},
    box,
    main,
    pause,
    relay: () => relay,
    ending: () => undefined,
    quiesced: () => options.quiesced === true,
  });
  return { calls, dir, gate };
}

test("the main command is kept and detached commands orphaned; the state lands in the box's directory with the main command's stream", async () => {
  const { calls, dir, gate } = setup();
  await gate.suspend();
  expect(calls).toEqual(['SUSPEND {"keep":[3],"orphan":[7]}', "save"]);
  const manifest = JSON.parse(readFileSync(join(dir, "memory", "manifest.json"), "utf8"));
  expect(manifest).toMatchObject({ vmm: "qemu", main: { stream: 3, pid: 9 }, vm: { ram: ["ram"] }, state_bytes: 5, hostname: "box-host" });
});

test("a save that fails lets the VM go on and makes the guest's next connection a plain one; nothing is left behind", async () => {
  const { calls, dir, gate } = setup({ failSave: true });
  expect(await gate.suspend().catch((error: unknown) => error)).toMatchObject({ code: "vmm_failed", message: expect.stringContaining("No space left") });
  expect(calls).toEqual(['SUSPEND {"keep":[3],"orphan":[7]}', "save", "resume", 'SUSPEND {"keep":[],"orphan":[]}']);
  expect(readdirSync(dir)).toEqual([]);
  expect(gate.refusal()).toBeUndefined();
});

test("a paused box runs for the guest's answer, and stays paused when the suspend fails", async () => {
  const { calls, gate } = setup({ paused: true, failSave: true });
  await gate.suspend().catch(() => {});
  expect(calls).toEqual(["resume", 'SUSPEND {"keep":[3],"orphan":[7]}', "save", "resume", 'SUSPEND {"keep":[],"orphan":[]}', "pause"]);
});

test("refusals come before the guest hears anything: libkrun, a --rm box, a box held for a snapshot, a main command that does not run", async () => {
  const cases: Array<[Parameters<typeof setup>[0], string, string]> = [
    [{ krun: true }, "unsupported", "libkrun has no snapshot API"],
    [{ autoRemove: true }, "conflict", "box b1 is removed when it stops (--rm): it cannot be suspended"],
    [{ quiesced: true }, "busy", "held still for a snapshot, clone or export"],
    [{ mainRunning: false }, "conflict", "box b1's main command is not running"],
  ];
  for (const [options, code, message] of cases) {
    const { calls, dir, gate } = setup(options);
    expect(await gate.suspend().catch((error: unknown) => error)).toMatchObject({ code, message: expect.stringContaining(message) });
    expect(calls).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  }
});
