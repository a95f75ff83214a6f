/**
 * Files over REST against a real box: a tree uploaded as a tar and downloaded again,
 * missing and relative paths, `..` that stays inside the box, no-overwrite, the one-file
 * upload rule, and boxes that are not running. One detached box serves the whole file.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { useApiBox } from "../helpers/api.ts";
import { runCli } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";

const runtime = Boxlite.open();
const temp = new TempDirs();
afterAll(() => temp.removeAll());
const work = temp.make("boxlite-api-files-");
const fixture = useApiBox(runtime);

/** A tar of `names` in `dir`, made by the host's tar as a client would. */
function tarOf(dir: string, names: string[]): Uint8Array {
  const tar = Bun.spawnSync(["tar", "-c", "-f", "-", "--numeric-owner", "-C", dir, "--", ...names]);
  expect(tar.exitCode).toBe(0);
  return tar.stdout;
}

/** Extracts a tar into a new directory and returns it. */
function untar(bytes: Uint8Array): string {
  const dir = mkdtempSync(join(work, "out-"));
  const tar = Bun.spawnSync(["tar", "-x", "-f", "-", "-C", dir], { stdin: bytes });
  expect(tar.exitCode).toBe(0);
  return dir;
}

async function inBox(script: string): Promise<string> {
  const result = await runCli(["exec", fixture.box, "--", "sh", "-c", script]);
  expect(result.code).toBe(0);
  return result.stdout;
}

const upload = (path: string, body: Uint8Array, query = "") =>
  fixture.api.app.request(`/v1/boxes/${fixture.box}/files?path=${encodeURIComponent(path)}${query}`, {
    method: "PUT",
    body,
    headers: { "Content-Type": "application/x-tar" },
  });
const download = (path: string, target = fixture.box) => fixture.api.app.request(`/v1/boxes/${target}/files?path=${encodeURIComponent(path)}`);

async function errorOf(response: Response): Promise<{ type: string; code: string; message: string }> {
  return ((await response.json()) as { error: { type: string; code: string; message: string } }).error;
}

test("a tree uploaded as a tar lands in the directory and downloads back the same", async () => {
  const tree = join(work, "tree");
  mkdirSync(join(tree, "sub"), { recursive: true });
  writeFileSync(join(tree, "a.txt"), "a\n");
  writeFileSync(join(tree, "sub", "b.sh"), "#!/bin/sh\n", { mode: 0o750 });
  symlinkSync("a.txt", join(tree, "link"));
  const put = await upload("/tmp/up", tarOf(work, ["tree"]));
  expect(put.status).toBe(204);
  expect(await inBox("cd /tmp/up/tree && find . | sort && cat a.txt && stat -c %a sub/b.sh")).toBe(".\n./a.txt\n./link\n./sub\n./sub/b.sh\na\n750\n");

  const got = await download("/tmp/up/tree");
  expect(got.status).toBe(200);
  expect(got.headers.get("Content-Type")).toBe("application/x-tar");
  const out = untar(await got.bytes());
  // include_parent: entries start with the path's basename.
  expect(readFileSync(join(out, "tree", "a.txt"), "utf8")).toBe("a\n");
  expect(readFileSync(join(out, "tree", "sub", "b.sh"), "utf8")).toBe("#!/bin/sh\n");
  expect(statSync(join(out, "tree", "sub", "b.sh")).mode & 0o777).toBe(0o750);
  expect(readlinkSync(join(out, "tree", "link"))).toBe("a.txt");
});

test("5 MB stream in and out byte-exact over a real server", async () => {
  const big = new Uint8Array(5 * 1024 * 1024);
  for (let offset = 0; offset < big.length; offset += 65536) crypto.getRandomValues(big.subarray(offset, offset + 65536));
  writeFileSync(join(work, "big.bin"), big);
  const put = await fetch(`${fixture.api.httpBase}/boxes/${fixture.box}/files?path=/root`, {
    method: "PUT",
    body: tarOf(work, ["big.bin"]),
    headers: { "Content-Type": "application/x-tar" },
  });
  expect(put.status).toBe(204);
  const got = await fetch(`${fixture.api.httpBase}/boxes/${fixture.box}/files?path=/root/big.bin`);
  expect(got.status).toBe(200);
  const back = readFileSync(join(untar(await got.bytes()), "big.bin"));
  expect(back.length).toBe(big.length);
  expect(Buffer.compare(back, big)).toBe(0);
});

test("a missing path is 404, a relative path 400", async () => {
  const missing = await download("/no/such/path");
  expect(missing.status).toBe(404);
  expect((await errorOf(missing)).type).toBe("NotFoundError");
  writeFileSync(join(work, "one.txt"), "one\n");
  const noParent = await upload("/no/such/dir", tarOf(work, ["one.txt"]));
  expect(noParent.status).toBe(404);
  const relative = await download("etc/passwd");
  expect(relative.status).toBe(400);
  expect((await errorOf(relative)).message).toContain("relative");
  const noPath = await fixture.api.app.request(`/v1/boxes/${fixture.box}/files`);
  expect(noPath.status).toBe(400);
});

