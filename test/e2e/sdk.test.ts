/**
 * The reference's own published Node SDK (npm `@boxlite-ai/boxlite`, 0.9.7 and 0.10, in
 * REST mode) drives a real `boxlite serve`: what a user of either client does, on real
 * VMs — create, exec (output, exit code, env, working directory, stdin), info and list,
 * copy in and out, metrics, kill, stop and start, remove; with 0.10, a tunnel to a port in
 * the box. The image comes from a real
 * registry on 127.0.0.1; its default command is a shell, as alpine's, so the box boots on
 * the first exec and stays up for the next.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as sdk097 from "boxlite-sdk-0.9.7";
import * as sdk010 from "boxlite-sdk-0.10";
import { busyboxLayer, writeOciImage } from "../helpers/oci-image.ts";
import { type Registry, startRegistry } from "../helpers/registry.ts";
import { startServeProcess } from "../helpers/serve.ts";
import { TempDirs } from "../helpers/temp.ts";

const temp = new TempDirs();
let registry: Registry;
let server: Subprocess<"ignore", "ignore", "pipe">;
let url = "";
let image = "";

beforeAll(async () => {
  const layout = temp.make("boxlite-sdk-image-");
  writeOciImage(layout, "v1", { layers: [busyboxLayer()], config: { Env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["sh"] } });
  registry = await startRegistry();
  await registry.push(layout, "test/shell", "v1");
  image = `${registry.host}/test/shell:v1`;
  const serve = await startServeProcess();
  server = serve.proc;
  url = serve.url;
});

afterAll(async () => {
  server?.kill();
  await server?.exited;
  await registry?.stop();
  temp.removeAll();
});

/** What the two SDK versions have in common, as this test uses it. */
type Sdk = typeof sdk010;
interface Execution {
  stdout(): Promise<{ next(): Promise<string | null> }>;
  stderr(): Promise<{ next(): Promise<string | null> }>;
  stdin(): Promise<{ writeString(text: string): Promise<void>; close(): Promise<void> }>;
  wait(): Promise<{ exitCode: number }>;
  kill(): Promise<void>;
}

async function drain(stream: { next(): Promise<string | null> }): Promise<string> {
  let text = "";
  for (let chunk = await stream.next(); chunk !== null; chunk = await stream.next()) text += chunk;
  return text;
}

/** An execution's whole output and its exit code. */
async function collect(execution: Execution): Promise<{ stdout: string; stderr: string; code: number }> {
  const [stdout, stderr] = await Promise.all([execution.stdout().then(drain), execution.stderr().then(drain)]);
  return { stdout, stderr, code: (await execution.wait()).exitCode };
}

const VERSIONS: Array<[string, Sdk]> = [
  ["0.9.7", sdk097 as unknown as Sdk],
  ["0.10", sdk010],
];

