/** The scripting API runs a box in-process, as a Bun program would. */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { Boxlite, BoxliteError } from "../../src/index.ts";
import { holdsExecPort } from "../../src/runtime/exec-port.ts";
import { REPO, waitFor } from "../helpers/cli.ts";

test("Boxlite.open().run streams a command's output and reports its exit code", async () => {
  let out = "";
  const run = await Boxlite.open().run(
    { cmd: ["sh", "-c", "echo from the library; exit 7"], autoRemove: true },
    {
      onStdout: (bytes) => {
        out += new TextDecoder().decode(bytes);
      },
      onStderr: () => {},
    },
  );
  expect(run.id).toMatch(/^[0-9a-z]{26}$/);
  const status = await run.done;
  expect(status.code).toBe(7);
  expect(out).toBe("from the library\n");
});

test("bad options reject with a BoxliteError before any VM starts", async () => {
  const attempt = Boxlite.open().run({ memoryMib: 1 }, { onStdout: () => {}, onStderr: () => {} });
  await expect(attempt).rejects.toBeInstanceOf(BoxliteError);
  await expect(attempt).rejects.toMatchObject({ code: "invalid_argument" });
});

test("execs in a running box share one connection (its exec port), which neither outlives the box nor keeps a script alive", async () => {
  const runtime = Boxlite.open();
  const box = await runtime.create({ cmd: ["sleep", "3600"] });
  await runtime.start(box);
  const quiet = { onStdout: () => {}, onStderr: () => {} };
  // A script whose last exec left its connection idle ends when its work does: the first holds
  // the exec port, the second (this process holds it by then) a connection to the box's owner.
  const script = `const { Boxlite } = await import(${JSON.stringify(join(REPO, "src", "index.ts"))});
const exec = await Boxlite.open().exec(${JSON.stringify(box)}, { command: ["echo", "done"] }, { onStdout: (b) => process.stdout.write(b), onStderr: () => {} });
await exec.done;`;
  const runScript = async () => {
    const child = Bun.spawn([process.execPath, "-e", script], { env: process.env, stdout: "pipe", stderr: "inherit" });
    const ended = await Promise.race([child.exited, Bun.sleep(60_000).then(() => "still running")]);
    if (ended === "still running") child.kill("SIGKILL");
    expect(ended).toBe(0);
    expect(await new Response(child.stdout).text()).toBe("done\n");
  };
  await runScript();
  const first = await runtime.exec(box, { command: ["true"] }, quiet);
  expect((await first.done).code).toBe(0);
  const home = await runtime.home();
  expect(holdsExecPort(home, box)).toBe(true);
  const second = await runtime.exec(box, { command: ["sh", "-c", "exit 4"] }, quiet);
  expect((await second.done).code).toBe(4);
  await runScript();
  // Over an idle connection an exec reads the box's status alone: it gets the box's own process
  // unless it says otherwise (what one exec asked for is not the next one's), and a paused box
  // refuses it at once, in the state machine's words.
  const said = async (options: { env?: string[]; workdir?: string; user?: string }) => {
    let out = "";
    const exec = await runtime.exec(
      box,
      { command: ["sh", "-c", "echo $A:$(pwd):$(id -u)"], ...options },
      {
        onStdout: (b) => {
          out += new TextDecoder().decode(b);
        },
        onStderr: () => {},
      },
    );
    expect((await exec.done).code).toBe(0);
    return out;
  };
  expect(await said({ env: ["A=1"], workdir: "/tmp", user: "1000" })).toBe("1:/tmp:1000\n");
  expect(await said({})).toBe(":/:0\n");
  expect(holdsExecPort(home, box)).toBe(true);
  await runtime.pause(box);
  await expect(runtime.exec(box, { command: ["true"] }, quiet)).rejects.toMatchObject({
    code: "conflict",
    message: expect.stringContaining("is paused; unpause it"),
  });
  await runtime.unpause(box);
  expect(await said({})).toBe(":/:0\n");
  await runtime.stop(box, { timeoutMs: 1000 });
  await waitFor(() => !holdsExecPort(home, box), 10_000, "the VM's end closing the exec port's connection");
  await runtime.removeBox(box, { force: true });
});
