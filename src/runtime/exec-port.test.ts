/**
 * Taking a box's exec port without a VM: what makes a process fall back to the box socket —
 * no socket (a libkrun box), a socket nobody listens on (its VM is gone), the port held by
 * another holder — and that a fallback leaves the port's lock free. The e2e tests
 * (test/e2e/exec-port.test.ts) use the port of a real VM.
 */
import { beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { FileLock } from "../util/flock.ts";
import { boxLayout, createBoxDirs } from "./box-layout.ts";
import { Boxlite } from "./boxlite.ts";
import { holdsExecPort, takeExecPort } from "./exec-port.ts";
import type { Home } from "./home.ts";

let home: Home;
beforeAll(async () => {
  home = await Boxlite.open().home();
});

/** A created box with its directories and socket link, as a start makes them, and no VM. */
async function box(): Promise<string> {
  const id = await new Boxlite(home.config).create({});
  createBoxDirs(boxLayout(home.config, id), home.config);
  return id;
}

test("a box with no exec port's socket (libkrun's) is left to the box socket", async () => {
  const id = await box();
  expect(await takeExecPort(home, id)).toBeUndefined();
  expect(holdsExecPort(home, id)).toBe(false);
});

test("a socket nobody listens on falls back at once, and frees the port's lock", async () => {
  const id = await box();
  const layout = boxLayout(home.config, id);
  // What a killed QEMU leaves is a socket file nobody listens on; any file refuses a connect alike.
  writeFileSync(layout.execSocket, "");
  const started = performance.now();
  expect(await takeExecPort(home, id)).toBeUndefined();
  expect(performance.now() - started).toBeLessThan(1000);
  const lock = FileLock.tryAcquire(layout.execLock, "test");
  expect(lock).toBeInstanceOf(FileLock);
  (lock as FileLock).release();
});

test("a port whose lock another holder has is left to it", async () => {
  const id = await box();
  const layout = boxLayout(home.config, id);
  const server = Bun.listen({ unix: layout.execSocket, socket: { data() {} } });
  const lock = FileLock.tryAcquire(layout.execLock, "another process") as FileLock;
  try {
    expect(await takeExecPort(home, id)).toBeUndefined();
    expect(holdsExecPort(home, id)).toBe(false);
  } finally {
    lock.release();
    server.stop(true);
  }
});