for (const [version, sdk] of VERSIONS) {
  describe(`the published SDK ${version} in REST mode`, () => {
    const name = `sdk-${version.replaceAll(".", "")}`;
    const runtime = () => sdk.JsBoxlite.rest(new sdk.BoxliteRestOptions({ url }));

    test("creates a box, and exec boots it: output, exit code, env, working directory, stdin", async () => {
      const rt = runtime();
      const box = await rt.create({ image, cpus: 1, memoryMib: 256 }, name);
      expect(box.name).toBe(name);
      const run = await collect(
        (await box.exec("sh", ["-c", "echo out; echo err >&2; echo $FOO; pwd; exit 3"], [["FOO", "bar"]], false, null, null, "/tmp")) as Execution,
      );
      expect(run).toEqual({ stdout: "out\nbar\n/tmp\n", stderr: "err\n", code: 3 });
      const cat = (await box.exec("cat", [])) as Execution;
      const stdin = await cat.stdin();
      await stdin.writeString("through stdin\n");
      await stdin.close();
      expect(await collect(cat)).toEqual({ stdout: "through stdin\n", stderr: "", code: 0 });
    });

    test("info and the list show the running box", async () => {
      const rt = runtime();
      const info = await rt.getInfo(name);
      expect(info).toMatchObject({ name, image, cpus: 1, memoryMib: 256, state: { status: "running", running: true } });
      const listed = await rt.listInfo();
      expect(listed.map((box) => box.name)).toContain(name);
      expect(await rt.getInfo("no-such-box")).toBeNull();
    });

    test("copies a file in to the path it names, a directory in, and both back out", async () => {
      const box = await runtime().get(name);
      if (!box) throw new Error(`no box ${name}`);
      const work = temp.make("boxlite-sdk-copy-");
      writeFileSync(join(work, "f.txt"), "one file\n");
      mkdirSync(join(work, "tree", "sub"), { recursive: true });
      writeFileSync(join(work, "tree", "sub", "g.txt"), "in a tree\n");
      // A file copied in to /tmp/a/f.txt becomes that file, not a directory of that name.
      expect((await collect((await box.exec("mkdir", ["-p", "/tmp/a"])) as Execution)).code).toBe(0);
      await box.copyIn(join(work, "f.txt"), "/tmp/a/f.txt");
      // Over REST both clients send a directory's contents (`./`, `sub/`…), which land in the path named.
      await box.copyIn(join(work, "tree"), "/tmp/b/");
      const listed = await collect((await box.exec("sh", ["-c", "cat /tmp/a/f.txt; test -f /tmp/a/f.txt && echo file; cat /tmp/b/sub/g.txt"])) as Execution);
      expect(listed).toEqual({ stdout: "one file\nfile\nin a tree\n", stderr: "", code: 0 });
      await box.copyOut("/tmp/a/f.txt", join(work, "back.txt"));
      expect(readFileSync(join(work, "back.txt"), "utf8")).toBe("one file\n");
    });

    test("metrics count the box's commands and sample its VM", async () => {
      const box = await runtime().get(name);
      const metrics = await box?.metrics();
      expect(metrics?.commandsExecutedTotal).toBeGreaterThanOrEqual(4);
      expect(metrics?.memoryBytes).toBeGreaterThan(0);
    });

    test("kill ends a running command", async () => {
      const box = await runtime().get(name);
      const sleeper = (await box?.exec("sleep", ["600"])) as Execution;
      await Bun.sleep(200);
      await sleeper.kill();
      const { exitCode } = await sleeper.wait();
      expect(exitCode === -9 || exitCode === 137).toBe(true);
    });

    if (version === "0.10")
      // 0.10's REST client reads no `network` from a Box (its BoxResponse has none): the tunnel is what it uses.
      test("a tunnel to a port in the box through the server, as the client makes it", async () => {
        const box = await runtime().get(name);
        if (!box) throw new Error(`no box ${name}`);
        const serve = "mkdir -p /www && echo through the tunnel > /www/index.html && httpd -p 8080 -h /www";
        expect((await collect((await box.exec("sh", ["-c", serve])) as Execution)).code).toBe(0);
        const tunnel = await box.network.tunnel(8080);
        expect(tunnel.uri()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        const connection = await tunnel.connect();
        await connection.write(Buffer.from("GET / HTTP/1.0\r\nHost: box\r\n\r\n"));
        let answer = "";
        for (let chunk = await connection.read(65536); chunk.length > 0; chunk = await connection.read(65536)) answer += chunk.toString();
        await connection.close();
        expect(answer).toStartWith("HTTP/1.");
        expect(answer).toEndWith("through the tunnel\n");
      });

    test("stop and start: the box stops, starts again, and its files are kept", async () => {
      const rt = runtime();
      await (await rt.get(name))?.stop();
      expect((await rt.getInfo(name))?.state.status).toBe("stopped");
      await (await rt.get(name))?.start();
      expect((await rt.getInfo(name))?.state.status).toBe("running");
      const kept = await collect((await (await rt.get(name))?.exec("cat", ["/tmp/a/f.txt"])) as Execution);
      expect(kept.stdout).toBe("one file\n");
    });

    test("remove takes the box away", async () => {
      const rt = runtime();
      await rt.remove(name, true);
      expect(await rt.getInfo(name)).toBeNull();
    });
  });
}
