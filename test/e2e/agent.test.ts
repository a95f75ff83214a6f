/**
 * The guest agent through the protocol, on one booted VM shared by the file: its
 * configuration, malformed input, reconnection, PTY resize and concurrent streams. The VM
 * is started without its configuration, which the first test sends.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ulid } from "ulid";
import { loadConfig } from "../../src/config/config.ts";
import { GuestChannel } from "../../src/guest-protocol/client.ts";
import type { ExitStatus } from "../../src/guest-protocol/execution.ts";
import { encodeFrame, FrameDecoder, FrameType } from "../../src/guest-protocol/frames.ts";
import type { ExecRequest, GuestConfig } from "../../src/guest-protocol/messages.ts";
import { prepareDefaultImage } from "../../src/image/default-image.ts";
import { guestConfig, type StartedVm, startBoxVm } from "../../src/runtime/boot.ts";
import { removeBox } from "../../src/runtime/box-layout.ts";
import type { BoxliteError } from "../../src/util/errors.ts";
import { waitFor } from "../helpers/cli.ts";
import { boxNetwork } from "../helpers/guest-network.ts";

const config = loadConfig();
const id = ulid().toLowerCase();
const boxConfig = guestConfig(id);
let box: StartedVm;
let channel: GuestChannel;

beforeAll(async () => {
  const image = await prepareDefaultImage(config);
  // Cold: this file drives the channel by hand (a restored VM waits for its owner, see boot.ts).
  box = await startBoxVm(config, { id, image, cpus: 1, memoryMib: 256 }, true);
  channel = await reconnect();
}, 120_000);

afterAll(async () => {
  channel.shutdown();
  const timer = setTimeout(() => box.vm.kill("SIGKILL"), 10_000);
  await box.vm.exited;
  clearTimeout(timer);
  channel.close();
  removeBox(box.layout);
}, 60_000);

function request(argv: string[], extra: Partial<ExecRequest> = {}): ExecRequest {
  return { argv, env: ["PATH=/bin:/usr/bin"], cwd: "/", create_cwd: false, user: "", tty: null, stdin: false, ...extra };
}

async function capture(on: GuestChannel, argv: string[], extra: Partial<ExecRequest> = {}): Promise<{ status: ExitStatus; out: string; err: string }> {
  let out = "";
  let err = "";
  const execution = on.exec(request(argv, extra), {
    onStdout: (chunk) => {
      out += new TextDecoder().decode(chunk);
    },
    onStderr: (chunk) => {
      err += new TextDecoder().decode(chunk);
    },
  });
  const status = await execution.exit.promise;
  return { status, out, err };
}

/** Connects to the agent (again, after the current connection was dropped), sending `guest` as CONFIG if given. */
async function reconnect(guest?: GuestConfig): Promise<GuestChannel> {
  const options = { timeoutMs: 60_000, vmExited: box.vm.exited, ...(guest ? { config: guest } : {}) };
  const { channel: fresh } = await GuestChannel.connect(box.layout.agentSocket, options);
  return fresh;
}

/** How many connections the agent has seen go (its console line, guest/loop.c). */
function hangUps(): number {
  return (readFileSync(box.layout.consoleLog, "utf8").match(/the host went away/g) ?? []).length;
}

/**
 * Waits until the agent has seen a connection go since it had seen `before` go. The next one
 * must not connect sooner: a close and a connect in quick succession can reach the agent in
 * either order (virtio-serial's control queue lags its data), and it would then take the new
 * host for the old one. A fixed pause here was too short on a loaded machine.
 */
async function agentSawHangUp(before: number): Promise<void> {
  await waitFor(() => hangUps() > before, 20_000, "the agent to see the host go");
}

/** Drops the current connection and waits until the agent has seen it go. */
async function hangUp(): Promise<void> {
  const before = hangUps();
  channel.close();
  await agentSawHangUp(before);
}

const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as BoxliteError,
  );

test("the agent refuses commands until it is configured, reports a configuration it cannot apply, then keeps one for the boot", async () => {
  // Booted with nothing of the box: without a rootfs a command is refused, the channel lives on.
  const refused = await failureOf(capture(channel, ["true"]));
  expect(refused?.message).toBe("the guest refused the command: unconfigured: EXEC before CONFIG: the guest has no rootfs yet");
  await hangUp();
  // /dev/null is no block device: the guest says so, and stays unconfigured.
  let before = hangUps();
  const failed = await failureOf(reconnect({ ...boxConfig, rootfs: { device: "/dev/null" } }));
  expect([failed?.code, failed?.message]).toEqual([
    "vmm_failed",
    "the guest could not apply the box's configuration: mount /dev/null on /rootfs: Block device required",
  ]);
  await agentSawHangUp(before);
  // This VM has no network card: the rootfs is mounted, the interface never appears, and the
  // guest undoes the mount and stays unconfigured, its disk as it was.
  before = hangUps();
  const unreachable = await failureOf(reconnect({ ...boxConfig, network: boxNetwork }));
  expect([unreachable?.code, unreachable?.message]).toEqual([
    "vmm_failed",
    "the guest could not apply the box's configuration: network interface eth0 does not exist (waited 2 s)",
  ]);
  await agentSawHangUp(before);
  channel = await reconnect(boxConfig);
  const named = await capture(channel, ["cat", "/proc/sys/kernel/hostname"]);
  expect(named.out).toBe(`${boxConfig.hostname}\n`);
  const mounts = await capture(channel, ["cat", "/proc/mounts"]);
  expect(mounts.out.split("\n").filter((line) => line.split(" ")[1] === "/")).toEqual([expect.stringMatching(/^\/dev\/vdb \/ ext4 /)]);
  expect((await capture(channel, ["cat", "/etc/resolv.conf", "/etc/hosts"])).out).not.toContain("boxlite");
  // A later connection with another configuration is refused; with the same one, acknowledged.
  await hangUp();
  before = hangUps();
  const conflict = await failureOf(reconnect({ ...boxConfig, hostname: "other" }));
  expect(conflict?.message).toBe(
    `the guest was configured differently on an earlier connection: the guest is already configured with hostname "${boxConfig.hostname}", rootfs /dev/vdb and no network`,
  );
  await agentSawHangUp(before);
  channel = await reconnect(boxConfig);
  expect((await capture(channel, ["cat", "/proc/sys/kernel/hostname"])).out).toBe(`${boxConfig.hostname}\n`);
});

