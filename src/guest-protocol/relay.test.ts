/**
 * The box socket's main-command frames (ATTACH, START) through a real relay on a unix
 * socket, reached by the real client (GuestChannel). The guest is played at its host-side
 * boundary: each command the relay runs is a GuestExecution whose frames to the guest are
 * recorded, and whose STARTED, output and EXIT the test delivers.
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../../test/helpers/cli.ts";
import { GuestChannel } from "./client.ts";
import { GuestExecution, type ExecHandlers } from "./execution.ts";
import { decodeWindow, FrameType, INITIAL_WINDOW } from "./frames.ts";
import { type MainIo, MainSession } from "./main-session.ts";
import { RelayServer } from "./relay.ts";

const dir = mkdtempSync(join(tmpdir(), "relay-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytesOf = (value: string) => new TextEncoder().encode(value);

interface GuestFrame {
  stream: number;
  type: FrameType;
  payload: Uint8Array;
}

/** What the guest was sent, and the commands it was asked to run. */
class FakeGuest {
  readonly frames: GuestFrame[] = [];
  readonly executions: GuestExecution[] = [];
  readonly execs: unknown[] = [];
  /** FILES_OUT requests: the tests' barrier (see `barrier`). */
  copies = 0;
  private next = 1;

  run(handlers: ExecHandlers): GuestExecution {
    const stream = this.next++;
    const execution = new GuestExecution(stream, handlers, (type, payload) => void this.frames.push({ stream, type, payload: payload ?? new Uint8Array(0) }));
    this.executions.push(execution);
    return execution;
  }

  readonly channel = {
    exec: (request: unknown, handlers: ExecHandlers) => {
      this.execs.push(request);
      return this.run(handlers);
    },
    filesOut: (_request: unknown, handlers: ExecHandlers) => {
      this.copies++;
      return this.run(handlers);
    },
    filesIn: () => this.run({ onStdout: () => {}, onStderr: () => {} }),
  };

  sent(stream: number, type: FrameType): GuestFrame[] {
    return this.frames.filter((frame) => frame.stream === stream && frame.type === type);
  }
}

interface Setup {
  guest: FakeGuest;
  main: MainSession;
  launches: MainIo[];
  logged: string[];
  relay: RelayServer;
  path: string;
}

const open: Array<{ relay: RelayServer; clients: GuestChannel[] }> = [];
afterEach(async () => {
  for (const { relay, clients } of open.splice(0)) {
    for (const client of clients) client.close();
    await relay.close();
  }
});

let sockets = 0;
function setup(options: { tty?: boolean; withMain?: boolean; holdStdin?: boolean } = {}): Setup & { stops: Array<number | undefined> } {
  const guest = new FakeGuest();
  const launches: MainIo[] = [];
  const logged: string[] = [];
  const stops: Array<number | undefined> = [];
  const main = new MainSession({
    tty: options.tty ?? false,
    launch: (io, handlers) => {
      launches.push(io);
      return guest.run(handlers);
    },
    log: (chunk) => void logged.push(text(chunk)),
    ...(options.holdStdin ? { holdStdin: true } : {}),
  });
  const path = join(dir, `box${sockets++}.sock`);
  const relay = RelayServer.listen(path, {
    channel: guest.channel,
    ...(options.withMain === false ? {} : { main }),
    agent: "test",
    onStopRequest: (timeoutMs) => void stops.push(timeoutMs),
  });
  open.push({ relay, clients: [] });
  return { guest, main, launches, logged, relay, path, stops };
}

async function connect(path: string): Promise<GuestChannel> {
  const { channel } = await GuestChannel.connect(path, { timeoutMs: 5_000, vmExited: new Promise(() => {}) });
  open.at(-1)?.clients.push(channel);
  return channel;
}

/**
 * Settles once the relay handled every frame `client` sent before: it handles a
 * connection's frames in order, and this one (a FILES_OUT) reaches the fake guest.
 */
async function barrier(client: GuestChannel, guest: FakeGuest): Promise<void> {
  const before = guest.copies;
  client.filesOut({ path: "/", follow_symlinks: false, include_parent: true }, { onStdout: () => {}, onStderr: () => {} }).exit.promise.catch(() => {});
  await waitFor(() => guest.copies > before, 5_000, "the relay to handle what was sent before");
}

