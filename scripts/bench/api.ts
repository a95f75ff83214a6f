/**
 * REST benchmark, in one run on a fresh home:
 *   1. requests per second of `GET /v1/boxes` with 100 boxes, from a keep-alive load
 *      generator (N concurrent fetch loops) on loopback;
 *   2. median round trip of `exec true` over REST + WebSocket (POST exec, attach, wait for
 *      the exit frame) against the same exec through the in-process API; target: REST
 *      adds <= 2 ms.
 *
 *   bun scripts/bench/api.ts [--seconds S] [--runs N]
 */
import { TunnelListeners } from "../../src/api/tunnels.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { upgradeWebSocket, websocket } from "../../src/api/websocket.ts";
import { createApp } from "../../src/api/app.ts";
import { ExecutionRegistry } from "../../src/api/executions.ts";
import { Boxlite } from "../../src/runtime/boxlite.ts";

const flag = (name: string, fallback: number) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const SECONDS = flag("--seconds", 3);
const RUNS = flag("--runs", 30);
const CONCURRENCY = 8;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

const home = mkdtempSync(join(tmpdir(), "boxlite-bench-api-"));
process.env.BOXLITE_HOME = home;
process.env.BOXLITE_ACCEL ??= "tcg";
const runtime = Boxlite.open({ home });
const executions = new ExecutionRegistry(runtime);
const app = createApp({
  runtime,
  executions,
  upgradeWebSocket,
  tunnels: new TunnelListeners("127.0.0.1", undefined, (id, port) => runtime.dialPort(id, port)),
});
const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch, websocket });
const base = `http://127.0.0.1:${server.port}/v1`;
let box = "";

try {
  for (let i = 0; i < 100; i++) await runtime.create({ cmd: ["true"] });
  let requests = 0;
  const deadline = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const response = await fetch(`${base}/boxes`);
        if (response.status !== 200) throw new Error(`GET /v1/boxes answered ${response.status}`);
        await response.arrayBuffer();
        requests++;
      }
    }),
  );
  console.log(`GET /v1/boxes (100 boxes, ${CONCURRENCY} keep-alive clients): ${Math.round(requests / SECONDS)} requests/s`);

  box = await runtime.create({ cmd: ["sleep", "3600"] });
  await runtime.start(box);
  const quiet = { onStdout: () => {}, onStderr: () => {} };
  const local: number[] = [];
  const remote: number[] = [];
  for (let i = 0; i < RUNS + 5; i++) {
    let started = performance.now();
    await (await runtime.exec(box, { command: ["true"] }, quiet)).done;
    if (i >= 5) local.push(performance.now() - started);

    started = performance.now();
    const created = await fetch(`${base}/boxes/${box}/exec`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ command: "true" }),
    });
    const { execution_id } = (await created.json()) as { execution_id: string };
    await new Promise<void>((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${server.port}/v1/boxes/${box}/executions/${execution_id}/attach`);
      socket.onmessage = (message) => {
        if (typeof message.data === "string" && message.data.includes('"exit"')) resolve();
      };
      socket.onerror = () => reject(new Error("the attach failed"));
    });
    if (i >= 5) remote.push(performance.now() - started);
  }
  const added = median(remote) - median(local);
  console.log(`exec true in-process: median ${median(local).toFixed(2)} ms; over REST + WebSocket: median ${median(remote).toFixed(2)} ms`);
  console.log(`REST adds ${added.toFixed(2)} ms (target <= 2) ${added <= 2 ? "OK" : "OVER TARGET"}; ratio ${(median(remote) / median(local)).toFixed(2)}`);
} finally {
  if (box) await runtime.removeBox(box, { force: true });
  await executions.close();
  await server.stop(true);
  rmSync(home, { recursive: true, force: true });
}
