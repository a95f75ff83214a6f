/**
 * A foreground `run` over REST, in the reference CLI's order (create, attach,
 * start): the box was created (POST /boxes); GET …/attach boots it held and attaches to
 * its main command, the terminal's size goes in before POST …/start runs it, and the
 * WebSocket then carries it as it carries an exec (client-exec.ts). As with the local
 * run, the run is done once the box is down: stopped, or removed when it was --rm.
 */
import type { BoxStatus } from "../db/box-status.ts";
import type { ExecHandlers } from "../guest-protocol/execution.ts";
import { CLAIMS_VM } from "../model/box-state.ts";
import type { RunSession } from "../runtime/api.ts";
import type { RunOptions } from "../runtime/options.ts";
import { BoxliteError } from "../util/errors.ts";
import { type ExecutionStatus, openSocket, RemoteExecution } from "./client-exec.ts";
import type { RestTransport } from "./client-http.ts";

/** After the exit, how long the box's owner may take to power the VM off and record it. */
const DOWN_TIMEOUT_MS = 60_000;
const POLL_MS = 50;

/** Waits until box `id` is neither running nor stopping (or is gone). */
async function waitUntilDown(http: RestTransport, id: string): Promise<void> {
  const deadline = Date.now() + DOWN_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const box = await http.json<{ status: BoxStatus }>("GET", `/boxes/${encodeURIComponent(id)}`).catch((error: unknown) => {
      if (error instanceof BoxliteError && error.code === "not_found") return undefined;
      throw error;
    });
    if (!box || !CLAIMS_VM.has(box.status)) return;
    await Bun.sleep(POLL_MS);
  }
  throw new BoxliteError("vmm_failed", `box ${id}'s main command exited, but the box was not down within ${DOWN_TIMEOUT_MS / 1000} s`);
}

/** Attaches to the main command of box `id` (created, not started), starts it, and streams it. */
export async function runRemote(http: RestTransport, id: string, options: RunOptions, handlers: ExecHandlers): Promise<RunSession> {
  const box = `/boxes/${encodeURIComponent(id)}`;
  // The main session's execution id is its box's (the server says so in X-Boxlite-Execution-Id).
  const main = `${box}/executions/${encodeURIComponent(id)}`;
  const socket = await openSocket(http.url(`${box}/attach`, {}, "ws"), http.authHeaders());
  const execution = new RemoteExecution(
    socket,
    handlers,
    async () => void (await http.request("DELETE", main)),
    () => http.json<ExecutionStatus>("GET", main),
  );
  try {
    // Without -i the command gets no stdin, as locally (closed before the start, it gets /dev/null).
    if (!options.stdin) execution.closeStdin();
    // Before the start: the terminal is made with this size.
    if (options.tty && options.ttySize) await http.request("POST", `${main}/resize`, { json: { rows: options.ttySize.rows, cols: options.ttySize.cols } });
    await http.request("POST", `${box}/start`);
  } catch (error) {
    socket.close();
    throw error;
  }
  execution.started.resolve(id);
  const done = execution.status.promise
    .finally(() => socket.close())
    .then(async (exit) => {
      await waitUntilDown(http, id);
      return exit;
    });
  const stop = (timeoutMs?: number) => {
    void http.request("POST", `${box}/stop`, { json: timeoutMs === undefined ? {} : { timeout_seconds: timeoutMs / 1000 } }).catch(() => {});
  };
  return { id, execution, done, stop };
}