test("a malformed frame gets an ERROR on the channel, and the agent serves the next connection", async () => {
  await hangUp();
  const frames: Array<{ type: number; stream: number; payload: string }> = [];
  const decoder = new FrameDecoder();
  const raw = await Bun.connect({
    unix: box.layout.agentSocket,
    socket: {
      data: (_socket, bytes) => {
        for (const f of decoder.push(bytes)) frames.push({ type: f.type, stream: f.stream, payload: new TextDecoder().decode(f.payload) });
      },
    },
  });
  raw.write(encodeFrame(FrameType.HELLO, 0, new TextEncoder().encode('{"version":1}')));
  // A header with an unknown frame type (0x77).
  raw.write(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 1, 0x77, 0, 0, 0]));
  const deadline = Date.now() + 20_000;
  while (!frames.some((f) => f.type === FrameType.ERROR) && Date.now() < deadline) await Bun.sleep(20);
  const before = hangUps();
  raw.end();
  expect(frames[0]?.type).toBe(FrameType.HELLO);
  const error = frames.find((f) => f.type === FrameType.ERROR);
  expect(error?.stream).toBe(0);
  expect(JSON.parse(error?.payload ?? "{}").code).toBe("malformed");

  await agentSawHangUp(before);
  channel = await reconnect();
  const { status, out } = await capture(channel, ["echo", "still here"]);
  expect(status.code).toBe(0);
  expect(out).toBe("still here\n");
});

test("garbage that is not even a frame header does not crash the agent", async () => {
  await hangUp();
  const raw = await Bun.connect({ unix: box.layout.agentSocket, socket: { data: () => {} } });
  raw.write(new Uint8Array(4096).fill(0xff));
  await Bun.sleep(200);
  const before = hangUps();
  raw.end();
  // The agent discards what follows garbage until it sees this host go (guest/session.c).
  await agentSawHangUp(before);
  channel = await reconnect();
  expect((await capture(channel, ["true"])).status.code).toBe(0);
});

test("a PTY reports a terminal, and RESIZE changes what stty sees", async () => {
  let screen = "";
  const execution = channel.exec(request(["sh", "-c", "tty; stty size; read line; stty size"], { tty: { rows: 24, cols: 80 }, stdin: true }), {
    onStdout: (chunk) => {
      screen += new TextDecoder().decode(chunk);
    },
    onStderr: () => {},
  });
  const deadline = Date.now() + 20_000;
  while (!screen.includes("24 80") && Date.now() < deadline) await Bun.sleep(20);
  expect(screen).toMatch(/\/dev\/pts\/\d+/);
  execution.resize(50, 132);
  await execution.writeStdin(new TextEncoder().encode("\n"));
  const status = await execution.exit.promise;
  expect(status.code).toBe(0);
  expect(screen).toContain("50 132");
});

test("eight concurrent commands keep their output apart", async () => {
  const runs = Array.from({ length: 8 }, (_, i) =>
    capture(channel, ["sh", "-c", `i=0; while [ $i -lt 200 ]; do echo "stream ${i} line $i"; i=$((i+1)); done; exit ${i}`]),
  );
  const results = await Promise.all(runs);
  results.forEach(({ status, out }, i) => {
    expect(status.code).toBe(i);
    const lines = out.trimEnd().split("\n");
    expect(lines).toHaveLength(200);
    expect(lines.every((line, n) => line === `stream ${i} line ${n}`)).toBe(true);
  });
});

test("SIGNAL reaches the process and its exit reports 128+N", async () => {
  let out = "";
  const execution = channel.exec(request(["sh", "-c", "echo up; sleep 30"]), {
    onStdout: (c) => {
      out += new TextDecoder().decode(c);
    },
    onStderr: () => {},
  });
  const deadline = Date.now() + 20_000;
  while (!out.includes("up") && Date.now() < deadline) await Bun.sleep(20);
  execution.signal(15);
  const status = await execution.exit.promise;
  expect(status).toMatchObject({ code: 143, signal: 15 });
});

test("the box's /dev has docker's standard devices, not the VM's disks or the agent's channel", async () => {
  const { status, out } = await capture(channel, ["ls", "/dev"]);
  expect(status.code).toBe(0);
  const names = out.trim().split(/\s+/).sort();
  expect(names).toEqual(["fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero"]);
});

test("loopback is up for the box's commands (the agent brings it up once idle, or before its first command)", async () => {
  const { status, out } = await capture(channel, ["cat", "/sys/class/net/lo/flags"]);
  expect(status.code).toBe(0);
  expect(Number.parseInt(out.trim(), 16) & 1).toBe(1); // IFF_UP
});
