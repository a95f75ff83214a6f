/**
 * The FUSE half on the host's own FUSE (fsd-fuse-harness), checked with real tools and syscalls
 * against the host side of each share. Where a path would be resolved by the "box" kernel (a
 * symlink to /etc), the box is a chroot into the mount with a static busybox, so that the only
 * way out is through fsd. Root only (mount(2), mknod, chroot).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const REPO = join(import.meta.dir, "..", "..");
const HARNESS = join(REPO, "build", "host", "fsd-fuse-harness");
const IDMAP_PROBE = join(REPO, "build", "host", "fsd-idmap-probe");
const GiB = 1024 ** 3;

interface Share {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Holds share/, mnt/ and outside/ (what no request may touch). */
  dir: string;
  share: string;
  mnt: string;
  outside: string;
}

/** Every share mounted and not unmounted yet: unmounted after all, whatever a test threw. */
const mounted = new Set<Share>();
/** Every mount point this file used: none may be left in /proc/mounts. */
const mountPoints: string[] = [];

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[]): Promise<RunResult> {
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Runs a shell script in the "box": chrooted into the mount, so absolute paths stay in the share. */
function inBox(share: Share, script: string): Promise<RunResult> {
  return run(["chroot", share.mnt, "/busybox", "sh", "-c", script]);
}

function isMounted(path: string): boolean {
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .some((line) => line.split(" ")[1] === path);
}

/**
 * Mounts a fresh share (prepared by `prepare` on the host first), the harness run under `launcher`
 * (a command that execs the rest, such as prlimit); resolves once the harness says ready.
 */
async function mountShare(args: string[] = [], prepare?: (share: string) => void, launcher: string[] = []): Promise<Share> {
  const dir = mkdtempSync(join(tmpdir(), "fsd-test-"));
  const share = join(dir, "share");
  const mnt = join(dir, "mnt");
  const outside = join(dir, "outside");
  for (const d of [share, mnt, outside]) mkdirSync(d);
  writeFileSync(join(outside, "secret"), "the secret\n");
  prepare?.(share);
  return startHarness([...launcher, HARNESS, share, mnt, ...args], { dir, share, mnt, outside });
}

/**
 * Mounts the shares a (read-write), b (read-only) and c (read-write) of dir/a, dir/b, dir/c through
 * the mux, as fsd serves a box's volumes on one device; `share` is dir/a.
 */
async function mountMux(prepare: (dir: string) => void): Promise<Share> {
  const dir = mkdtempSync(join(tmpdir(), "fsd-test-"));
  const mnt = join(dir, "mnt");
  const outside = join(dir, "outside");
  for (const d of ["a", "b", "c", "mnt", "outside"]) mkdirSync(join(dir, d));
  prepare(dir);
  const shares = ["--share", `a:${join(dir, "a")}`, "--share", `b:${join(dir, "b")}:ro`, "--share", `c:${join(dir, "c")}`];
  return startHarness([HARNESS, mnt, ...shares], { dir, share: join(dir, "a"), mnt, outside });
}

/** Starts the harness; resolves once it says ready. */
async function startHarness(argv: string[], paths: Omit<Share, "proc">): Promise<Share> {
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const mount = { proc, ...paths };
  mounted.add(mount);
  mountPoints.push(paths.mnt);
  const reader = proc.stdout.getReader();
  const first = await reader.read();
  reader.releaseLock();
  if (new TextDecoder().decode(first.value) !== "ready\n") {
    throw new Error(`fsd-fuse-harness did not start: ${await new Response(proc.stderr).text()}`);
  }
  return mount;
}

async function unmountShare(share: Share): Promise<void> {
  share.proc.kill("SIGTERM");
  await share.proc.exited;
  if (isMounted(share.mnt)) await run(["umount", "-l", share.mnt]);
  rmSync(share.dir, { recursive: true, force: true });
  mounted.delete(share);
}

/** Polls until check() holds (the guest may trust attributes for the 1 s timeout), or the deadline. */
async function eventually(check: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await Bun.sleep(20);
  }
  return true;
}

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

