/**
 * QUIESCE and RESUME through a real relay on a unix socket, from the real client: the
 * owner's pause is answered, released by RESUME or by the client going away, and an
 * owner's refusal reaches the client with its error code.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../../test/helpers/cli.ts";
import { BoxliteError } from "../util/errors.ts";
import { GuestChannel } from "./client.ts";
import type { QuiesceRequest } from "./quiesce.ts";
import type { QuiesceHold } from "./relay-holds.ts";
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
async function serve(onQuiesce?: (request: QuiesceRequest) => Promise<QuiesceHold>): Promise<{ relay: RelayServer; client: GuestChannel }> {
  const path = join(dir, `box${sockets++}.sock`);
  const relay = RelayServer.listen(path, { channel: unusedChannel as never, agent: "test", onStopRequest: () => {}, ...(onQuiesce ? { onQuiesce } : {}) });
  const { channel } = await GuestChannel.connect(path, { timeoutMs: 5_000, vmExited: new Promise(() => {}) });
  return { relay, client: channel };
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
  const { relay, client } = await serve(fake.onQuiesce);
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
  const { relay, client } = await serve(fake.onQuiesce);
  await client.quiesce({});
  client.close();
  await waitFor(() => fake.releases() === 1, 5_000, "the pause to be released");
  await relay.close();
});

test("the owner's refusal reaches the client with its code; a box socket without an owner that pauses answers unsupported", async () => {
  const busy = await serve(() => Promise.reject(new BoxliteError("busy", "box b is busy: it is paused for another snapshot")));
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
