/**
 * Volumes end to end on real VMs (QEMU, with fsd serving the shares): a host directory
 * read-write and read-only, a single host file, an anonymous and a named volume, all in one
 * box; what a local disk does, seen from both sides; every way out of a share root in the
 * box tries; the owner map for a box user other than the host's; a restart; bad input.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SHARES_TAG } from "../../src/vmm/qemu/args.ts";
import { runCli } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";

const temp = new TempDirs();
const box = "vols";
let work: string;
let share: string;
let readOnly: string;
let file: string;
let outside: string;
let named: string;

async function inBox(script: string, name = box): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(["exec", name, "--", "sh", "-c", script]);
}

async function mounts(name: string): Promise<Array<{ Type: string; Name?: string; Source: string; Destination: string; RW: boolean }>> {
  return JSON.parse((await runCli(["inspect", name])).stdout)[0].Mounts;
}

beforeAll(async () => {
  work = temp.make("boxlite-volumes-");
  share = join(work, "share");
  readOnly = join(work, "ro");
  outside = join(work, "outside");
  for (const dir of [share, readOnly, outside]) mkdirSync(dir);
  writeFileSync(join(readOnly, "kept.txt"), "read only\n");
  writeFileSync(join(outside, "secret.txt"), "outside the share\n");
  // A host symlink inside the share that points out of it: never followed out.
  symlinkSync(join(outside, "secret.txt"), join(share, "host-link"));
  // A single file whose sibling must stay hidden.
  mkdirSync(join(work, "etc"));
  file = join(work, "etc", "app.conf");
  writeFileSync(file, "setting=1\n");
  writeFileSync(join(work, "etc", "sibling.txt"), "a sibling\n");
  const volume = await runCli(["volume", "create", "--name", "box-data"]);
  expect(volume.code).toBe(0);
  named = JSON.parse((await runCli(["volume", "inspect", "box-data"])).stdout)[0].id;
  // SYS_ADMIN (not in docker's default set): root in the box then tries to mount and remount the
  // shares itself, and the volumes' walls must hold even so.
  const started = await runCli([
    "run",
    "-d",
    "--cap-add",
    "SYS_ADMIN",
    "--name",
    box,
    "-v",
    `${share}:/work`,
    "-v",
    `${readOnly}:/ro:ro`,
    "-v",
    `${file}:/etc/app.conf`,
    "-v",
    "box-data:/named",
    "-v",
    "/anon",
    "--",
    "sleep",
    "100000",
  ]);
  expect(started.stderr).toBe("");
  expect(started.code).toBe(0);
});

afterAll(async () => {
  await runCli(["rm", "-f", box]);
  temp.removeAll();
});

describe("a host directory, read-write", () => {
  test("what the box writes is on the host at once, and what the host writes is in the box", async () => {
    const wrote = await inBox("echo from-box > /work/a.txt && cat /work/a.txt");
    expect(wrote.code).toBe(0);
    expect(readFileSync(join(share, "a.txt"), "utf8")).toBe("from-box\n");
    writeFileSync(join(share, "b.txt"), "from-host\n");
    expect((await inBox("cat /work/b.txt")).stdout).toBe("from-host\n");
    writeFileSync(join(share, "b.txt"), "from-host, longer now\n");
    expect((await inBox("cat /work/b.txt")).stdout).toBe("from-host, longer now\n");
  });

  test("modes, symlinks, hard links, renames, mtime, O_APPEND and fsync behave as on a local disk", async () => {
    const result = await inBox(
      [
        "cd /work",
        "echo one > f && chmod 640 f && stat -c %a f",
        "ln -s f link && readlink link",
        "ln f hard && stat -c %h f",
        "echo two >> f && echo three >> hard",
        "mkdir -p d/e && mv f d/e/g && mv d moved",
        "touch -d '2001-02-03 04:05:06' moved/e/g",
        "sync",
        "cat moved/e/g",
      ].join(" && "),
    );
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("640\nf\n2\none\ntwo\nthree\n");
    const moved = statSync(join(share, "moved", "e", "g"));
    expect(moved.mode & 0o777).toBe(0o640);
    expect(moved.ino).toBe(statSync(join(share, "hard")).ino);
    expect(moved.mtime.toISOString().slice(0, 4)).toBe("2001");
    expect(lstatSync(join(share, "link")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(share, "hard"), "utf8")).toBe("one\ntwo\nthree\n");
  });

  test("files the box makes and removes hold no descriptor on the host once removed", async () => {
    const id = (JSON.parse((await runCli(["inspect", box])).stdout) as Array<{ Id: string }>)[0]?.Id ?? "none";
    // fsd's argv names its socket, fs.sock in the box's runtime directory.
    const pid = Bun.spawnSync(["pgrep", "-f", `^[^ ]*/fsd-[0-9a-f]+ --socket [^ ]*${id}/fs.sock`], { stdout: "pipe" })
      .stdout.toString()
      .trim();
    expect(pid).toMatch(/^\d+$/);
    const open = () => readdirSync(`/proc/${pid}/fd`).length;
    const before = open();
    const made = await inBox("mkdir /work/many && cd /work/many && i=0; while [ $i -lt 2000 ]; do echo $i > f$i; i=$((i+1)); done");
    expect(made.code).toBe(0);
    expect(open()).toBeGreaterThan(before + 1000);
    expect((await inBox("rm -rf /work/many")).code).toBe(0);
    // The guest forgets a removed file's inode at once, but sends FORGETs on their own queue,
    // after rm has returned: fsd closes the descriptors as they arrive.
    for (let waited = 0; open() >= before + 50 && waited < 5000; waited += 100) await Bun.sleep(100);
    expect(open()).toBeLessThan(before + 50);
  });

  test("a 5 GiB sparse file: its size is right on both sides and it takes almost no room", async () => {
    const result = await inBox("dd if=/dev/zero of=/work/big bs=1M seek=5119 count=1 2>/dev/null && sync && stat -c %s /work/big");
    expect(result.stdout.trim()).toBe(String(5 * 1024 ** 3));
    const stat = statSync(join(share, "big"));
    expect(stat.size).toBe(5 * 1024 ** 3);
    expect(stat.blocks * 512).toBeLessThan(16 * 1024 * 1024);
    expect((await inBox("rm /work/big")).code).toBe(0);
    expect(existsSync(join(share, "big"))).toBe(false);
  });
});

describe("nothing in the box reaches outside the share", () => {
  test("a symlink the box makes to /etc is written through in the box's own /etc, never the host's", async () => {
    const result = await inBox("ln -s /etc /work/x && echo pwned > /work/x/boxlite-escape && cat /etc/boxlite-escape");
    expect(result.stdout).toBe("pwned\n");
    expect(existsSync("/etc/boxlite-escape")).toBe(false);
    expect(lstatSync(join(share, "x")).isSymbolicLink()).toBe(true);
  });

  test("a host symlink pointing out of the share is not followed out of it", async () => {
    const result = await inBox("cat /work/host-link");
    expect(result.code).not.toBe(0);
    expect(result.stdout).not.toContain("outside the share");
  });

  test(".. at the share's root stays in the box, and a symlink swapped in during writes never lands a write on the host", async () => {
    const dots = await inBox("ls /work/../ | grep -c . ; cat /work/../outside/secret.txt");
    expect(dots.stdout).not.toContain("outside the share");
    const race = await inBox(
      "(i=0; while [ $i -lt 200 ]; do rm -rf /work/r; ln -s / /work/r; rm -f /work/r; mkdir /work/r; i=$((i+1)); done) & " +
        "j=0; while [ $j -lt 200 ]; do echo x > /work/r/boxlite-race 2>/dev/null; j=$((j+1)); done; wait; true",
    );
    expect(race.code).toBe(0);
    expect(existsSync("/boxlite-race")).toBe(false);
    expect(readdirSync(outside)).toEqual(["secret.txt"]);
  });

  test("devices made in the box never become devices on the host; a host device in the share cannot be opened", async () => {
    const made = await inBox("mknod /work/null c 1 3");
    expect(made.code).not.toBe(0);
    expect(existsSync(join(share, "null"))).toBe(false);
    // A fifo is no device: it may be made, and stays a fifo.
    expect((await inBox("mkfifo /work/fifo")).code).toBe(0);
    expect(lstatSync(join(share, "fifo")).isFIFO()).toBe(true);
    Bun.spawnSync(["mknod", join(share, "hostzero"), "c", "1", "5"]);
    expect(lstatSync(join(share, "hostzero")).isCharacterDevice()).toBe(true);
    const opened = await inBox("head -c 1 /work/hostzero | wc -c");
    expect(opened.stdout.trim()).toBe("0");
  });

  test("setuid from the box never lands on a host file", async () => {
    const result = await inBox("echo x > /work/suid && chmod 4755 /work/suid; true");
    expect(result.code).toBe(0);
    expect(statSync(join(share, "suid")).mode & 0o7000).toBe(0);
  });
});

describe("a read-only volume", () => {
  test("cannot be written, even by root, nor remounted read-write", async () => {
    const result = await inBox("cat /ro/kept.txt; echo x > /ro/new 2>&1; mount -o remount,rw /ro 2>&1; echo y > /ro/kept.txt 2>&1; rm /ro/kept.txt 2>&1; true");
    expect(result.stdout).toContain("read only\n");
    expect(result.stdout).toMatch(/Read-only file system/);
    expect(readdirSync(readOnly)).toEqual(["kept.txt"]);
    expect(readFileSync(join(readOnly, "kept.txt"), "utf8")).toBe("read only\n");
  });
});

describe("a single host file", () => {
  test("is read and written at its path, and its siblings stay hidden even from root mounting the share itself", async () => {
    expect((await inBox("cat /etc/app.conf")).stdout).toBe("setting=1\n");
    expect((await inBox("echo setting=2 > /etc/app.conf")).code).toBe(0);
    expect(readFileSync(file, "utf8")).toBe("setting=2\n");
    // Under QEMU every volume is a directory of the one device (its tag SHARES_TAG), named vol2 here.
    const share = `/mnt/share/vol2`;
    const tag = await inBox(
      `mkdir -p /mnt/share && mount -t virtiofs ${SHARES_TAG} /mnt/share && ls -a ${share}; cat ${share}/sibling.txt; touch ${share}/new`,
    );
    expect(tag.stdout).toContain("app.conf");
    expect(tag.stdout).not.toContain("sibling");
    expect(readdirSync(join(work, "etc")).sort()).toEqual(["app.conf", "sibling.txt"]);
  });
});

describe("anonymous and named volumes", () => {
  test("are directories under the home, shown by inspect, and a named one in use cannot be removed", async () => {
    expect((await inBox("echo anon > /anon/a && echo named > /named/n")).code).toBe(0);
    const shown = await mounts(box);
    const anonymous = shown.find((mount) => mount.Destination === "/anon");
    expect(anonymous?.Type).toBe("volume");
    expect(readFileSync(join(anonymous?.Source as string, "a"), "utf8")).toBe("anon\n");
    const namedMount = shown.find((mount) => mount.Destination === "/named");
    expect(namedMount).toMatchObject({ Type: "volume", Name: named });
    expect(readFileSync(join(process.env.BOXLITE_HOME as string, "volumes", "named", named, "data", "n"), "utf8")).toBe("named\n");
    const listed = JSON.parse((await runCli(["ls", "-a", "--json"])).stdout) as Array<{
      name: string;
      volumes: Array<{ guest_path: string; volume?: string }>;
    }>;
    const entry = listed.find((candidate) => candidate.name === box);
    expect(entry?.volumes.map((volume) => volume.guest_path)).toEqual(["/work", "/ro", "/etc/app.conf", "/named", "/anon"]);
    expect(entry?.volumes[3]?.volume).toBe(named);
    const removed = await runCli(["volume", "rm", "box-data"]);
    expect(removed.code).not.toBe(0);
    expect(removed.stderr).toContain("in use");
  });
});

test("a box restarted mounts its volumes again", async () => {
  expect((await runCli(["stop", box])).code).toBe(0);
  writeFileSync(join(share, "while-stopped.txt"), "still here\n");
  expect((await runCli(["start", box])).code).toBe(0);
  expect((await inBox("cat /work/while-stopped.txt /work/a.txt /named/n")).stdout).toBe("still here\nfrom-box\nnamed\n");
});

test("a box user other than the host owner owns the mount: it can write it, and its files land on the host as the host user", async () => {
  const dir = temp.make("boxlite-volumes-owner-");
  writeFileSync(join(dir, "host.txt"), "host\n");
  const result = await runCli([
    "run",
    "--rm",
    "--user",
    "1000:1000",
    "-v",
    `${dir}:/mine`,
    "--",
    "sh",
    "-c",
    "id -u; stat -c '%u:%g' /mine /mine/host.txt; echo box > /mine/box.txt && stat -c '%u:%g' /mine/box.txt",
  ]);
  expect(result.stderr).toBe("");
  expect(result.stdout).toBe("1000\n1000:1000\n1000:1000\n1000:1000\n");
  const owner = statSync(join(dir, "box.txt"));
  expect([owner.uid, owner.gid]).toEqual([process.getuid?.() ?? 0, process.getgid?.() ?? 0]);
});

describe("bad input", () => {
  test("a named volume that does not exist is refused before anything is made", async () => {
    const result = await runCli(["create", "-v", "no-such-volume:/data"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("no such volume");
  });

  test("a host directory removed after create fails the start naming it, and the box is left as it was", async () => {
    const dir = temp.make("boxlite-volumes-gone-");
    const made = await runCli(["create", "-v", `${dir}:/gone`, "--", "true"]);
    expect(made.code).toBe(0);
    const id = made.stdout.trim();
    rmSync(dir, { recursive: true });
    const started = await runCli(["start", id]);
    expect(started.code).not.toBe(0);
    expect(started.stderr).toContain(`volume ${dir}`);
    expect(started.stderr).toContain("no longer exists");
    await runCli(["rm", "-f", id]);
  });
});