beforeAll(async () => {
  const built = await run(["make", "-s", "-C", import.meta.dir, `OUT=${join(REPO, "build", "host")}`]);
  if (built.code !== 0) throw new Error(`make failed: ${built.stderr}`);
});

afterAll(async () => {
  for (const share of [...mounted]) await unmountShare(share);
  expect(mountPoints.filter(isMounted)).toEqual([]);
});

describe("a read-write share", () => {
  let s: Share;
  beforeAll(async () => {
    s = await mountShare();
  });

  test("a file written through the mount is on the host, and a host change is seen through the mount", async () => {
    writeFileSync(join(s.mnt, "a.txt"), "from the box\n");
    expect(readFileSync(join(s.share, "a.txt"), "utf8")).toBe("from the box\n");
    writeFileSync(join(s.share, "b.txt"), "from the host\n");
    expect(readFileSync(join(s.mnt, "b.txt"), "utf8")).toBe("from the host\n");
    writeFileSync(join(s.share, "a.txt"), "changed on the host, longer\n");
    expect(await eventually(() => readFileSync(join(s.mnt, "a.txt"), "utf8") === "changed on the host, longer\n")).toBe(true);
    rmSync(join(s.share, "b.txt"));
    expect(await eventually(() => !existsSync(join(s.mnt, "b.txt")))).toBe(true);
  });

  test("appends land at the end whatever the offset, and fsync succeeds", () => {
    writeFileSync(join(s.share, "log"), "one\n");
    const fd = openSync(join(s.mnt, "log"), "a");
    writeSync(fd, "two\n", 0);
    fsyncSync(fd);
    closeSync(fd);
    expect(readFileSync(join(s.share, "log"), "utf8")).toBe("one\ntwo\n");
    const dirFd = openSync(s.mnt, "r");
    fsyncSync(dirFd);
    closeSync(dirFd);
  });

  test("renames, hard links and symlinks behave as on a local disk", async () => {
    writeFileSync(join(s.mnt, "orig"), "data");
    linkSync(join(s.mnt, "orig"), join(s.mnt, "hard"));
    expect(statSync(join(s.mnt, "hard")).ino).toBe(statSync(join(s.mnt, "orig")).ino);
    expect(statSync(join(s.mnt, "orig")).nlink).toBe(2);
    expect(statSync(join(s.share, "hard")).ino).toBe(statSync(join(s.share, "orig")).ino);
    expect((await run(["mv", join(s.mnt, "orig"), join(s.mnt, "renamed")])).code).toBe(0);
    expect(existsSync(join(s.share, "orig"))).toBe(false);
    expect(readFileSync(join(s.share, "renamed"), "utf8")).toBe("data");
    symlinkSync("renamed", join(s.mnt, "sym"));
    expect(readlinkSync(join(s.share, "sym"))).toBe("renamed");
    expect(readlinkSync(join(s.mnt, "sym"))).toBe("renamed");
    expect(readFileSync(join(s.mnt, "sym"), "utf8")).toBe("data");
    writeFileSync(join(s.mnt, "other"), "other");
    await run(["mv", "--no-clobber", join(s.mnt, "renamed"), join(s.mnt, "other")]); // RENAME_NOREPLACE
    expect(readFileSync(join(s.share, "other"), "utf8")).toBe("other");
    expect(existsSync(join(s.share, "renamed"))).toBe(true);
  });

  test("mkdir, rmdir, chmod, truncate and utimes reach the host", async () => {
    mkdirSync(join(s.mnt, "sub"));
    expect(lstatSync(join(s.share, "sub")).isDirectory()).toBe(true);
    writeFileSync(join(s.mnt, "sub", "f"), "0123456789");
    expect((await run(["chmod", "600", join(s.mnt, "sub", "f")])).code).toBe(0);
    expect(statSync(join(s.share, "sub", "f")).mode & 0o7777).toBe(0o600);
    expect((await run(["truncate", "-s", "4", join(s.mnt, "sub", "f")])).code).toBe(0);
    expect(readFileSync(join(s.share, "sub", "f"), "utf8")).toBe("0123");
    expect((await run(["touch", "-m", "-d", "2001-02-03T04:05:06Z", join(s.mnt, "sub", "f")])).code).toBe(0);
    expect(statSync(join(s.share, "sub", "f")).mtime.toISOString()).toBe("2001-02-03T04:05:06.000Z");
    expect((await run(["rmdir", join(s.mnt, "sub")])).code).not.toBe(0);
    rmSync(join(s.mnt, "sub", "f"));
    expect((await run(["rmdir", join(s.mnt, "sub")])).code).toBe(0);
    expect(existsSync(join(s.share, "sub"))).toBe(false);
  });

  test("a 5 GiB sparse file has its size, few blocks, and its data past 4 GiB", async () => {
    const path = join(s.mnt, "sparse");
    const dd = await run(["dd", "if=/dev/urandom", `of=${path}`, "bs=4096", "count=1", `seek=${(5 * GiB) / 4096 - 1}`, "status=none"]);
    expect(dd.code).toBe(0);
    const host = statSync(join(s.share, "sparse"));
    expect(host.size).toBe(5 * GiB);
    expect(host.blocks).toBeLessThan(1024);
    expect(statSync(path).size).toBe(5 * GiB);
    const tail = await run(["sh", "-c", `tail -c 4096 ${path} | sha256sum`]);
    const hostTail = Buffer.alloc(4096);
    const fd = openSync(join(s.share, "sparse"), "r");
    readSync(fd, hostTail, 0, 4096, 5 * GiB - 4096);
    closeSync(fd);
    expect(tail.stdout.split(" ")[0]).toBe(createHash("sha256").update(hostTail).digest("hex"));
  }, 60_000);

  test("a directory of 2000 entries lists them all", () => {
    mkdirSync(join(s.share, "many"));
    for (let i = 0; i < 2000; i++) writeFileSync(join(s.share, "many", `entry-${i}`), "");
    const names = readdirSync(join(s.mnt, "many"));
    expect(names.length).toBe(2000);
    expect(new Set(names).size).toBe(2000);
    expect(names).toContain("entry-1999");
  });

  test("mknod of a character device fails and leaves nothing on the host", async () => {
    const made = await run(["mknod", join(s.mnt, "cdev"), "c", "1", "3"]);
    expect(made.code).not.toBe(0);
    expect(existsSync(join(s.share, "cdev"))).toBe(false);
    expect((await run(["mkfifo", join(s.mnt, "fifo")])).code).toBe(0);
    expect(lstatSync(join(s.share, "fifo")).isFIFO()).toBe(true);
  });

  // The kernel opens a device node itself (fsd never sees that OPEN); the harness mounts nodev,
  // as the guest does. fsd's own refusal, for a guest that sends OPEN anyway, is a C test.
  test("a device node the host put in the share cannot be opened", async () => {
    expect((await run(["mknod", join(s.share, "null"), "c", "1", "3"])).code).toBe(0);
    expect((await run(["sh", "-c", `echo x > ${join(s.mnt, "null")}`])).code).not.toBe(0);
    const read = await run(["cat", join(s.mnt, "null")]);
    expect(read.code).not.toBe(0);
    expect(read.stderr).toContain("Permission denied");
  });

  test("set-user-ID and set-group-ID bits never reach a host file", async () => {
    writeFileSync(join(s.mnt, "prog"), "#!/bin/sh\n");
    expect((await run(["chmod", "6755", join(s.mnt, "prog")])).code).toBe(0);
    expect(statSync(join(s.share, "prog")).mode & 0o7777).toBe(0o755);
    expect((await run(["install", "-m", "4755", "/dev/null", join(s.mnt, "installed")])).code).toBe(0);
    expect(statSync(join(s.share, "installed")).mode & 0o7777).toBe(0o755);
  });
});

