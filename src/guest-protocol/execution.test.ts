import { expect, test } from "bun:test";
import { GuestExecution } from "./execution.ts";
import { decodeWindow, FrameType, INITIAL_WINDOW } from "./frames.ts";

function recorder() {
  const sent: Array<{ type: FrameType; bytes: number; payload?: Uint8Array }> = [];
  const send = (type: FrameType, payload?: Uint8Array) => void sent.push({ type, bytes: payload?.length ?? 0, payload });
  return { sent, send };
}

const quiet = { onStdout: () => {}, onStderr: () => {} };

test("stdin never exceeds the guest's window, and resumes when it grants more", async () => {
  const { sent, send } = recorder();
  const execution = new GuestExecution(1, quiet, send);
  const writing = execution.writeStdin(new Uint8Array(INITIAL_WINDOW + 1000));
  await Bun.sleep(0);
  const stdinBytes = () => sent.filter((f) => f.type === FrameType.STDIN).reduce((n, f) => n + f.bytes, 0);
  expect(stdinBytes()).toBe(INITIAL_WINDOW);
  expect(sent.every((f) => f.bytes <= 64 * 1024)).toBe(true);
  execution.onWindow(1000);
  await writing;
  expect(stdinBytes()).toBe(INITIAL_WINDOW + 1000);
});

test("output is granted back in batches once the handler has taken it", async () => {
  const { sent, send } = recorder();
  let release: () => void = () => {};
  const execution = new GuestExecution(1, { onStdout: () => new Promise<void>((r) => (release = r)), onStderr: () => {} }, send);
  execution.onOutput(FrameType.STDOUT, new Uint8Array(INITIAL_WINDOW / 2));
  await Bun.sleep(0);
  expect(sent.filter((f) => f.type === FrameType.WINDOW)).toHaveLength(0); // the consumer has not taken it yet
  release();
  await Bun.sleep(0);
  const windows = sent.filter((f) => f.type === FrameType.WINDOW);
  expect(windows).toHaveLength(1);
  expect(decodeWindow(windows[0]?.payload as Uint8Array)).toBe(INITIAL_WINDOW / 2);
});

test("an EXIT without STARTED settles both, so nobody waits forever", async () => {
  const execution = new GuestExecution(1, quiet, recorder().send);
  execution.onExit({ code: 126, signal: 0, duration_us: 0, error: "unable to find user bob" });
  await expect(execution.started.promise).rejects.toThrow("unable to find user bob");
  await expect(execution.exit.promise).resolves.toMatchObject({ code: 126, error: "unable to find user bob" });
});

test("exit waits until every output chunk was delivered, in order", async () => {
  const seen: string[] = [];
  const execution = new GuestExecution(
    1,
    {
      onStdout: async (chunk) => {
        await Bun.sleep(5);
        seen.push(new TextDecoder().decode(chunk));
      },
      onStderr: (chunk) => void seen.push(`err:${new TextDecoder().decode(chunk)}`),
    },
    recorder().send,
  );
  execution.onOutput(FrameType.STDOUT, new TextEncoder().encode("a"));
  execution.onOutput(FrameType.STDERR, new TextEncoder().encode("b"));
  execution.onExit({ code: 0, signal: 0, duration_us: 1 });
  await execution.exit.promise;
  expect(seen).toEqual(["a", "err:b"]);
});

test("output past the guest's window is a protocol error, and what it grants back is its window again", async () => {
  const execution = new GuestExecution(7, quiet, recorder().send);
  // A whole window, stdout and stderr together: allowed; the handlers take it and it is granted back.
  execution.onOutput(FrameType.STDOUT, new Uint8Array(INITIAL_WINDOW / 2));
  execution.onOutput(FrameType.STDERR, new Uint8Array(INITIAL_WINDOW / 2));
  await Bun.sleep(0);
  execution.onOutput(FrameType.STDOUT, new Uint8Array(INITIAL_WINDOW));
  // Not yet granted back (the handler runs on a later turn): one byte more is past the window.
  expect(() => execution.onOutput(FrameType.STDOUT, new Uint8Array(1))).toThrow("the guest sent 1 bytes of output past its window on stream 7");
});
