/**
 * `cp` against a real box: 50 MB byte-exact both ways, trees with links, docker's
 * placement rules, --no-overwrite, -L, and a box that tries to make the host write
 * outside the destination. One detached box serves the whole file.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";

const temp = new TempDirs();
const work = temp.make("boxlite-cp-");
const sha = (path: string) => new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");
const inBox = async (script: string) => runCli(["exec", "copier", "--", "sh", "-c", script]);

beforeAll(async () => {
  expect((await runCli(["run", "-d", "--name", "copier", "--memory", "256", "--", "sleep", "3600"])).code).toBe(0);
});

afterAll(async () => {
  await runCli(["rm", "-f", "copier"]);
  temp.removeAll();
});

test("a 50 MB file goes in and comes out byte-exact", async () => {
  const big = join(work, "big.bin");
  const bytes = new Uint8Array(50 * 1024 * 1024);
  for (let offset = 0; offset < bytes.length; offset += 65536) crypto.getRandomValues(bytes.subarray(offset, offset + 65536));
  writeFileSync(big, bytes);
  expect((await runCli(["cp", big, "copier:/root/big.bin"])).code).toBe(0);
  expect((await inBox("sha256sum /root/big.bin")).stdout.split(" ")[0]).toBe(sha(big));
  const back = join(work, "back.bin");
  expect((await runCli(["cp", "copier:/root/big.bin", back])).code).toBe(0);
  expect(sha(back)).toBe(sha(big));
});

test("a tree with nested dirs, a symlink, a hard link and modes is copied both ways", async () => {
  const tree = join(work, "tree");
  mkdirSync(join(tree, "sub", "deeper"), { recursive: true });
  writeFileSync(join(tree, "a.txt"), "a\n");
  writeFileSync(join(tree, "sub", "deeper", "b.sh"), "#!/bin/sh\n", { mode: 0o750 });
  symlinkSync("a.txt", join(tree, "link"));
  expect((await runCli(["cp", tree, "copier:/tmp"])).code).toBe(0);
  const listed = await inBox("cd /tmp/tree && find . | sort && readlink link && stat -c %a sub/deeper/b.sh && stat -c %u a.txt");
  expect(listed.stdout).toBe(".\n./a.txt\n./link\n./sub\n./sub/deeper\n./sub/deeper/b.sh\na.txt\n750\n0\n");

  expect((await inBox("mkdir -p /srv/out/d && echo x > /srv/out/d/f && ln /srv/out/d/f /srv/out/d/hard && ln -s /etc/passwd /srv/out/abs")).code).toBe(0);
  const out = join(work, "out-copy");
  expect((await runCli(["cp", "copier:/srv/out", out])).code).toBe(0);
  expect(readFileSync(join(out, "d", "f"), "utf8")).toBe("x\n");
  expect(statSync(join(out, "d", "hard")).ino).toBe(statSync(join(out, "d", "f")).ino);
  // An absolute link is kept as a link, never followed on the host.
  expect(readlinkSync(join(out, "abs"))).toBe("/etc/passwd");
});

test("docker's placement rules: into a directory, to a new name, contents with /., file over file", async () => {
  writeFileSync(join(work, "one.txt"), "one\n");
  expect((await runCli(["cp", join(work, "one.txt"), "copier:/tmp"])).code).toBe(0);
  expect((await runCli(["cp", join(work, "one.txt"), "copier:/tmp/renamed.txt"])).code).toBe(0);
  expect((await inBox("cat /tmp/one.txt /tmp/renamed.txt")).stdout).toBe("one\none\n");
  writeFileSync(join(work, "one.txt"), "two\n");
  expect((await runCli(["cp", join(work, "one.txt"), "copier:/tmp/renamed.txt"])).code).toBe(0);
  expect((await inBox("cat /tmp/renamed.txt")).stdout).toBe("two\n");

  expect((await inBox("mkdir -p /tmp/src/inner && echo c > /tmp/src/inner/c.txt")).code).toBe(0);
  const into = join(work, "into");
  mkdirSync(into);
  expect((await runCli(["cp", "copier:/tmp/src", into])).code).toBe(0);
  expect(readFileSync(join(into, "src", "inner", "c.txt"), "utf8")).toBe("c\n");
  const fresh = join(work, "fresh");
  expect((await runCli(["cp", "copier:/tmp/src", fresh])).code).toBe(0);
  expect(readFileSync(join(fresh, "inner", "c.txt"), "utf8")).toBe("c\n");
  const contents = join(work, "contents");
  mkdirSync(contents);
  expect((await runCli(["cp", "copier:/tmp/src/.", contents])).code).toBe(0);
  expect(readFileSync(join(contents, "inner", "c.txt"), "utf8")).toBe("c\n");
});

test("--no-overwrite, -L and bad paths get clear answers", async () => {
  writeFileSync(join(work, "keep.txt"), "new\n");
  expect((await inBox("echo old > /tmp/keep.txt")).code).toBe(0);
  const refused = await runCli(["cp", "--no-overwrite", join(work, "keep.txt"), "copier:/tmp/keep.txt"]);
  expect(refused.code).toBe(1);
  expect((await inBox("cat /tmp/keep.txt")).stdout).toBe("old\n");

  symlinkSync(join(work, "keep.txt"), join(work, "via-link"));
  expect((await runCli(["cp", "-L", join(work, "via-link"), "copier:/tmp/followed"])).code).toBe(0);
  expect((await inBox("test -f /tmp/followed && cat /tmp/followed")).stdout).toBe("new\n");

  const missing = await runCli(["cp", "copier:/no/such/file", join(work, "x")]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/no\/such\/file/);
  const noHost = await runCli(["cp", join(work, "absent"), "copier:/tmp"]);
  expect(noHost.stderr).toMatch(/does not exist on the host/);
  expect((await runCli(["cp", "a", "b"])).stderr).toMatch(/exactly one of SRC and DEST is BOX:PATH/);
});

test("paths in the box resolve inside it: .. and symlinks to / stay in the box, and nothing lands outside the host destination", async () => {
  writeFileSync(join(work, "probe.txt"), "probe\n");
  expect((await runCli(["cp", join(work, "probe.txt"), "copier:/../../../tmp/probe.txt"])).code).toBe(0);
  expect((await inBox("cat /tmp/probe.txt")).stdout).toBe("probe\n");
  expect((await inBox("mkdir -p /tmp/evil && ln -s / /tmp/evil/root && ln -s /tmp /tmp/evil/tmp")).code).toBe(0);
  const dest = join(work, "evil-copy");
  expect((await runCli(["cp", "copier:/tmp/evil", dest])).code).toBe(0);
  expect(lstatSync(join(dest, "root")).isSymbolicLink()).toBe(true);
  expect(existsSync(join(work, "evil-copy", "tmp", "probe.txt"))).toBe(false);
});

test("copying the box's root copies its contents, never beside the destination", async () => {
  const all = join(work, "all");
  expect((await runCli(["cp", "copier:/", all])).code).toBe(0);
  expect(readFileSync(join(all, "etc", "hostname"), "utf8").length).toBeGreaterThan(0);
  expect(existsSync(join(work, "etc"))).toBe(false);
  // The box's /dev holds device nodes: none is made on the host.
  expect(existsSync(join(all, "dev", "null"))).toBe(false);
});

test("cp into a box whose own command has not run is refused with what to do: booting it would run that command", async () => {
  expect((await runCli(["create", "--name", "idle", "--", "true"])).code).toBe(0);
  const result = await runCli(["cp", join(work, "probe.txt"), "idle:/tmp"]);
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(
    /is configured: copying files needs it running, and booting it would run its main command, which was never started; start it with 'boxlite start idle' first/,
  );
  expect((await runCli(["rm", "idle"])).code).toBe(0);
});