describe("confinement", () => {
  let s: Share;
  beforeAll(async () => {
    s = await mountShare([], (share) => {
      copyFileSync("/bin/busybox", join(share, "busybox"));
      chmodSync(join(share, "busybox"), 0o755);
    });
  });

  test("`..` at the box's root stays in the share", async () => {
    const listed = await inBox(s, "/busybox ls /../..; /busybox cat /../outside/secret");
    expect(listed.stdout).toContain("busybox");
    expect(listed.stdout).not.toContain("the secret");
    expect(listed.code).not.toBe(0);
  });

  test("a symlink to /etc made in the box leads no write to the host's /etc", async () => {
    const before = sha256("/etc/passwd");
    const name = `fsd-test-${process.pid}`;
    // `: >>` opens x/passwd for appending without writing: were it the host's, the open would succeed.
    const box = await inBox(s, `/busybox ln -s /etc x; (: >> x/passwd) && echo opened; echo pwned > x/${name}; /busybox readlink x`);
    rmSync(join("/etc", name), { force: true });
    expect(box.stdout).toBe("/etc\n");
    expect(readlinkSync(join(s.share, "x"))).toBe("/etc");
    expect(sha256("/etc/passwd")).toBe(before);
    expect(box.stderr).toContain(`x/${name}`);
  });

  test("a host-made symlink pointing outside the share is shown, not followed", async () => {
    symlinkSync(s.outside, join(s.share, "out"));
    const box = await inBox(s, "/busybox readlink /out; /busybox cat /out/secret; echo new > /out/new");
    expect(box.stdout).toBe(`${s.outside}\n`);
    expect(box.stdout).not.toContain("the secret");
    expect(readdirSync(s.outside)).toEqual(["secret"]);
  });

  test("a symlink swapped in for a directory while the box writes into it never leads outside", async () => {
    // From the share, "../outside" is the real outside; from the box's root it is the decoy.
    mkdirSync(join(s.share, "outside"));
    mkdirSync(join(s.share, "d"));
    const stop = join(s.dir, "stop");
    const swapper = Bun.spawn(["sh", "-c", `cd ${s.share} && while [ ! -e ${stop} ]; do mv d dir && ln -s ../outside d && rm d && mv dir d; done`], {
      stdout: "ignore",
      stderr: "ignore",
    });
    // Paced: the guest keeps a name it found absent for 10 ms (fsd's FS_FRESH_NSEC), and 3000
    // writes failing from that cache could all end within a few of those windows.
    const box = await inBox(s, "n=0; for i in $(/busybox seq 1 3000); do echo x > /d/f$i && n=$((n+1)); /busybox usleep 200; done; echo $n");
    writeFileSync(stop, "");
    await swapper.exited;
    expect(Number(box.stdout.trim())).toBeGreaterThan(0);
    expect(readdirSync(s.outside)).toEqual(["secret"]);
  }, 120_000);
});

