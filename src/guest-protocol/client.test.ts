import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BoxliteError } from "../util/errors.ts";
import { connectWithRetry } from "./client.ts";

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
