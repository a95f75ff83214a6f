/**
 * `boxlite snapshot create|ls|inspect|rm|restore` as a user runs them, on a created box
 * (its disk exists, no VM): against the home, and with --url against a server over the
 * same home, which must print the same.
 */
import { describe, expect, test } from "bun:test";
import { cliModes } from "../helpers/api.ts";
import { runCli } from "../helpers/cli.ts";

const MODES = cliModes();

for (const [mode, globals] of MODES) {
  describe(`snapshot ${mode}`, () => {
    const box = `cli-snap-${mode.includes("url") ? "remote" : "local"}`;
    const cli = (...args: string[]) => runCli([...globals(), ...args]);

    test("create prints the name; ls lists newest first as a table, -q and --json; inspect prints a JSON array", async () => {
      expect((await runCli(["create", "--name", box])).code).toBe(0);
      expect(await cli("snapshot", "create", box, "first")).toMatchObject({ code: 0, stdout: "first\n", stderr: "" });
      const second = await cli("snapshot", "create", "--json", box, "second");
      expect(second.code).toBe(0);
      const made = JSON.parse(second.stdout);
      expect(made).toEqual({
        id: expect.any(String),
        box_id: expect.stringMatching(/^[0-9a-z]{26}$/),
        name: "second",
        created_at: expect.any(Number),
        container_disk_bytes: expect.any(Number),
        size_bytes: expect.any(Number),
      });

      const table = await cli("snapshot", "ls", box);
      expect(table.code).toBe(0);
      const lines = table.stdout.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^NAME\s+ID\s+CREATED\s+SIZE\s+DISK SIZE$/);
      expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).toEqual(["second", "first"]);
      expect(lines[1]).toMatch(new RegExp(`^second\\s+${made.id}\\s+\\d{4}-\\d\\d-\\d\\dT`));
      expect((await cli("snapshot", "list", "-q", box)).stdout).toBe("second\nfirst\n");
      const listed = JSON.parse((await cli("snapshot", "ls", "--json", box)).stdout) as Array<{ name: string }>;
      expect(listed.map((item) => item.name)).toEqual(["second", "first"]);
      expect(listed[0]).toEqual(made);

      const inspected = await cli("snapshot", "inspect", box, "second", "no-such");
      expect(inspected.code).toBe(1);
      expect(JSON.parse(inspected.stdout)).toEqual([made]);
      expect(inspected.stderr).toContain('has no snapshot "no-such"');
    });

    test("rm refuses a snapshot another needs (exit 1, naming it); restore goes back, and then the newer one can go", async () => {
      const needed = await cli("snapshot", "rm", box, "first");
      expect(needed.code).toBe(1);
      expect(needed.stderr).toContain(`snapshot second of box ${box}`);
      expect(await cli("snapshot", "restore", box, "first")).toMatchObject({ code: 0, stdout: "first\n", stderr: "" });
      expect(await cli("snapshot", "rm", box, "second")).toMatchObject({ code: 0, stdout: "second\n", stderr: "" });
      expect((await cli("snapshot", "ls", "-q", box)).stdout).toBe("first\n");
      const missing = await cli("snapshot", "rm", box, "second");
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('has no snapshot "second"');
    });

    test("a bad or taken name, or an unknown box, fails with exit 1 and a message", async () => {
      for (const name of ["..", ".hidden", "a/b"]) {
        const bad = await cli("snapshot", "create", box, name);
        expect({ name, code: bad.code, stdout: bad.stdout }).toEqual({ name, code: 1, stdout: "" });
        expect(bad.stderr).toContain("snapshot name");
      }
      const taken = await cli("snapshot", "create", box, "first");
      expect(taken.code).toBe(1);
      expect(taken.stderr).toContain('already has a snapshot named "first"');
      const unknown = await cli("snapshot", "ls", "cli-no-such-box");
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain("cli-no-such-box");
      // No snapshot can have such a name: not found locally; over the wire refused by the client before a path is built.
      const slashed = await cli("snapshot", "inspect", box, "a/b");
      expect(slashed.code).toBe(1);
      expect(slashed.stderr).toContain('"a/b"');
    });
  });
}

test("usage mistakes exit 2 and say what to run; --help exits 0", async () => {
  const cases: string[][] = [
    ["snapshot"],
    ["snapshot", "frobnicate"],
    ["snapshot", "create"],
    ["snapshot", "create", "box-only"],
    ["snapshot", "create", "b", "n", "extra"],
    ["snapshot", "ls"],
    ["snapshot", "ls", "a", "b"],
    ["snapshot", "inspect", "b"],
    ["snapshot", "rm", "b"],
    ["snapshot", "restore", "b"],
    ["snapshot", "restore", "b", "n1", "n2"],
    ["snapshot", "ls", "--bogus", "b"],
  ];
  for (const args of cases) {
    const result = await runCli(args);
    expect({ args, code: result.code }).toEqual({ args, code: 2 });
    expect(result.stdout + result.stderr).toContain("snapshot");
  }
  expect((await runCli(["snapshot", "create", "b"])).stderr).toContain("see 'boxlite snapshot create --help'");
  for (const sub of ["create", "ls", "inspect", "rm", "restore"]) {
    const help = await runCli(["snapshot", sub, "--help"]);
    expect({ sub, code: help.code }).toEqual({ sub, code: 0 });
    expect(help.stdout).toStartWith(`Usage: boxlite snapshot ${sub}`);
  }
  expect((await runCli(["--help"])).stdout).toContain("snapshot");
});