// The guest makes the share's mount idmapped (docs/volumes.md, "Ownership"); the kernel allows
// that on a FUSE mount only when fsd sent FUSE_ALLOW_IDMAP at INIT.
test("the share can be mounted idmapped", async () => {
  const s = await mountShare([], (share) => writeFileSync(join(share, "f"), ""));
  const target = join(s.dir, "idmapped");
  mkdirSync(target);
  try {
    const probe = await run([IDMAP_PROBE, s.mnt, target, "1000"]);
    expect(probe.stderr).toBe("");
    expect(probe.code).toBe(0);
    expect(statSync(join(s.mnt, "f")).uid).toBe(0);
    expect(statSync(join(target, "f")).uid).toBe(1000);
  } finally {
    if (isMounted(target)) await run(["umount", target]);
    await unmountShare(s);
  }
});

describe("a read-only share", () => {
  test("refuses every write, even root's, and still reads", async () => {
    const s = await mountShare(["--read-only"], (share) => writeFileSync(join(share, "f"), "kept\n"));
    try {
      expect(readFileSync(join(s.mnt, "f"), "utf8")).toBe("kept\n");
      for (const script of [
        `echo x > ${s.mnt}/f`,
        `echo x >> ${s.mnt}/f`,
        `touch ${s.mnt}/new`,
        `mkdir ${s.mnt}/d`,
        `rm ${s.mnt}/f`,
        `chmod 777 ${s.mnt}/f`,
        `truncate -s 0 ${s.mnt}/f`,
        `ln -s f ${s.mnt}/l`,
      ]) {
        const r = await run(["sh", "-c", script]);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain("Read-only file system");
      }
      expect(readdirSync(s.share)).toEqual(["f"]);
      expect(readFileSync(join(s.share, "f"), "utf8")).toBe("kept\n");
      expect(statSync(join(s.share, "f")).mode & 0o777).toBe(0o644);
    } finally {
      await unmountShare(s);
    }
  });
});

