/**
 * `-v` on create and run, VM-free: what is recorded and shown, and what is refused (exit 2
 * for create, 125 for run, nothing made). Volumes inside running boxes: volumes.test.ts.
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CliResult, runCli } from "../helpers/cli.ts";

const root = mkdtempSync(join(tmpdir(), "boxlite-volopts-"));
const home = join(root, "home");
const work = join(root, "work");
mkdirSync(join(work, "src"), { recursive: true });
writeFileSync(join(work, "app.conf"), "x=1\n");
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cli = (args: string[]): Promise<CliResult> => runCli(args, { env: { BOXLITE_HOME: home }, cwd: work });
const anonymousDirs = () => (existsSync(join(home, "volumes", "anonymous")) ? readdirSync(join(home, "volumes", "anonymous")) : []);
const boxCount = async () => (JSON.parse((await cli(["ls", "-a", "--json"])).stdout) as unknown[]).length;

interface Inspected {
  Status: string;
  Mounts: Array<{ Type: string; Source: string; Destination: string; RW: boolean; Mode: string }>;
}

async function inspect(id: string): Promise<Inspected> {
  const result = await cli(["inspect", id]);
  expect(result.code).toBe(0);
  return (JSON.parse(result.stdout) as Inspected[])[0] as Inspected;
}

test("create records a host directory (relative to the cwd), a host file read-only and an anonymous volume; inspect shows them as Mounts", async () => {
  const made = await cli(["create", "-v", "./src:/src", "-v", `${join(work, "app.conf")}:/etc/app.conf:ro`, "-v", "/cache"]);
  expect(made.stderr).toBe("");
  expect(made.code).toBe(0);
  const id = made.stdout.trim();
  const [anonymous] = anonymousDirs();
  expect(anonymous).toMatch(/^[0-9a-z]{26}$/);
  const box = await inspect(id);
  expect(box.Status).toBe("configured");
  expect(box.Mounts).toEqual([
    { Type: "bind", Source: join(work, "src"), Destination: "/src", RW: true, Mode: "rw" },
    { Type: "bind", Source: join(work, "app.conf"), Destination: "/etc/app.conf", RW: false, Mode: "ro" },
    { Type: "volume", Source: join(home, "volumes", "anonymous", anonymous as string), Destination: "/cache", RW: true, Mode: "rw" },
  ]);

  // The anonymous volume outlives the box.
  expect((await cli(["rm", id])).code).toBe(0);
  expect(anonymousDirs()).toEqual([anonymous as string]);
});

test("a named volume that does not exist is refused by create and run, which leave no box behind", async () => {
  const before = await boxCount();
  for (const command of [["create"], ["run", "--rm"]]) {
    const result = await cli([...command, "-v", "no-such:/data", "--", "true"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('no such volume: "no-such"');
  }
  expect(await boxCount()).toBe(before);
});

test("bad -v values exit 2 from create and 125 from run, naming the problem, and make nothing", async () => {
  const locked = join(work, "locked");
  mkdirSync(locked);
  chmodSync(locked, 0o000);
  const before = await boxCount();
  const anonymousBefore = anonymousDirs().length;
  const cases: Array<[string[], RegExp]> = [
    [["-v", "./missing:/data"], /does not exist/],
    [["-v", "/dev/null:/data"], /neither a directory nor a regular file/],
    [["-v", "./src:data"], /must be an absolute path/],
    [["-v", "./src:/"], /root/],
    [["-v", "./src:/data", "-v", "/data/cache"], /overlap/],
    [["-v", "./src:/data:rx"], /unknown mode "rx"/],
    [["-v", "./src::/data"], /empty part/],
    ...(process.getuid?.() === 0 ? [] : [[["-v", "./locked:/data"], /cannot be read/] as [string[], RegExp]]),
  ];
  try {
    for (const [flags, message] of cases) {
      const created = await cli(["create", ...flags]);
      expect(created.code).toBe(2);
      expect(created.stderr).toMatch(message);
      const ran = await cli(["run", "--rm", ...flags, "--", "true"]);
      expect(ran.code).toBe(125);
      expect(ran.stderr).toMatch(message);
    }
  } finally {
    chmodSync(locked, 0o700);
  }
  expect(await boxCount()).toBe(before);
  expect(anonymousDirs().length).toBe(anonymousBefore);
});

test("a create that fails after its anonymous volume was made removes that directory", async () => {
  expect((await cli(["create", "--name", "taken"])).code).toBe(0);
  const before = anonymousDirs();
  const again = await cli(["create", "--name", "taken", "-v", "/cache"]);
  expect(again.code).not.toBe(0);
  expect(again.stderr).toContain("taken");
  expect(anonymousDirs()).toEqual(before);
  expect((await cli(["rm", "taken"])).code).toBe(0);
});
