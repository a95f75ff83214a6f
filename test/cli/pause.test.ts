/**
 * `boxlite pause` and `unpause` as a user runs them on boxes without a VM (a real pause is
 * in test/e2e/pause.test.ts): against the home, and with --url against a server over the
 * same home, which must print the same. Usage mistakes exit 2, refusals 1.
 */
import { describe, expect, test } from "bun:test";
import { cliModes } from "../helpers/api.ts";
import { runCli } from "../helpers/cli.ts";

const MODES = cliModes();

for (const [mode, globals] of MODES) {
  describe(`pause and unpause ${mode}`, () => {
    const box = `cli-pause-${mode.includes("url") ? "remote" : "local"}`;
    const cli = (...args: string[]) => runCli([...globals(), ...args]);

    test("a box that is not running is refused, saying its status and what to do; the other boxes still go on (exit 1)", async () => {
      const made = await runCli(["create", "--name", box]);
      expect(made.code).toBe(0);
      const id = made.stdout.trim();
      const paused = await cli("pause", box, "no-such-box");
      expect(paused).toMatchObject({ code: 1, stdout: "" });
      expect(paused.stderr).toBe(
        `boxlite: box ${id} is configured, not running; start it with 'boxlite start ${box}'\nboxlite: no box "no-such-box"; see 'boxlite ls -a'\n`,
      );
      const unpaused = await cli("unpause", box);
      expect(unpaused).toMatchObject({
        code: 1,
        stdout: "",
        stderr: `boxlite: box ${id} is configured, not paused; only a box paused with 'boxlite pause' can be unpaused\n`,
      });
    });

    test("no BOX or an unknown flag is a usage error (exit 2); --help prints the usage (exit 0)", async () => {
      for (const command of ["pause", "unpause"]) {
        expect(await cli(command)).toMatchObject({ code: 2, stderr: `boxlite: ${command} needs at least one BOX; see 'boxlite ${command} --help'\n` });
        expect((await cli(command, "--bogus", box)).code).toBe(2);
        const help = await cli(command, "--help");
        expect(help.code).toBe(0);
        expect(help.stdout).toStartWith(`Usage: boxlite ${command} BOX [BOX...]\n`);
      }
    });
  });
}

test("boxlite --help lists pause and unpause", async () => {
  const help = await runCli(["--help"]);
  expect(help.stdout).toMatch(/^ {2}pause {4}Pause running boxes/m);
  expect(help.stdout).toMatch(/^ {2}unpause {2}Let paused boxes go on/m);
});