describe("a single-file share", () => {
  test("shows only its file, refuses siblings, and lets the file be written", async () => {
    const s = await mountShare(["--file", "only.txt"], (share) => {
      writeFileSync(join(share, "only.txt"), "one\n");
      writeFileSync(join(share, "secret"), "hidden\n");
      mkdirSync(join(share, "dir"));
    });
    try {
      expect(readdirSync(s.mnt)).toEqual(["only.txt"]);
      expect(existsSync(join(s.mnt, "secret"))).toBe(false);
      expect(existsSync(join(s.mnt, "dir"))).toBe(false);
      for (const script of [`touch ${s.mnt}/new`, `mkdir ${s.mnt}/d`, `rm ${s.mnt}/only.txt`, `mv ${s.mnt}/only.txt ${s.mnt}/moved`, `ln -s x ${s.mnt}/l`]) {
        expect((await run(["sh", "-c", script])).code).not.toBe(0);
      }
      writeFileSync(join(s.mnt, "only.txt"), "two\n");
      expect(readFileSync(join(s.share, "only.txt"), "utf8")).toBe("two\n");
      expect(readdirSync(s.share).sort()).toEqual(["dir", "only.txt", "secret"]);
    } finally {
      await unmountShare(s);
    }
  });
});

describe("three shares on one mount (the mux)", () => {
  let s: Share;
  beforeAll(async () => {
    s = await mountMux((dir) => {
      writeFileSync(join(dir, "a", "x"), "from a\n");
      writeFileSync(join(dir, "b", "kept"), "kept\n");
    });
  });
  afterAll(async () => {
    await unmountShare(s);
  });
  const errorOf = (action: () => void): string | undefined => {
    try {
      action();
    } catch (error) {
      return (error as NodeJS.ErrnoException).code;
    }
    return undefined;
  };

  test("the root lists exactly the shares, read-only, and refuses every change in it", () => {
    expect(readdirSync(s.mnt).sort()).toEqual(["a", "b", "c"]);
    expect(statSync(s.mnt).mode & 0o7777).toBe(0o555);
    expect(errorOf(() => mkdirSync(join(s.mnt, "d")))).toBe("EPERM");
    expect(errorOf(() => writeFileSync(join(s.mnt, "f"), "x"))).toBe("EPERM");
    expect(errorOf(() => rmdirSync(join(s.mnt, "c")))).toBe("EPERM");
    expect(errorOf(() => renameSync(join(s.mnt, "c"), join(s.mnt, "d")))).toBe("EPERM");
    expect(errorOf(() => renameSync(join(s.mnt, "a", "x"), join(s.mnt, "x")))).toBe("EPERM");
    expect(errorOf(() => symlinkSync("a", join(s.mnt, "l")))).toBe("EPERM");
    expect(readdirSync(s.dir).sort()).toEqual(["a", "b", "c", "mnt", "outside"]);
  });

  test("a write in a read-write share lands on the host; the read-only share reads and refuses", () => {
    writeFileSync(join(s.mnt, "a", "new"), "written\n");
    expect(readFileSync(join(s.dir, "a", "new"), "utf8")).toBe("written\n");
    expect(readFileSync(join(s.mnt, "b", "kept"), "utf8")).toBe("kept\n");
    expect(errorOf(() => writeFileSync(join(s.mnt, "b", "new"), "x"))).toBe("EROFS");
    expect(errorOf(() => writeFileSync(join(s.mnt, "b", "kept"), "x"))).toBe("EROFS");
    expect(readdirSync(join(s.dir, "b"))).toEqual(["kept"]);
  });

  test("rename(2) and link(2) across shares are EXDEV; mv falls back to copy and delete", async () => {
    writeFileSync(join(s.mnt, "a", "moving"), "moves\n");
    expect(errorOf(() => renameSync(join(s.mnt, "a", "moving"), join(s.mnt, "c", "moving")))).toBe("EXDEV");
    expect(errorOf(() => linkSync(join(s.mnt, "a", "moving"), join(s.mnt, "c", "linked")))).toBe("EXDEV");
    const mv = await run(["mv", join(s.mnt, "a", "moving"), `${join(s.mnt, "c")}/`]);
    expect(mv).toMatchObject({ code: 0, stderr: "" });
    expect(readFileSync(join(s.dir, "c", "moving"), "utf8")).toBe("moves\n");
    expect(existsSync(join(s.dir, "a", "moving"))).toBe(false);
    expect(existsSync(join(s.dir, "c", "linked"))).toBe(false);
  });

  test("hard links within a share share an inode, and a rename within one works", () => {
    linkSync(join(s.mnt, "a", "x"), join(s.mnt, "a", "x2"));
    const [one, two] = [statSync(join(s.mnt, "a", "x")), statSync(join(s.mnt, "a", "x2"))];
    expect(two.ino).toBe(one.ino);
    expect(one.nlink).toBe(2);
    renameSync(join(s.mnt, "a", "x2"), join(s.mnt, "a", "x3"));
    expect(readdirSync(join(s.dir, "a")).sort()).toEqual(["new", "x", "x3"]);
  });
});

