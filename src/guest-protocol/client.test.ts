import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../../test/helpers/cli.ts";
import { boxNetwork } from "../../test/helpers/guest-network.ts";
import { BoxliteError } from "../util/errors.ts";
import { GuestChannel } from "./client.ts";
import { connectWithRetry } from "./client-connect.ts";
import { encodeFrame, FrameDecoder, FrameType, PROTOCOL_VERSION } from "./frames.ts";
import { encodeJson, type GuestConfig } from "./messages.ts";

const dir = mkdtempSync(join(tmpdir(), "connect-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const quiet = { data: () => {} };

test("a socket that starts listening a moment late is still reached (QEMU binds before it listens)", async () => {
  const path = join(dir, "late.sock");
  let server: ReturnType<typeof Bun.listen> | undefined;
  setTimeout(() => {
    server = Bun.listen({ unix: path, socket: quiet });
  }, 150);
  const socket = await connectWithRetry(path, undefined, quiet);
  expect(server).toBeDefined();
  socket.end();
  server?.stop(true);
});

test("a socket that never appears fails after the retry window with a vmm_failed error", async () => {
  const started = performance.now();
  const error = await connectWithRetry(join(dir, "never.sock"), undefined, quiet).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(BoxliteError);
  expect((error as BoxliteError).code).toBe("vmm_failed");
  expect(performance.now() - started).toBeGreaterThanOrEqual(2000);
});

test("with no retry, a socket nobody listens on fails at once (the exec port falls back to the box socket)", async () => {
  const started = performance.now();
  const error = await connectWithRetry(join(dir, "never.sock"), 0, quiet).catch((e: unknown) => e);
  expect((error as BoxliteError).code).toBe("vmm_failed");
  expect(performance.now() - started).toBeLessThan(1000);
});

/** A fake agent that hangs up on the first `refusals` connections (as a vsock bridge does before the guest listens), then answers HELLO. */
function flakyAgent(path: string, refusals: number): { connections: () => number; stop: () => void } {
  let connections = 0;
  const server = Bun.listen({
    unix: path,
    socket: {
      open: (socket) => {
        connections++;
        if (connections <= refusals) socket.end();
      },
      data: (socket) => {
        if (connections > refusals) socket.write(encodeFrame(FrameType.HELLO, 0, encodeJson({ version: PROTOCOL_VERSION, agent: "fake" })));
      },
    },
  });
  return { connections: () => connections, stop: () => server.stop(true) };
}

test("a channel closed before the guest's HELLO is connected again until the guest answers", async () => {
  const agent = flakyAgent(join(dir, "flaky.sock"), 3);
  const { channel, hello } = await GuestChannel.connect(join(dir, "flaky.sock"), { timeoutMs: 5000, vmExited: new Promise(() => {}) });
  expect(hello.agent).toBe("fake");
  expect(agent.connections()).toBe(4);
  channel.close();
  agent.stop();
});

test("a channel that keeps closing before HELLO is a guest_timeout at the deadline, not a retry forever", async () => {
  const agent = flakyAgent(join(dir, "closing.sock"), Number.MAX_SAFE_INTEGER);
  const started = performance.now();
  const error = await GuestChannel.connect(join(dir, "closing.sock"), { timeoutMs: 500, vmExited: new Promise(() => {}) }).catch((caught: unknown) => caught);
  expect((error as BoxliteError).code).toBe("guest_timeout");
  expect(performance.now() - started).toBeLessThan(2000);
  expect(agent.connections()).toBeGreaterThan(3);
  agent.stop();
});

interface FakeFrame {
  type: number;
  stream: number;
  payload: string;
}

/** A fake agent that answers HELLO, then answers each later frame with `reply` (nothing when it returns undefined). */
function scriptedAgent(path: string, reply: (frame: FakeFrame) => Uint8Array | undefined): { frames: FakeFrame[]; stop: () => void } {
  const frames: FakeFrame[] = [];
  const decoder = new FrameDecoder();
  const server = Bun.listen({
    unix: path,
    socket: {
      data: (socket, bytes) => {
        for (const frame of decoder.push(bytes)) {
          const seen = { type: frame.type, stream: frame.stream, payload: new TextDecoder().decode(frame.payload) };
          frames.push(seen);
          const answer =
            frame.type === FrameType.HELLO ? encodeFrame(FrameType.HELLO, 0, encodeJson({ version: PROTOCOL_VERSION, agent: "fake" })) : reply(seen);
          if (answer) socket.write(answer);
        }
      },
    },
  });
  return { frames, stop: () => server.stop(true) };
}

const config: GuestConfig = { hostname: "0123456789ab", rootfs: { device: "/dev/vdb" } };
const forever = new Promise(() => {});

test("with a configuration, connect sends CONFIG right after HELLO and resolves once the guest acknowledges it", async () => {
  const agent = scriptedAgent(join(dir, "config.sock"), (frame) =>
    frame.type === FrameType.CONFIG ? encodeFrame(FrameType.CONFIG, 0, encodeJson({})) : undefined,
  );
  const { channel } = await GuestChannel.connect(join(dir, "config.sock"), { timeoutMs: 5000, vmExited: forever, config });
  expect(agent.frames.map((frame) => [frame.type, frame.stream])).toEqual([
    [FrameType.HELLO, 0],
    [FrameType.CONFIG, 0],
  ]);
  expect(JSON.parse(agent.frames[1]?.payload ?? "")).toEqual({ hostname: "0123456789ab", rootfs: { device: "/dev/vdb" } });
  channel.close();
  agent.stop();
});

test("CONFIG goes out behind HELLO without waiting for the guest's answer to it", async () => {
  const path = join(dir, "config-pipelined.sock");
  const decoder = new FrameDecoder();
  let helloSeen = false;
  const server = Bun.listen({
    unix: path,
    socket: {
      data: (socket, bytes) => {
        for (const frame of decoder.push(bytes)) {
          if (frame.type === FrameType.HELLO) helloSeen = true;
          // Both answers go out only once CONFIG arrived: a host waiting for HELLO's answer first would wait forever.
          if (frame.type !== FrameType.CONFIG || !helloSeen) continue;
          socket.write(encodeFrame(FrameType.HELLO, 0, encodeJson({ version: PROTOCOL_VERSION, agent: "fake" })));
          socket.write(encodeFrame(FrameType.CONFIG, 0, encodeJson({})));
        }
      },
    },
  });
  const { channel, hello } = await GuestChannel.connect(path, { timeoutMs: 5000, vmExited: forever, config });
  expect(hello.agent).toBe("fake");
  channel.close();
  server.stop(true);
});

test("a configuration with a network goes on the wire as the golden config_network vector", async () => {
  const vectors = await Bun.file(join(import.meta.dir, "..", "..", "test", "fixtures", "guest-protocol", "vectors.tsv")).text();
  const vector = vectors
    .split("\n")
    .find((line) => line.startsWith("config_network\t"))
    ?.split("\t")[1];
  const frame = encodeFrame(FrameType.CONFIG, 0, encodeJson({ ...config, network: boxNetwork }));
  expect(Buffer.from(frame).toString("hex")).toBe(vector ?? "no config_network vector");
});

test("a configuration the guest cannot apply fails connect with vmm_failed and the guest's reason", async () => {
  const refusal = encodeFrame(FrameType.ERROR, 0, encodeJson({ code: "config_failed", message: "mount /dev/vdb on /rootfs: Invalid argument" }));
  const agent = scriptedAgent(join(dir, "config-failed.sock"), () => refusal);
  const error = await GuestChannel.connect(join(dir, "config-failed.sock"), { timeoutMs: 5000, vmExited: forever, config }).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(BoxliteError);
  expect((error as BoxliteError).code).toBe("vmm_failed");
  expect((error as BoxliteError).message).toBe("the guest could not apply the box's configuration: mount /dev/vdb on /rootfs: Invalid argument");
  agent.stop();
});

test("a guest that never answers CONFIG is a guest_timeout at the connect deadline", async () => {
  const agent = scriptedAgent(join(dir, "config-silent.sock"), () => undefined);
  const error = await GuestChannel.connect(join(dir, "config-silent.sock"), { timeoutMs: 300, vmExited: forever, config }).catch((caught: unknown) => caught);
  expect((error as BoxliteError).code).toBe("guest_timeout");
  expect(agent.frames.at(-1)?.type).toBe(FrameType.CONFIG);
  agent.stop();
});

test("a CONFIG answer the host did not ask for is malformed: the host says so and gives up on the channel", async () => {
  const agent = scriptedAgent(join(dir, "config-unasked.sock"), (frame) =>
    frame.type === FrameType.EXEC ? encodeFrame(FrameType.CONFIG, 0, encodeJson({})) : undefined,
  );
  const { channel } = await GuestChannel.connect(join(dir, "config-unasked.sock"), { timeoutMs: 5000, vmExited: forever });
  const execution = channel.exec(
    { argv: ["true"], env: [], cwd: "/", create_cwd: false, user: "", tty: null, stdin: false },
    { onStdout: () => {}, onStderr: () => {} },
  );
  const error = await execution.exit.promise.catch((caught: unknown) => caught);
  expect((error as BoxliteError).message).toBe("the guest sent a malformed frame: the guest sent CONFIG that was not asked for");
  await waitFor(() => agent.frames.length > 2, 5000, "the host's ERROR");
  const sent = agent.frames[2];
  expect([sent?.type, sent?.stream, JSON.parse(sent?.payload ?? "{}").code]).toEqual([FrameType.ERROR, 0, "malformed"]);
  agent.stop();
});

test("a channel closed with a reason fails what runs over it with that reason, not with 'the channel closed'", async () => {
  const agent = flakyAgent(join(dir, "reason.sock"), 0);
  const { channel } = await GuestChannel.connect(join(dir, "reason.sock"), { timeoutMs: 5000, vmExited: new Promise(() => {}) });
  const execution = channel.exec(
    { argv: ["sleep", "600"], env: [], cwd: "/", create_cwd: false, user: "", tty: null, stdin: false },
    { onStdout: () => {}, onStderr: () => {} },
  );
  channel.close(new BoxliteError("vmm_failed", "helper net (pid 1) exited with status 1; the VM was stopped"));
  const error = await execution.exit.promise.catch((caught: unknown) => caught);
  expect(error).toMatchObject({ code: "vmm_failed", message: "helper net (pid 1) exited with status 1; the VM was stopped" });
  agent.stop();
});

test("a dialed channel sends what follows HELLO at once, and the other end reads HELLO first", async () => {
  const path = join(dir, "dial.sock");
  const seen: FrameType[] = [];
  const decoder = new FrameDecoder({ boxSocket: true });
  const server = Bun.listen({
    unix: path,
    socket: {
      data: (socket, bytes) => {
        for (const frame of decoder.push(bytes)) {
          seen.push(frame.type);
          // Answered only once EXEC is here: the client did not wait for HELLO's answer to send it.
          if (frame.type !== FrameType.EXEC) continue;
          socket.write(encodeFrame(FrameType.HELLO, 0, encodeJson({ version: PROTOCOL_VERSION, agent: "owner" })));
          socket.write(encodeFrame(FrameType.EXIT, frame.stream, encodeJson({ code: 3, signal: 0, duration_us: 7 })));
        }
      },
    },
  });
  const channel = await GuestChannel.dial(path, { timeoutMs: 5000, unanswered: () => new BoxliteError("conflict", "silent") });
  const request = { argv: ["true"], env: [], cwd: "/", create_cwd: false, user: "", tty: null, stdin: false };
  const status = await channel.exec(request, { onStdout: () => {}, onStderr: () => {} }).exit.promise;
  expect(status).toMatchObject({ code: 3, durationUs: 7 });
  expect(seen).toEqual([FrameType.HELLO, FrameType.EXEC]);
  channel.close();
  server.stop(true);
});

test("a dialed channel whose other end never answers HELLO fails what runs over it with the reason given", async () => {
  const path = join(dir, "dial-silent.sock");
  const server = Bun.listen({ unix: path, socket: quiet });
  const channel = await GuestChannel.dial(path, { timeoutMs: 100, unanswered: () => new BoxliteError("conflict", "the owner is silent") });
  const request = { argv: ["true"], env: [], cwd: "/", create_cwd: false, user: "", tty: null, stdin: false };
  const error = await channel.exec(request, { onStdout: () => {}, onStderr: () => {} }).exit.promise.catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(BoxliteError);
  expect((error as BoxliteError).message).toBe("the owner is silent");
  expect(channel.isClosed).toBe(true);
  server.stop(true);
});

test("a dialed channel whose other end closes before answering HELLO fails what runs over it with the reason given", async () => {
  const path = join(dir, "dial-closing.sock");
  const server = Bun.listen({ unix: path, socket: { data: (socket) => void socket.end() } });
  const channel = await GuestChannel.dial(path, { timeoutMs: 5000, unanswered: () => new BoxliteError("conflict", "box b1 is stopping") });
  const request = { argv: ["true"], env: [], cwd: "/", create_cwd: false, user: "", tty: null, stdin: false };
  const error = await channel.exec(request, { onStdout: () => {}, onStderr: () => {} }).exit.promise.catch((caught: unknown) => caught);
  expect(error).toMatchObject({ code: "conflict", message: "box b1 is stopping" });
  server.stop(true);
});

test("SUSPEND goes out on stream 0 with the kept and orphan streams and resolves on the guest's answer; an adopted stream is the host's again", async () => {
  let sendOutput: ((bytes: Uint8Array) => void) | undefined;
  const agent = scriptedAgent(join(dir, "suspend.sock"), (frame) =>
    frame.type === FrameType.SUSPEND ? encodeFrame(FrameType.SUSPEND, 0, encodeJson({})) : undefined,
  );
  const { channel } = await GuestChannel.connect(join(dir, "suspend.sock"), { timeoutMs: 5000, vmExited: forever });
  await channel.suspend({ keep: [1], orphan: [4, 5] });
  expect(agent.frames.at(-1)).toEqual({ type: FrameType.SUSPEND, stream: 0, payload: '{"keep":[1],"orphan":[4,5]}' });
  agent.stop();
  channel.close();

  // A resumed owner takes over stream 1: its output and exit reach the handlers; a new command gets another id.
  const output: string[] = [];
  const resumed = Bun.listen({
    unix: join(dir, "adopt.sock"),
    socket: {
      data: (socket) => {
        sendOutput = (bytes) => socket.write(bytes);
        socket.write(encodeFrame(FrameType.HELLO, 0, encodeJson({ version: PROTOCOL_VERSION, agent: "fake" })));
      },
    },
  });
  const adopted = (await GuestChannel.connect(join(dir, "adopt.sock"), { timeoutMs: 5000, vmExited: forever })).channel;
  const main = adopted.adopt(1, { onStdout: (chunk) => void output.push(new TextDecoder().decode(chunk)), onStderr: () => {} }, { pid: 42 });
  expect(await main.started.promise).toEqual({ pid: 42 });
  expect(() => adopted.adopt(1, { onStdout: () => {}, onStderr: () => {} }, { pid: 42 })).toThrow("stream 1 is already in use");
  const next = adopted.exec(
    { argv: ["true"], env: [], cwd: "/", create_cwd: false, user: "", tty: null, stdin: false },
    { onStdout: () => {}, onStderr: () => {} },
  );
  next.exit.promise.catch(() => {});
  expect(next.stream).not.toBe(1);
  sendOutput?.(encodeFrame(FrameType.STDOUT, 1, new TextEncoder().encode("41\n")));
  sendOutput?.(encodeFrame(FrameType.EXIT, 1, encodeJson({ code: 0, signal: 0, duration_us: 5 })));
  expect((await main.exit.promise).code).toBe(0);
  expect(output).toEqual(["41\n"]);
  adopted.close();
  resumed.stop(true);
});
