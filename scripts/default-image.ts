/**
 * Builds the default image embedded in the binary: a busybox root filesystem from
 * Debian's busybox-static, packed as a reproducible tar.gz (owners 0, sorted, mtime 0).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const BUSYBOX = "/bin/busybox";

const FILES: Record<string, string> = {
  "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
  "etc/group": "root:x:0:\nnogroup:x:65534:\n",
  "etc/shadow": "root:*:0:0:99999:7:::\nnobody:*:0:0:99999:7:::\n",
  "etc/os-release": 'NAME="boxlite default"\nID=boxlite\nPRETTY_NAME="boxlite default image (busybox)"\n',
  "etc/hostname": "boxlite\n",
  "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
};

export async function buildDefaultImage(outPath: string): Promise<void> {
  const check = Bun.spawnSync([BUSYBOX, "--list-full"], { stdout: "pipe", stderr: "pipe" });
  if (check.exitCode !== 0) throw new Error(`${BUSYBOX} not usable; install busybox-static (apt-get install busybox-static)`);
  const root = mkdtempSync(join(tmpdir(), "boxlite-default-image-"));
  try {
    for (const dir of ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "home", "proc", "sys", "dev", "run", "var/tmp", "tmp"]) {
      mkdirSync(join(root, dir), { recursive: true });
    }
    chmodSync(root, 0o755); // mkdtemp made it 0700; it becomes the image's /
    chmodSync(join(root, "tmp"), 0o1777);
    chmodSync(join(root, "var/tmp"), 0o1777);
    chmodSync(join(root, "root"), 0o700);
    await Bun.write(join(root, "bin/busybox"), Bun.file(BUSYBOX));
    chmodSync(join(root, "bin/busybox"), 0o755);
    for (const applet of check.stdout.toString().split("\n").filter(Boolean)) {
      if (applet === "bin/busybox") continue;
      mkdirSync(dirname(join(root, applet)), { recursive: true });
      symlinkSync("/bin/busybox", join(root, applet));
    }
    for (const [path, text] of Object.entries(FILES)) writeFileSync(join(root, path), text);
    chmodSync(join(root, "etc/shadow"), 0o640);
    mkdirSync(dirname(outPath), { recursive: true });
    const tar = Bun.spawnSync(["tar", "-C", root, "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", "-", "."], {
      stdout: "pipe",
      stderr: "pipe",
    });
    if (tar.exitCode !== 0) throw new Error(`tar failed: ${tar.stderr.toString()}`);
    const tarball = Bun.gzipSync(new Uint8Array(tar.stdout), { level: 9 });
    await Bun.write(outPath, tarball);
    // Its digest names the image's cached base disk: computed here once, not by every process that runs a box.
    await Bun.write(`${outPath}.sha256`, `${new Bun.CryptoHasher("sha256").update(tarball).digest("hex")}\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
