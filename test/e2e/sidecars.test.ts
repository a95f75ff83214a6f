/**
 * Devices and helpers beside real VMs: a QEMU box whose NIC is served by a helper (the
 * sidecar stand-in) started before it, a helper whose death stops the box with the
 * reason, and owners SIGKILLed with a QEMU box and with a krun (recorder) box — every
 * process of the group goes. (QEMU with fsd, the real file server: host/fsd/fsd-vhost.test.ts.)
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ulid } from "ulid";
import { loadConfig } from "../../src/config/config.ts";
import type { ExitStatus } from "../../src/guest-protocol/execution.ts";
import { prepareDefaultImage } from "../../src/image/default-image.ts";
import type { ImageBase } from "../../src/image/image.ts";
import { type BootedBox, bootBox } from "../../src/runtime/boot.ts";
import { boxLayout, removeBox } from "../../src/runtime/box-layout.ts";
import { BoxliteError } from "../../src/util/errors.ts";
import { isRunning } from "../../src/util/proc.ts";
import { buildRecorder, RECORDER_PATH } from "../fixtures/libkrun-recorder/recorder.ts";
import { waitFor } from "../helpers/cli.ts";
import { sidecar, startOwner } from "../helpers/sidecars.ts";
import { TempDirs } from "../helpers/temp.ts";
import { typicalSpec } from "../helpers/vm-spec.ts";

const config = loadConfig();
const temp = new TempDirs();
let image: ImageBase;

beforeAll(async () => {
  image = await prepareDefaultImage(config);
});
afterAll(() => temp.removeAll());

const MAC = "5a:94:ef:e4:0c:ee";

async function run(box: BootedBox, argv: string[]): Promise<{ status: ExitStatus; out: string }> {
  let out = "";
  const execution = box.channel.exec(
    { argv, env: ["PATH=/bin:/usr/bin:/sbin"], cwd: "/", create_cwd: false, user: "", tty: null, stdin: false },
    {
      onStdout: (chunk) => {
        out += new TextDecoder().decode(chunk);
      },
      onStderr: () => {},
    },
  );
  return { status: await execution.exit.promise, out };
}

test("a helper serves a QEMU box's NIC from before it boots; its death stops the box, and what runs in it fails with why", async () => {
  const id = ulid().toLowerCase();
  const layout = boxLayout(config, id);
  const netSocket = join(layout.socketLink, "net.sock");
  const connections = join(temp.make("sidecar-"), "connections");
  const box = await bootBox(config, {
    id,
    image,
    cpus: 1,
    memoryMib: 256,
    devices: [{ kind: "net", socketPath: netSocket, mac: MAC }],
    helpers: [sidecar("net", netSocket, ["--log", connections])],
  });
  try {
    expect(box.vm.members.map((member) => member.name)).toEqual(["net", "vmm"]);
    expect(readFileSync(join(layout.dir, "group.pid"), "utf8")).toBe(box.vm.members.map((m) => `${m.pid} ${m.startTime} ${m.name}\n`).join(""));
    // QEMU connected to the helper's socket, and the guest has the NIC with its MAC.
    expect(readFileSync(connections, "utf8")).toBe("connection\n");
    expect(await run(box, ["cat", "/sys/class/net/eth0/address"])).toEqual({ status: expect.objectContaining({ code: 0 }), out: `${MAC}\n` });

    const waiting = box.channel.exec(
      { argv: ["sleep", "600"], env: [], cwd: "/", create_cwd: false, user: "", tty: null, stdin: false },
      { onStdout: () => {}, onStderr: () => {} },
    );
    await waiting.started.promise;
    const [helper] = box.vm.members;
    process.kill(helper?.pid as number, "SIGKILL");
    const reason = `helper net (pid ${helper?.pid}) was killed by signal 9 (SIGKILL); the VM was stopped`;
    const lost = await waiting.exit.promise.catch((error: unknown) => error);
    expect(lost).toBeInstanceOf(BoxliteError);
    expect(lost).toMatchObject({ code: "vmm_failed", message: reason });
    expect((await box.vm.exited).reason).toBe(reason);
    expect(box.vm.members.some(isRunning)).toBe(false);
  } finally {
    await box.kill();
    removeBox(layout);
  }
});

test("the owner of a QEMU box SIGKILLed: the watchdog, the helper and QEMU are all gone", async () => {
  const id = ulid().toLowerCase();
  const socket = join(boxLayout(config, id).socketLink, "helper.sock");
  const owner = await startOwner({ kind: "boot", id, helpers: [sidecar("helper", socket, ["--ignore-term"])] });
  try {
    expect(owner.group.map((member) => member.name)).toEqual(["watchdog", "helper", "vmm"]);
    expect(readFileSync(`/proc/${owner.group[2]?.pid}/cmdline`, "utf8")).toContain("qemu-system");
    expect(owner.group.every(isRunning)).toBe(true);
    owner.proc.kill("SIGKILL");
    // The helper ignores SIGTERM: gone only after the watchdog's grace and SIGKILL.
    await waitFor(() => !owner.group.some(isRunning), 15_000, "the box's processes to be gone");
  } finally {
    owner.proc.kill("SIGKILL");
    removeBox(boxLayout(config, id));
  }
});

test("the owner of a krun box (the recorder) SIGKILLed: the watchdog, the helper and `boxlite __vm` are all gone", async () => {
  buildRecorder();
  const dir = temp.make("krun-owner-");
  const spec = typicalSpec(dir);
  spec.helpers = [sidecar("helper", join(dir, "helper.sock"))];
  Bun.spawnSync(["mkdir", "-p", join(dir, "sock"), join(dir, "boxes", "b1", "logs")]);
  const owner = await startOwner(
    { kind: "krun", spec },
    { BOXLITE_LIBKRUN: RECORDER_PATH, KRUN_RECORDER_LISTEN: "1", KRUN_RECORDER_HOLD_MS: "600000", KRUN_RECORDER_LOG: join(dir, "calls.jsonl") },
  );
  try {
    expect(owner.group.map((member) => member.name)).toEqual(["watchdog", "helper", "vmm"]);
    expect(readFileSync(`/proc/${owner.group[2]?.pid}/cmdline`, "utf8")).toContain("\0__vm\0b1\0");
    owner.proc.kill("SIGKILL");
    await waitFor(() => !owner.group.some(isRunning), 10_000, "the box's processes to be gone");
  } finally {
    owner.proc.kill("SIGKILL");
  }
});