/** An attach whose stdout is collected as text. */
function attach(client: GuestChannel, hold?: Promise<void>) {
  const out: string[] = [];
  const execution = client.attachMain({
    onStdout: async (chunk) => {
      out.push(text(chunk));
      await hold;
    },
    onStderr: (chunk) => void out.push(`err:${text(chunk)}`),
  });
  // Closing the client at the end of a test rejects what it did not wait for.
  execution.exit.promise.catch(() => {});
  return { execution, out };
}

test("a held main command waits for START; it then runs with the attached client's stdin and terminal size, and its output and exit reach the client, the log and later clients", async () => {
  const { guest, main, launches, logged, path } = setup({ tty: true });
  const client = await connect(path);
  const { execution, out } = attach(client);
  expect(await execution.attached.promise).toEqual({ state: "held", tty: true });
  execution.resize(40, 120);
  await execution.writeStdin(bytesOf("typed before the start\n"));
  await barrier(client, guest);
  expect(launches).toEqual([]);

  client.startMain();
  client.startMain(); // idempotent
  await waitFor(() => launches.length === 1, 5_000, "the main command to start");
  expect(launches).toEqual([{ tty: { rows: 40, cols: 120 }, stdin: true }]);
  const command = guest.executions.at(-1) as GuestExecution;
  // Stdin written while held reaches the command once it runs, byte for byte.
  await waitFor(() => guest.sent(command.stream, FrameType.STDIN).length > 0, 5_000, "the queued stdin");
  expect(text(guest.sent(command.stream, FrameType.STDIN)[0]?.payload as Uint8Array)).toBe("typed before the start\n");

  command.onStarted({ pid: 42 });
  expect(await execution.started.promise).toEqual({ pid: 42 });
  command.onOutput(FrameType.STDOUT, bytesOf("hello\n"));
  command.onExit({ code: 3, signal: 0, duration_us: 10 });
  expect(await execution.exit.promise).toMatchObject({ code: 3, signal: 0 });
  expect(out).toEqual(["hello\n"]);
  expect(logged).toEqual(["hello\n"]);
  expect(main.state).toBe("exited");
  // Once it exited, a client attaching (the first one still connected) hears its exit at once.
  const late = attach(await connect(path)).execution;
  expect(await late.attached.promise).toEqual({ state: "exited", tty: true });
  expect(await late.exit.promise).toMatchObject({ code: 3 });
  // ATTACH and START are the box socket's: the guest only ever got the main command's own frames.
  expect(guest.execs).toEqual([]);
  expect(new Set(guest.frames.filter((frame) => frame.stream === command.stream).map((frame) => frame.type))).toEqual(new Set([FrameType.STDIN]));
  expect(launches).toHaveLength(1);
});

test("a second client gets ERROR already_attached; once the first disconnects it can attach, and the main command ran on with its stdin open, never signalled", async () => {
  const { guest, launches, path } = setup();
  const first = await connect(path);
  const { execution: firstAttach } = attach(first);
  await firstAttach.attached.promise;
  first.startMain();
  await waitFor(() => launches.length === 1, 5_000, "the main command to start");
  const command = guest.executions[0] as GuestExecution;
  command.onStarted({ pid: 7 });

  const second = await connect(path);
  const refused = attach(second).execution;
  const error = await refused.attached.promise.catch((e: unknown) => e);
  refused.exit.promise.catch(() => {});
  expect(error).toMatchObject({ code: "conflict" });
  expect((error as Error).message).toContain("already attached");

  command.onOutput(FrameType.STDOUT, bytesOf("before\n"));
  first.close();
  // Detached: the box holds the command's stdin open for the next client (a shell waits on), and signals nothing.
  const third = await connect(path);
  const { execution, out } = attach(third);
  expect(await execution.attached.promise).toEqual({ state: "running", tty: false });
  expect(guest.sent(command.stream, FrameType.STDIN)).toEqual([]);
  expect(guest.sent(command.stream, FrameType.SIGNAL)).toEqual([]);
  // The next client writes to the same stdin; a client attaching to a command that runs gets its output from then on.
  await execution.writeStdin(bytesOf("typed\n"));
  await waitFor(() => guest.sent(command.stream, FrameType.STDIN).length === 1, 5_000, "the second client's stdin");
  expect(text(guest.sent(command.stream, FrameType.STDIN)[0]?.payload as Uint8Array)).toBe("typed\n");
  expect(await execution.started.promise).toEqual({ pid: 7 });
  command.onOutput(FrameType.STDOUT, bytesOf("after\n"));
  command.onOutput(FrameType.STDERR, bytesOf("oops\n"));
  command.onExit({ code: 0, signal: 0, duration_us: 1 });
  await execution.exit.promise;
  expect(out).toEqual(["after\n", "err:oops\n"]);
});

