/**
 * `boxlite suspend` and `resume` as a user runs them on boxes without a VM (a real suspend
 * is in test/e2e/suspend.test.ts): against the home, and with --url against a server over
 * the same home, which must print the same. Usage mistakes exit 2, refusals 1.
 */
import { describe, expect, test } from "bun:test";
import { cliModes } from "../helpers/api.ts";
import { runCli } from "../helpers/cli.ts";

const MODES = cliModes();

for (const [mode, globals] of MODES) {
  describe(`suspend and resume ${mode}`, () => {
    const box = `cli-suspend-${mode.includes("url") ? "remote" : "local"}`;
    const cli = (...args: string[]) => runCli([...globals(), ...args]);

    test("a box that is not running, or not suspended, is refused, saying why; the other boxes still go on (exit 1)", async () => {
      const made = await runCli(["create", "--name", box]);
      expect(made.code).toBe(0);
      const id = made.stdout.trim();
      const suspended = await cli("suspend", box, "no-such-box");
      expect(suspended).toMatchObject({ code: 1, stdout: "" });
      expect(suspended.stderr).toBe(
        `boxlite: box ${id} is configured, not running: only a running or paused box can be suspended\nboxlite: no box "no-such-box"; see 'boxlite ls -a'\n`,
      );
      const resumed = await cli("resume", box);
      expect(resumed).toMatchObject({
        code: 1,
        stdout: "",
        stderr: `boxlite: box ${id} is configured but not suspended (it has no saved state); start it with 'boxlite start ${box}'\n`,
      });
    });

    test("no BOX or an unknown flag is a usage error (exit 2); --help prints the usage (exit 0)", async () => {
      for (const command of ["suspend", "resume"]) {
        expect(await cli(command)).toMatchObject({ code: 2, stderr: `boxlite: ${command} needs at least one BOX; see 'boxlite ${command} --help'\n` });
        expect((await cli(command, "--bogus", box)).code).toBe(2);
        const help = await cli(command, "--help");
        expect(help.code).toBe(0);
        expect(help.stdout).toStartWith(`Usage: boxlite ${command} BOX [BOX...]\n`);
      }
    });
  });
}

test("boxlite --help lists suspend and resume", async () => {
  const help = await runCli(["--help"]);
  expect(help.stdout).toMatch(/^ {2}suspend {2}Save running boxes' whole state/m);
  expect(help.stdout).toMatch(/^ {2}resume {3}Bring suspended boxes back/m);
});
