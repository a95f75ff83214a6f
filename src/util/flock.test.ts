import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BoxliteError } from "./errors.ts";
import { FileLock } from "./flock.ts";

const dir = mkdtempSync(join(tmpdir(), "flock-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const FLOCK_MODULE = join(import.meta.dir, "flock.ts");

/** Another process that takes the lock, says so, then waits to be killed. */
function holder(path: string, operation: string) {
  const script = `import { FileLock } from ${JSON.stringify(FLOCK_MODULE)};
    const lock = FileLock.tryAcquire(${JSON.stringify(path)}, ${JSON.stringify(operation)});
    console.log(lock instanceof FileLock ? "locked" : "busy");
    await Bun.sleep(600_000);`;
  return Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
}

async function firstLine(proc: ReturnType<typeof holder>): Promise<string> {
  const reader = proc.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  return new TextDecoder().decode(value).trim();
}

test("a second taker in another process is told who holds the lock and why", async () => {
  const path = join(dir, "box-a");
  const other = holder(path, "stop");
  expect(await firstLine(other)).toBe("locked");
  const attempt = FileLock.tryAcquire(path, "rm");
  expect(attempt).not.toBeInstanceOf(FileLock);
  expect(attempt).toMatchObject({ busy: { pid: other.pid, operation: "stop" } });
  other.kill("SIGKILL");
  await other.exited;
});

test("a lock whose holder was killed is free at once", async () => {
  const path = join(dir, "box-b");
  const other = holder(path, "start");
  expect(await firstLine(other)).toBe("locked");
  other.kill("SIGKILL");
  await other.exited;
  using lock = FileLock.tryAcquire(path, "rm") as FileLock;
  expect(lock).toBeInstanceOf(FileLock);
});

test("acquire gives up after its timeout with a busy error naming the holder", async () => {
  const path = join(dir, "home");
  const other = holder(path, "migrate");
  expect(await firstLine(other)).toBe("locked");
  const started = Date.now();
  const error = await FileLock.acquire(path, "open", 150).catch((e: unknown) => e);
  expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  expect(error).toBeInstanceOf(BoxliteError);
  expect((error as BoxliteError).code).toBe("busy");
  expect((error as BoxliteError).message).toContain(`migrate by pid ${other.pid}`);
  other.kill("SIGKILL");
  await other.exited;
  using lock = await FileLock.acquire(path, "open", 1000);
  expect(lock).toBeInstanceOf(FileLock);
});

test("releasing lets the next taker in, within one process too", () => {
  const path = join(dir, "box-c");
  const first = FileLock.tryAcquire(path, "one") as FileLock;
  expect(first).toBeInstanceOf(FileLock);
  expect(FileLock.tryAcquire(path, "two")).not.toBeInstanceOf(FileLock);
  first.release();
  const second = FileLock.tryAcquire(path, "two");
  expect(second).toBeInstanceOf(FileLock);
  (second as FileLock).release();
});