test("a path climbing with .. stays inside the box", async () => {
  const marker = `dots-${Date.now()}`;
  writeFileSync(join(work, "f.txt"), "inside\n");
  const put = await upload(`/../../../tmp/${marker}/`, tarOf(work, ["f.txt"]));
  expect(put.status).toBe(204);
  expect(await inBox(`cat /tmp/${marker}/f.txt`)).toBe("inside\n");
  expect(existsSync(`/tmp/${marker}`)).toBe(false);

  const got = await download(`/tmp/../../../../tmp/${marker}/f.txt`);
  expect(got.status).toBe(200);
  expect(readFileSync(join(untar(await got.bytes()), "f.txt"), "utf8")).toBe("inside\n");
  // The box's own /etc/passwd, not the host's.
  const passwd = await download("/../../../etc/passwd");
  expect(passwd.status).toBe(200);
  expect(readFileSync(join(untar(await passwd.bytes()), "passwd"), "utf8")).toBe(await inBox("cat /etc/passwd"));
});

test("overwrite=false refuses to replace a file; a corrupt tar is a 400", async () => {
  writeFileSync(join(work, "keep.txt"), "first\n");
  expect((await upload("/tmp/keep/", tarOf(work, ["keep.txt"]))).status).toBe(204);
  writeFileSync(join(work, "keep.txt"), "second\n");
  const refused = await upload("/tmp/keep/", tarOf(work, ["keep.txt"]), "&overwrite=false");
  expect(refused.status).toBe(400);
  expect(await inBox("cat /tmp/keep/keep.txt")).toBe("first\n");
  // Named as the file itself, too.
  const named = await upload("/tmp/keep/keep.txt", tarOf(work, ["keep.txt"]), "&overwrite=false");
  expect(named.status).toBe(400);
  expect(await inBox("cat /tmp/keep/keep.txt")).toBe("first\n");
  expect((await upload("/tmp/keep/", tarOf(work, ["keep.txt"]))).status).toBe(204);
  expect(await inBox("cat /tmp/keep/keep.txt")).toBe("second\n");
  const corrupt = await upload("/tmp/keep/", new TextEncoder().encode("this is not a tar archive"));
  expect(corrupt.status).toBe(400);
});

test("a one-file tar is written as the path it names, unless that path ends in / or is a directory (the reference's rule, and cp's)", async () => {
  writeFileSync(join(work, "one.txt"), "one\n");
  writeFileSync(join(work, "two.txt"), "two\n");
  expect(await inBox("mkdir -p /tmp/rule/dir && echo ok")).toBe("ok\n");
  // As the SDKs' copyIn(file, "/tmp/rule/named.txt") sends it: the file becomes named.txt.
  expect((await upload("/tmp/rule/named.txt", tarOf(work, ["one.txt"]))).status).toBe(204);
  // Into an existing directory, and into one named with a trailing slash (created).
  expect((await upload("/tmp/rule/dir", tarOf(work, ["one.txt"]))).status).toBe(204);
  expect((await upload("/tmp/rule/new/", tarOf(work, ["one.txt"]))).status).toBe(204);
  // Several files to a new path: it becomes a directory holding them.
  expect((await upload("/tmp/rule/several", tarOf(work, ["one.txt", "two.txt"]))).status).toBe(204);
  expect(await inBox("cd /tmp/rule && for f in named.txt dir/one.txt new/one.txt several/one.txt several/two.txt; do test -f $f && cat $f; done")).toBe(
    "one\none\none\none\ntwo\n",
  );
  // Several files onto a file: refused, the file kept.
  const onto = await upload("/tmp/rule/named.txt", tarOf(work, ["one.txt", "two.txt"]));
  expect(onto.status).toBe(400);
  expect((await errorOf(onto)).message).toContain("not a directory");
  expect(await inBox("cat /tmp/rule/named.txt")).toBe("one\n");
});

test("a box that is not running: one on its own command is a 409 (booting would run it), one on its image's default is booted", async () => {
  const stopped = await runtime.create({ cmd: ["true"] });
  const lazy = await runtime.create({ memoryMib: 256 });
  try {
    const response = await download("/etc", stopped);
    expect(response.status).toBe(409);
    expect(await errorOf(response)).toMatchObject({ code: "invalid_state", message: expect.stringContaining("would run its main command") });
    expect((await runtime.getBox(stopped)).status).toBe("configured");
    const booted = await download("/etc/passwd", lazy);
    expect(booted.status).toBe(200);
    expect(readFileSync(join(untar(await booted.bytes()), "passwd"), "utf8")).toContain("root:");
    expect((await runtime.getBox(lazy)).status).toBe("running");
  } finally {
    await runtime.removeBox(stopped, { force: true });
    await runtime.removeBox(lazy, { force: true });
  }
});
