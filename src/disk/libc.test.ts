import { afterEach, beforeEach, expect, test } from "bun:test";
import { lstatSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lsetxattr, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from "./libc.ts";
import type { LibcError } from "./libc.ts";
import { readXattrHex } from "../../test/helpers/xattr.ts";

let work: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "boxlite-libc-"));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const rootOnly = test.skipIf(process.getuid?.() !== 0);

test("lsetxattr sets a binary value on the path itself", () => {
  const file = join(work, "f");
  writeFileSync(file, "x");
  lsetxattr(file, "user.bin", new Uint8Array([0, 1, 0xff]));
  lsetxattr(file, "user.empty", new Uint8Array(0));
  expect(readXattrHex(file, "user.bin")).toBe("0001ff");
  expect(readXattrHex(file, "user.empty")).toBe("");
});

test("lsetxattr reports errno like a Node fs error", () => {
  const error = (() => {
    try {
      lsetxattr(join(work, "missing"), "user.x", new Uint8Array([1]));
    } catch (caught) {
      return caught as LibcError;
    }
    return undefined;
  })();
  expect(error?.code).toBe("ENOENT");
  expect(error?.errno).toBe(2);
  expect(error?.syscall).toBe("lsetxattr");
  expect(error?.message).toContain("missing");
});

test("lsetxattr does not follow a symlink (user.* on a symlink is EPERM)", () => {
  writeFileSync(join(work, "target"), "x");
  symlinkSync("target", join(work, "link"));
  expect(() => lsetxattr(join(work, "link"), "user.x", new Uint8Array([1]))).toThrow(expect.objectContaining({ code: "EPERM" }));
  expect(readXattrHex(join(work, "target"), "user.x")).toBeUndefined();
});

rootOnly("mknod makes char and block devices with large major and minor numbers", () => {
  mknod(join(work, "c"), S_IFCHR, 0o600, 10, 200);
  mknod(join(work, "b"), S_IFBLK, 0o600, 259, 300_000);
  const stat = (name: string) =>
    Bun.spawnSync(["stat", "-c", "%F %t %T", join(work, name)])
      .stdout.toString()
      .trim();
  expect(stat("c")).toBe("character special file a c8");
  expect(stat("b")).toBe(`block special file 103 ${(300_000).toString(16)}`);
});

test("mknod makes a fifo, and an existing path is EEXIST", () => {
  mknod(join(work, "p"), S_IFIFO, 0o644);
  expect(lstatSync(join(work, "p")).isFIFO()).toBe(true);
  expect(() => mknod(join(work, "p"), S_IFIFO, 0o644)).toThrow(expect.objectContaining({ code: "EEXIST", syscall: "mknod" }));
});
