/**
 * QmpClient against a scripted QMP server on a unix socket: answers matched to commands in
 * order, and events waited for (a load's end, migration.ts) settling on the first match, on
 * the connection's end, or on their timeout.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket, UnixSocketListener } from "bun";
import { QmpClient } from "./qmp.ts";

const dir = mkdtempSync(join(tmpdir(), "boxlite-qmp-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let servers = 0;

/** A QMP server that greets, answers every command with `{}`, and hands the test its connection. */
function qmpServer(): { path: string; client: Promise<Socket<undefined>>; listener: UnixSocketListener<undefined> } {
  const path = join(dir, `qmp-${servers++}.sock`);
  const client = Promise.withResolvers<Socket<undefined>>();
  const listener = Bun.listen<undefined>({
    unix: path,
    socket: {
      open(socket) {
        socket.write(`${JSON.stringify({ QMP: { version: {}, capabilities: [] } })}\n`);
        client.resolve(socket);
      },
      data(socket, bytes) {
        for (const line of new TextDecoder().decode(bytes).split("\n")) if (line.trim() !== "") socket.write('{"return": {}}\n');
      },
    },
  });
  return { path, client: client.promise, listener };
}

function event(name: string, data: unknown): string {
  return `${JSON.stringify({ event: name, data, timestamp: { seconds: 0, microseconds: 0 } })}\n`;
}

test("an event waited for settles with the first one that matches, the others passed over", async () => {
  const server = qmpServer();
  const qmp = await QmpClient.connect(server.path);
  const ended = qmp.nextEvent("MIGRATION", (data) => (data as { status: string }).status === "completed", 5_000, "late");
  const socket = await server.client;
  socket.write(event("MIGRATION", { status: "active" }) + event("RESUME", {}) + event("MIGRATION", { status: "completed" }));
  expect(await ended).toEqual({ status: "completed" });
  // Commands are still answered in order around events.
  expect(await qmp.execute("query-status")).toEqual({});
  qmp.close();
  server.listener.stop(true);
});

test("an event waited for fails when QEMU closes the connection, and past its timeout with the reason", async () => {
  const server = qmpServer();
  const qmp = await QmpClient.connect(server.path);
  const late = qmp.nextEvent("MIGRATION", () => true, 50, "QEMU did not load the VM within 0.05 s");
  await expect(late).rejects.toThrow("QEMU did not load the VM within 0.05 s");
  const closed = qmp.nextEvent("MIGRATION", () => true, 5_000, "late");
  (await server.client).end();
  await expect(closed).rejects.toThrow("QEMU closed its QMP socket");
  // A client that failed refuses new waits at once.
  await expect(qmp.nextEvent("MIGRATION", () => true, 5_000, "late")).rejects.toThrow("QEMU closed its QMP socket");
  server.listener.stop(true);
});