// fsd holds a descriptor for a bounded number of inodes and re-opens the others by name: a guest
// may know many more files than the process may open.
describe("a share with more files than descriptors", () => {
  const FILES = 3000;

  test("3000 files are made, listed, stat'ed and read back through the mount, never EMFILE", async () => {
    // A soft limit of 100 the harness raises to the hard 200: 64 inode descriptors (the floor).
    const s = await mountShare([], undefined, ["prlimit", "--nofile=100:200"]);
    try {
      const limits = readFileSync(`/proc/${s.proc.pid}/limits`, "utf8");
      expect(limits).toMatch(/Max open files\s+200\s+200/);
      const made = await run(["sh", "-c", `cd ${s.mnt} && i=0; while [ $i -lt ${FILES} ]; do echo "file $i" > f$i || exit 1; i=$((i+1)); done`]);
      expect(made.stderr).toBe("");
      expect(made.code).toBe(0);
      const found = await run(["sh", "-c", `find ${s.mnt} | wc -l`]);
      expect(found.stderr).toBe("");
      expect(Number(found.stdout.trim())).toBe(FILES + 1);
      await Bun.sleep(1100); // past the entry and attribute timeouts: every stat asks fsd again
      let good = 0;
      for (let i = 0; i < FILES; i++) {
        const path = join(s.mnt, `f${i}`);
        good += Number(statSync(path).size === `file ${i}\n`.length && readFileSync(path, "utf8") === `file ${i}\n`);
      }
      expect(good).toBe(FILES);
      expect(readdirSync(`/proc/${s.proc.pid}/fd`).length).toBeLessThan(100);
      expect(readdirSync(s.share).length).toBe(FILES);
      expect(s.proc.exitCode).toBeNull();
    } finally {
      await unmountShare(s);
    }
    expect(await new Response(s.proc.stderr).text()).toBe("");
  }, 120_000);
});

test("nothing is left mounted", async () => {
  for (const share of [...mounted]) await unmountShare(share);
  expect(readFileSync("/proc/mounts", "utf8")).not.toContain(join(tmpdir(), "fsd-test-"));
});