test("signals reach a running main command and are ignored while it is held; a terminal is never sent end-of-file on detach", async () => {
  const { guest, main, launches, path } = setup({ tty: true });
  const client = await connect(path);
  const { execution } = attach(client);
  await execution.attached.promise;
  execution.signal(15);
  client.startMain();
  await waitFor(() => launches.length === 1, 5_000, "the main command to start");
  const command = guest.executions[0] as GuestExecution;
  execution.signal(2);
  execution.resize(10, 20);
  await waitFor(() => guest.sent(command.stream, FrameType.RESIZE).length === 1, 5_000, "the resize");
  expect(guest.sent(command.stream, FrameType.SIGNAL).map((frame) => JSON.parse(text(frame.payload)))).toEqual([{ signal: 2 }]);
  expect(JSON.parse(text(guest.sent(command.stream, FrameType.RESIZE)[0]?.payload as Uint8Array))).toEqual({ rows: 10, cols: 20 });
  client.close();
  await waitFor(() => !main.isAttached, 5_000, "the relay to see the client go");
  await Bun.sleep(0); // what the detach queued (a pipe's end-of-file) has gone out by now
  // Closing a PTY's stdin types ^D into it: a detaching client must not end the shell.
  expect(guest.sent(command.stream, FrameType.STDIN)).toEqual([]);
  expect(guest.sent(command.stream, FrameType.SIGNAL)).toHaveLength(1);
});

test("a client that closes stdin before the start and wrote nothing starts the command without stdin, as run without -i", async () => {
  const { launches, path } = setup();
  const client = await connect(path);
  const { execution } = attach(client);
  await execution.attached.promise;
  execution.closeStdin();
  client.startMain();
  await waitFor(() => launches.length === 1, 5_000, "the main command to start");
  expect(launches).toEqual([{ tty: null, stdin: false }]);
});

test("output is held to the attached client's window, end to end: the guest gets more credit only as the client takes it", async () => {
  const { guest, path } = setup();
  const client = await connect(path);
  const release = Promise.withResolvers<void>();
  const { execution, out } = attach(client, release.promise);
  await execution.attached.promise;
  client.startMain();
  await waitFor(() => guest.executions.length === 1, 5_000, "the main command to start");
  const command = guest.executions[0] as GuestExecution;
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  const granted = () => guest.sent(command.stream, FrameType.WINDOW).reduce((sum, frame) => sum + decodeWindow(frame.payload), 0);
  // The guest sends its first window; the relay hands it all to the client's window and grants it back.
  for (let i = 0; i < 4; i++) command.onOutput(FrameType.STDOUT, chunk);
  await waitFor(() => granted() === INITIAL_WINDOW, 5_000, "the relay to pass on one window");
  // And a second: the client's handler holds its first chunk, its window is spent, so nothing more is granted.
  for (let i = 0; i < 4; i++) command.onOutput(FrameType.STDOUT, chunk);
  await barrier(client, guest);
  expect(granted()).toBe(INITIAL_WINDOW);
  expect(out).toHaveLength(1);
  release.resolve();
  await waitFor(() => granted() === 8 * chunk.length, 5_000, "the rest once the client takes it");
  await waitFor(() => out.length === 8, 5_000, "all output");
});

test("the box stopped while held: the attached client hears the main command is lost; ATTACH without a main command is refused", async () => {
  const { main, path } = setup();
  const client = await connect(path);
  const { execution } = attach(client);
  await execution.attached.promise;
  main.abort(new Error("the box was stopped before its main command started"));
  expect(await execution.exit.promise.catch((e: unknown) => (e as Error).message)).toContain("stopped before its main command started");
  main.start();
  expect(main.state).toBe("exited");

  const bare = setup({ withMain: false });
  const other = await connect(bare.path);
  const refused = other.attachMain({ onStdout: () => {}, onStderr: () => {} });
  refused.exit.promise.catch(() => {});
  expect(await refused.attached.promise.catch((e: unknown) => (e as Error).message)).toContain("no main command");
});

