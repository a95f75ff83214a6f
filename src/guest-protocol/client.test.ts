import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BoxliteError } from "../util/errors.ts";
import { connectWithRetry, GuestChannel } from "./client.ts";
import { encodeFrame, FrameType, PROTOCOL_VERSION } from "./frames.ts";
import { encodeJson } from "./messages.ts";

const dir = mkdtempSync(join(tmpdir(), "connect-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const quiet = { data: () => {} };

test("a socket that starts listening a moment late is still reached (QEMU binds before it listens)", async () => {
  const path = join(dir, "late.sock");
  let server: ReturnType<typeof Bun.listen> | undefined;
  setTimeout(() => {
    server = Bun.listen({ unix: path, socket: quiet });
  }, 150);
  const socket = await connectWithRetry(path, quiet);
  expect(server).toBeDefined();
  socket.end();
  server?.stop(true);
});

test("a socket that never appears fails after the retry window with a vmm_failed error", async () => {
  const started = performance.now();
  const error = await connectWithRetry(join(dir, "never.sock"), quiet).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(BoxliteError);
  expect((error as BoxliteError).code).toBe("vmm_failed");
  expect(performance.now() - started).toBeGreaterThanOrEqual(2000);
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
