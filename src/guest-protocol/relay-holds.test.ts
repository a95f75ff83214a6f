/**
 * QUIESCE and RESUME, PAUSE, UNPAUSE and SUSPEND_BOX through a real relay on a unix socket, from the real
 * client: the owner's pause is answered, a hold released by RESUME or by the client going
 * away (a user's PAUSE is not), and an owner's refusal reaches the client with its error code.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../../test/helpers/cli.ts";
import { BoxliteError } from "../util/errors.ts";
import { GuestChannel } from "./client.ts";
import type { QuiesceRequest } from "./quiesce.ts";
import type { OwnerRequests } from "./relay-holds.ts";
import { RelayServer } from "./relay.ts";

const dir = mkdtempSync(join(tmpdir(), "relay-holds-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const unusedChannel = {
  exec: () => {
    throw new Error("no exec in these tests");
  },
  filesOut: () => {
    throw new Error("no copies in these tests");
  },
  filesIn: () => {
    throw new Error("no copies in these tests");
  },
};

let sockets = 0;
async function serve(owner: OwnerRequests = {}): Promise<{ relay: RelayServer; client: GuestChannel; path: string }> {
  const path = join(dir, `box${sockets++}.sock`);
  const relay = RelayServer.listen(path, { channel: unusedChannel as never, agent: "test", onStopRequest: () => {}, ...owner });
  const { channel } = await GuestChannel.connect(path, { timeoutMs: 5_000, vmExited: new Promise(() => {}) });
  return { relay, client: channel, path };
}

/** An owner that records what it was asked and how often it resumed. */
function owner() {
  const requests: QuiesceRequest[] = [];
  let releases = 0;
  return {
    requests,
    releases: () => releases,
    onQuiesce: (request: QuiesceRequest) => {
      requests.push(request);
      return Promise.resolve({ pauseMs: 12.5, release: () => Promise.resolve(void releases++) });
    },
  };
}

test("QUIESCE is answered once the owner paused, with its fork request and pause time; RESUME releases it", async () => {
  const fake = owner();
  const { relay, client } = await serve({ onQuiesce: fake.onQuiesce });
  const hold = await client.quiesce({ fork: { dest: "/home/bases/x.qcow2", next: "/home/boxes/b/disks/.next-1.qcow2" } });
  expect(hold.pauseMs).toBe(12.5);
  expect(fake.requests).toEqual([{ fork: { dest: "/home/bases/x.qcow2", next: "/home/boxes/b/disks/.next-1.qcow2" } }]);
  expect(fake.releases()).toBe(0);
  await hold.resume();
  expect(fake.releases()).toBe(1);
  client.close();
  await relay.close();
});

test("a client that goes away while holding a pause releases it", async () => {
  const fake = owner();
  const { relay, client } = await serve({ onQuiesce: fake.onQuiesce });
  await client.quiesce({});
  client.close();
  await waitFor(() => fake.releases() === 1, 5_000, "the pause to be released");
  await relay.close();
});

test("the owner's refusal reaches the client with its code; a box socket without an owner that pauses answers unsupported", async () => {
  const busy = await serve({ onQuiesce: () => Promise.reject(new BoxliteError("busy", "box b is busy: it is paused for another snapshot")) });
  const refused = await busy.client.quiesce({}).catch((error: unknown) => error);
  expect(refused).toBeInstanceOf(BoxliteError);
  expect((refused as BoxliteError).code).toBe("busy");
  expect((refused as BoxliteError).message).toContain("paused for another snapshot");
  busy.client.close();
  await busy.relay.close();

  const none = await serve();
  const unsupported = await none.client.quiesce({}).catch((error: unknown) => error);
  expect((unsupported as BoxliteError).code).toBe("unsupported");
  none.client.close();
  await none.relay.close();
});

test("PAUSE and UNPAUSE are answered once the owner did it, and a pause outlives the client that asked", async () => {
  const calls: string[] = [];
  const fake = owner();
  const { relay, client, path } = await serve({
    onQuiesce: fake.onQuiesce,
    onPause: async () => void calls.push("pause"),
    onUnpause: async () => void calls.push("unpause"),
  });
  await client.pause();
  expect(calls).toEqual(["pause"]);
  // A QUIESCE hold as well: its release tells when the relay has seen the client go.
  await client.quiesce({});
  client.close();
  await waitFor(() => fake.releases() === 1, 5_000, "the relay to see the client go");
  // Unlike the hold, the pause is not undone: a later client unpauses.
  const later = (await GuestChannel.connect(path, { timeoutMs: 5_000, vmExited: new Promise(() => {}) })).channel;
  expect(calls).toEqual(["pause"]);
  await later.unpause();
  expect(calls).toEqual(["pause", "unpause"]);
  later.close();
  await relay.close();
});

test("an owner's refusal of PAUSE or UNPAUSE reaches the client with its code; an owner that cannot pause answers unsupported", async () => {
  const { relay, client } = await serve({
    onPause: () => Promise.reject(new BoxliteError("busy", "box b is busy: it is held still for a snapshot")),
    onUnpause: () => Promise.reject(new BoxliteError("conflict", "box b is running, not paused")),
  });
  const busy = await client.pause().catch((error: unknown) => error);
  expect(busy).toMatchObject({ code: "busy", message: "box b is busy: it is held still for a snapshot" });
  const conflict = await client.unpause().catch((error: unknown) => error);
  expect(conflict).toMatchObject({ code: "conflict", message: "box b is running, not paused" });
  // The connection is still good after a refusal.
  expect(client.isClosed).toBe(false);
  client.close();
  await relay.close();

  const none = await serve({ onQuiesce: () => Promise.reject(new Error("not asked")) });
  for (const ask of [() => none.client.pause(), () => none.client.unpause()]) {
    expect(await ask().catch((error: unknown) => error)).toMatchObject({ code: "unsupported", message: "this box's owner cannot pause it" });
  }
  none.client.close();
  await none.relay.close();
});

test("SUSPEND_BOX is answered once the owner saved the box; its refusal reaches the client with its code; an owner that cannot answers unsupported", async () => {
  let suspends = 0;
  const { relay, client } = await serve({ onSuspend: async () => void suspends++ });
  await client.suspendBox();
  expect(suspends).toBe(1);
  client.close();
  await relay.close();

  const refusing = await serve({
    onSuspend: () => Promise.reject(new BoxliteError("unsupported", "libkrun has no snapshot API: a krun box cannot be suspended")),
  });
  expect(await refusing.client.suspendBox().catch((error: unknown) => error)).toMatchObject({
    code: "unsupported",
    message: expect.stringContaining("libkrun"),
  });
  expect(refusing.client.isClosed).toBe(false);
  refusing.client.close();
  await refusing.relay.close();

  const none = await serve({});
  expect(await none.client.suspendBox().catch((error: unknown) => error)).toMatchObject({ code: "unsupported", message: "this box's owner cannot suspend it" });
  none.client.close();
  await none.relay.close();
});
