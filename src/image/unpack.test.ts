import { afterEach, beforeEach, expect, test } from "bun:test";
import { chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BoxliteError } from "../util/errors.ts";
import { readTarStream } from "./tar.ts";
import { writeTar } from "./tar-writer.test-helper.ts";
import type { WriteEntry } from "./tar-writer.test-helper.ts";
import { applyEntry, newWriteBuffer } from "./unpack.ts";
import type { ApplyOutcome } from "./unpack.ts";
import { readXattrHex } from "../../test/helpers/xattr.ts";

let work: string;
let root: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "boxlite-unpack-"));
  root = join(work, "rootfs");
  mkdirSync(root);
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const rootOnly = test.skipIf(process.getuid?.() !== 0);

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function apply(entries: WriteEntry[]): Promise<ApplyOutcome[]> {
  const outcomes: ApplyOutcome[] = [];
  const buffer = newWriteBuffer();
  for await (const entry of readTarStream(once(writeTar(entries)), "sha256:unpack")) outcomes.push(await applyEntry(root, entry, "sha256:unpack", buffer));
  return outcomes;
}

/** vfs_cap_data v2 for cap_net_raw+ep, as setcap writes it (linux/capability.h). */
const CAP_NET_RAW = new Uint8Array([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

rootOnly("a file capability survives the chown that would clear it, next to setuid", async () => {
  const [outcome] = await apply([
    {
      path: "bin/ping",
      data: "x",
      mode: 0o4755,
      uid: 1000,
      gid: 1000,
      pax: { "SCHILY.xattr.security.capability": CAP_NET_RAW, "SCHILY.xattr.user.empty": "" },
    },
  ]);
  expect(outcome?.skippedXattrs).toEqual([]);
  expect(readXattrHex(join(root, "bin/ping"), "security.capability")).toBe(hex(CAP_NET_RAW));
  expect(readXattrHex(join(root, "bin/ping"), "user.empty")).toBe("");
  const stat = statSync(join(root, "bin/ping"));
  expect([stat.mode & 0o7777, stat.uid, stat.gid]).toEqual([0o4755, 1000, 1000]);
});

rootOnly("sets xattrs on directories, symlinks and the root, and keeps the root's owner and mode", async () => {
  await apply([
    { path: "./", type: "5", mode: 0o750, uid: 5, gid: 6, pax: { "SCHILY.xattr.user.top": "t" } },
    { path: "d/", type: "5", pax: { "SCHILY.xattr.user.dir": "d" } },
    { path: "l", type: "2", link: "d", pax: { "SCHILY.xattr.trusted.link": "s" } },
  ]);
  expect(readXattrHex(root, "user.top")).toBe(hex(new TextEncoder().encode("t")));
  expect(readXattrHex(join(root, "d"), "user.dir")).toBe(hex(new TextEncoder().encode("d")));
  expect(readXattrHex(join(root, "l"), "trusted.link")).toBe(hex(new TextEncoder().encode("s")));
  const stat = statSync(root);
  expect([stat.mode & 0o7777, stat.uid, stat.gid]).toEqual([0o750, 5, 6]);
});

test("a user xattr on a symlink is skipped and reported, not fatal (the kernel allows user.* on files and directories only)", async () => {
  const [, outcome] = await apply([
    { path: "t", data: "x" },
    { path: "l", type: "2", link: "t", pax: { "SCHILY.xattr.user.x": "1" } },
  ]);
  expect(outcome?.skippedXattrs).toEqual([{ path: "l", name: "user.x", code: "EPERM" }]);
  expect(lstatSync(join(root, "l")).isSymbolicLink()).toBe(true);
});

rootOnly("makes a block device with its numbers, owner, mode (past the umask) and mtime", async () => {
  const [outcome] = await apply([{ path: "dev/vda", type: "4", devMajor: 254, devMinor: 16, mode: 0o660, uid: 0, gid: 6, mtime: 1_500_000_000 }]);
  expect(outcome?.skippedSpecial).toBe(false);
  const stat = lstatSync(join(root, "dev/vda"));
  expect(stat.isBlockDevice()).toBe(true);
  expect([stat.mode & 0o7777, stat.gid, stat.mtimeMs]).toEqual([0o660, 6, 1_500_000_000_000]);
  expect(
    Bun.spawnSync(["stat", "-c", "%t:%T", join(root, "dev/vda")])
      .stdout.toString()
      .trim(),
  ).toBe("fe:10");
});

test("a fifo replaces a lower file of the same name", async () => {
  writeFileSync(join(root, "p"), "lower");
  await apply([{ path: "p", type: "6", mode: 0o600 }]);
  expect(lstatSync(join(root, "p")).isFIFO()).toBe(true);
  expect(lstatSync(join(root, "p")).mode & 0o777).toBe(0o600);
});

test("never makes a device node through a symlinked parent", async () => {
  const outside = join(work, "outside");
  mkdirSync(outside);
  const thrown = await apply([
    { path: "dev", type: "2", link: outside },
    { path: "dev/sda", type: "4", devMajor: 8, devMinor: 0 },
  ]).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(thrown).toBeInstanceOf(BoxliteError);
  expect((thrown as BoxliteError).message).toContain("dev/sda");
  expect(readdirSync(outside)).toEqual([]);
});

rootOnly("as an unprivileged user, skips device nodes and privileged xattrs and reports them, but makes fifos and user xattrs", async () => {
  chownSync(work, 65534, 65534);
  chownSync(root, 65534, 65534);
  const layer = writeTar([
    { path: "dev/null", type: "3", devMajor: 1, devMinor: 3 },
    { path: "run/pipe", type: "6" },
    { path: "bin/ping", data: "x", pax: { "SCHILY.xattr.security.capability": CAP_NET_RAW, "SCHILY.xattr.trusted.t": "1", "SCHILY.xattr.user.u": "2" } },
  ]);
  writeFileSync(join(work, "layer.tar"), layer);
  // The checkout may be unreadable to nobody (a clone in a 0700 temp dir): hand it a bundle in its own work dir.
  const bundle = await Bun.build({ entrypoints: [join(import.meta.dir, "layer.ts")], outdir: work, target: "bun", naming: "layer-bundle.js" });
  expect(bundle.success).toBe(true);
  const script = `import { applyLayer } from ${JSON.stringify(join(work, "layer-bundle.js"))};
    const result = await applyLayer(${JSON.stringify(root)}, await Bun.file(${JSON.stringify(join(work, "layer.tar"))}).bytes(), { source: "l" });
    console.log(JSON.stringify({ special: result.skippedSpecial, xattrs: result.skippedXattrs }));`;
  const run = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e", script], { cwd: work });
  expect(run.stderr.toString()).toBe("");
  expect(JSON.parse(run.stdout.toString())).toEqual({
    special: ["dev/null"],
    xattrs: [
      { path: "bin/ping", name: "security.capability", code: "EPERM" },
      { path: "bin/ping", name: "trusted.t", code: "EPERM" },
    ],
  });
  expect(existsSync(join(root, "dev/null"))).toBe(false);
  expect(lstatSync(join(root, "run/pipe")).isFIFO()).toBe(true);
  expect(readXattrHex(join(root, "bin/ping"), "user.u")).toBe(hex(new TextEncoder().encode("2")));
  expect(readXattrHex(join(root, "bin/ping"), "security.capability")).toBeUndefined();
});
