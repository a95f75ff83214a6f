import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../../test/helpers/cli.ts";
import { GuestChannel } from "../guest-protocol/client.ts";
import { encodeFrame, FrameType, PROTOCOL_VERSION } from "../guest-protocol/frames.ts";
import { encodeJson } from "../guest-protocol/messages.ts";
import { BoxliteError } from "../util/errors.ts";
import { hasIdleChannel, keepIdleChannel, takeIdleChannel } from "./box-socket.ts";
import type { Home } from "./home.ts";

const dir = mkdtempSync(join(tmpdir(), "box-socket-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A box's owner as far as a client sees it: it answers HELLO, and can hang up on everyone. */
function fakeOwner(path: string): { hangUp: () => void; stop: () => void } {
  const clients = new Set<{ end: () => void }>();
  const server = Bun.listen({
    unix: path,
    socket: {
      open: (socket) => void clients.add(socket),
      data: (socket) => void socket.write(encodeFrame(FrameType.HELLO, 0, encodeJson({ version: PROTOCOL_VERSION, agent: "owner" }))),
    },
  });
  const hangUp = () => {
    for (const client of clients) client.end();
  };
  return { hangUp, stop: () => server.stop(true) };
}

const dial = (path: string) => GuestChannel.dial(path, { timeoutMs: 5000, unanswered: () => new BoxliteError("conflict", "silent") });

test("a connection kept idle is handed to the next exec of its box only, and no more than two are kept per box", async () => {
  const path = join(dir, "owner.sock");
  const owner = fakeOwner(path);
  const home = {} as Home;
  const [first, second, third] = [await dial(path), await dial(path), await dial(path)];
  expect(hasIdleChannel(home, "box1")).toBe(false);
  keepIdleChannel(home, "box1", first);
  keepIdleChannel(home, "box1", second);
  keepIdleChannel(home, "box1", third);
  expect(third.isClosed).toBe(true);
  expect(hasIdleChannel(home, "box1")).toBe(true);
  expect(takeIdleChannel(home, "box2")).toBeUndefined();
  expect(takeIdleChannel({} as Home, "box1")).toBeUndefined();
  const taken = [takeIdleChannel(home, "box1"), takeIdleChannel(home, "box1")];
  expect(new Set(taken)).toEqual(new Set([first, second]));
  expect(takeIdleChannel(home, "box1")).toBeUndefined();
  for (const channel of [first, second]) channel.close();
  owner.stop();
});

test("a connection its owner closed while it was idle is never handed out", async () => {
  const path = join(dir, "closing-owner.sock");
  const owner = fakeOwner(path);
  const home = {} as Home;
  const channel = await dial(path);
  keepIdleChannel(home, "box1", channel);
  owner.hangUp();
  await waitFor(() => channel.isClosed, 5000, "the owner's hang-up");
  expect(hasIdleChannel(home, "box1")).toBe(false);
  expect(takeIdleChannel(home, "box1")).toBeUndefined();
  owner.stop();
});
