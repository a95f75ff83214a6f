/**
 * `boxlite clone`, `export` and `import` as a user runs them: usage mistakes always;
 * the round trip (against the home and with --url) once the runtime has clone, export
 * and import (until then they are refused as `unsupported`, and those tests are skipped).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { hasPortability } from "../helpers/portability.ts";
import { startApi } from "../helpers/api.ts";
import { runCli } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";

const runtime = Boxlite.open();
const api = startApi(runtime);
const temp = new TempDirs();

afterAll(async () => {
  await api.close();
  temp.removeAll();
});

const portable = await hasPortability(runtime);

test("usage mistakes exit 2 and say what to run; --help exits 0", async () => {
  const cases: string[][] = [
    ["clone"],
    ["clone", "a", "b"],
    ["clone", "--count", "0", "a"],
    ["clone", "--count", "x", "a"],
    ["clone", "--bogus", "a"],
    ["export"],
    ["export", "a", "b"],
    ["export", "-o", "", "a"],
    ["import"],
    ["import", "a", "b"],
    ["import", "--name"],
  ];
  for (const args of cases) {
    const result = await runCli(args);
    expect({ args, code: result.code, stdout: result.stdout }).toEqual({ args, code: 2, stdout: "" });
    expect(result.stderr).toStartWith("boxlite: ");
  }
  expect((await runCli(["clone"])).stderr).toContain("see 'boxlite clone --help'");
  for (const verb of ["clone", "export", "import"]) {
    const help = await runCli([verb, "--help"]);
    expect({ verb, code: help.code }).toEqual({ verb, code: 0 });
    expect(help.stdout).toStartWith(`Usage: boxlite ${verb}`);
    expect((await runCli(["--help"])).stdout).toContain(`  ${verb} `);
  }
});

const MODES: Array<[string, string[]]> = [
  ["against the home", []],
  ["with --url", ["--url", api.httpBase.replace(/\/v1$/, "")]],
];

for (const [mode, globals] of MODES) {
  describe.skipIf(!portable)(`clone, export and import ${mode}`, () => {
    const tag = mode.includes("url") ? "remote" : "local";
    const cli = (args: string[], cwd?: string) => runCli([...globals, ...args], cwd === undefined ? {} : { cwd });

    test("clone prints the new ids, one per line or as JSON; --name names the one clone", async () => {
      const source = `cli-port-${tag}`;
      expect((await runCli(["create", "--name", source])).code).toBe(0);
      const one = await cli(["clone", "--name", `${source}-c1`, source]);
      expect(one).toMatchObject({ code: 0, stderr: "" });
      const id = one.stdout.trim();
      expect((await runtime.getBox(`${source}-c1`)).box_id).toBe(id);
      const two = await cli(["clone", "--count", "2", source]);
      expect(two.code).toBe(0);
      expect(two.stdout.trimEnd().split("\n")).toHaveLength(2);
      const json = JSON.parse((await cli(["clone", "--json", source])).stdout) as string[];
      expect(json).toHaveLength(1);
      expect((await runtime.getBox(json[0] as string)).box_id).toBe(json[0] as string);
      const unknown = await cli(["clone", "cli-no-such-box"]);
      expect(unknown.code).toBe(1);
    });

    test("export writes ./<name>.boxlite by default or -o FILE and prints the path; import makes a box from it", async () => {
      const source = `cli-export-${tag}`;
      expect((await runCli(["create", "--name", source])).code).toBe(0);
      const cwd = temp.make("boxlite-cli-export-");
      const byDefault = await cli(["export", source], cwd);
      expect(byDefault).toMatchObject({ code: 0, stderr: "" });
      const path = byDefault.stdout.trim();
      expect(path.endsWith(`${source}.boxlite`)).toBe(true);
      expect(existsSync(join(cwd, `${source}.boxlite`))).toBe(true);
      const chosen = join(cwd, "chosen.boxlite");
      expect((await cli(["export", "-o", chosen, source])).stdout).toBe(`${chosen}\n`);
      expect(statSync(chosen).size).toBeGreaterThan(0);

      const imported = await cli(["import", "--name", `${source}-back`, chosen]);
      expect(imported).toMatchObject({ code: 0, stderr: "" });
      expect((await runtime.getBox(`${source}-back`)).box_id).toBe(imported.stdout.trim());
      const missing = await cli(["import", join(cwd, "no-such.boxlite")]);
      expect(missing.code).toBe(1);
    });
  });
}
