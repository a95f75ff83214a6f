/** The scripting API runs a box in-process, as a Bun program would. */
import { expect, test } from "bun:test";
import { Boxlite, BoxliteError } from "../../src/index.ts";

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