test("closing the relay as the main command exits, as its owner does, still delivers the EXIT to the attached client", async () => {
  const { guest, main, relay, path } = setup();
  // The owner's reaction comes first: it is registered when the box starts, before any client attaches.
  const closed = main.exit.promise.then(() => relay.close());
  const client = await connect(path);
  const { execution, out } = attach(client);
  await execution.attached.promise;
  client.startMain();
  await waitFor(() => guest.executions.length === 1, 5_000, "the main command to start");
  const command = guest.executions[0] as GuestExecution;
  command.onOutput(FrameType.STDOUT, new Uint8Array(200 * 1024).fill(0x62));
  command.onExit({ code: 9, signal: 0, duration_us: 1 });
  expect(await execution.exit.promise).toMatchObject({ code: 9 });
  expect(out.join("").length).toBe(200 * 1024);
  await closed;
});

test("a main command started with nobody attached gets an open stdin the box holds, so a shell waits for exec instead of exiting", async () => {
  const held = setup({ holdStdin: true });
  held.main.start();
  expect(held.launches).toEqual([{ tty: null, stdin: true }]);
  // A foreground run without -i is attached without stdin: /dev/null, as docker's.
  const plain = setup({ holdStdin: true });
  plain.main.attach({ onStdout: () => {}, onStderr: () => {} }, { stdin: false });
  plain.main.start();
  expect(plain.launches).toEqual([{ tty: null, stdin: false }]);
});

test("STOP asks the box's owner to stop it, with its grace period; a client's SHUTDOWN never reaches the guest and costs it the connection", async () => {
  const { guest, stops, path } = setup();
  const client = await connect(path);
  client.requestStop(2_500);
  client.requestStop();
  await barrier(client, guest);
  expect(stops).toEqual([2_500, undefined]);
  const rogue = await connect(path);
  rogue.shutdown();
  await waitFor(() => rogue.isClosed, 5_000, "the relay to drop the client");
  expect(guest.frames.filter((frame) => frame.type === FrameType.SHUTDOWN)).toEqual([]);
  expect(stops).toHaveLength(2);
});

test("a client's CONFIG is refused and ends its connection: only the box's owner configures the guest", async () => {
  const { guest, path } = setup();
  const config = { hostname: "intruder", rootfs: { device: "/dev/vda" } };
  const error = await GuestChannel.connect(path, { timeoutMs: 5_000, vmExited: new Promise(() => {}), config }).catch((e: unknown) => e);
  expect((error as Error).message).toBe("the guest closed the channel: malformed: a client may not send CONFIG: only the box's owner configures the guest");
  // Other clients are served as before.
  await barrier(await connect(path), guest);
});

test("closing the relay ends a command still running with ERROR stopping and the owner's reason, not a bare closed channel", async () => {
  const { guest, relay, path } = setup();
  const client = await connect(path);
  const execution = client.exec(
    { argv: ["sleep", "60"], env: [], cwd: "/", create_cwd: false, user: "", tty: null, stdin: false },
    { onStdout: () => {}, onStderr: () => {} },
  );
  execution.exit.promise.catch(() => {});
  await barrier(client, guest);
  expect(guest.execs).toHaveLength(1);
  await relay.close("box b1 stopped while the command ran");
  const error = await execution.exit.promise.catch((e: unknown) => e);
  expect(error).toMatchObject({ code: "conflict", message: "box b1 stopped while the command ran" });
});

test("the relay knows its detached commands' guest streams, after their client went, until they exit (what a suspend keeps)", async () => {
  const { guest, relay, path } = setup();
  const client = await connect(path);
  const request = { argv: ["sleep", "60"], env: [], cwd: "/", create_cwd: false, user: "", tty: null, stdin: false };
  const quiet = { onStdout: () => {}, onStderr: () => {} };
  client.exec({ ...request, detach: true } as typeof request, quiet).exit.promise.catch(() => {});
  client.exec(request, quiet).exit.promise.catch(() => {});
  await barrier(client, guest);
  const [detached, attached] = guest.executions;
  expect(relay.detachedStreams()).toEqual([detached?.stream ?? -1]);
  client.close();
  // The relay saw the client go once it killed the attached command.
  await waitFor(() => guest.sent(attached?.stream ?? -1, FrameType.SIGNAL).length > 0, 5_000, "the attached command to be killed");
  expect(relay.detachedStreams()).toEqual([detached?.stream ?? -1]);
  detached?.onExit({ code: 0, signal: 0, duration_us: 1 });
  await waitFor(() => relay.detachedStreams().length === 0, 5_000, "the exited command to be forgotten");
});
