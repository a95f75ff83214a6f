/**
 * The watchdog's own jail (host/jail-enter.c), run directly: a jailed member cloned into its
 * namespaces builds its view, drops to the uid and capabilities it was given, waits at its gate
 * and runs its program; a step that fails, or a bad option, says which and runs nothing. What a
 * box's QEMU sees through it on a real VM: test/e2e/jail.test.ts.
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { TempDirs } from "../../../test/helpers/temp.ts";
import { loadConfig } from "../../config/config.ts";
import { prepareWatchdog } from "../watchdog.ts";

const temp = new TempDirs();
afterAll(() => temp.removeAll());
const watchdog = await prepareWatchdog(loadConfig());

/** What every view binds (as view.ts has it). */
const BASE = ["--setenv", "PATH=/usr/bin", "--ro", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64"];

/** Runs `script` as the watchdog's one jailed member (its lifeline held open until it exits); its stderr is the watchdog's. */
async function jailed(options: string[], script: string, as: string[] = [], program = watchdog): Promise<{ code: number; stderr: string }> {
  const proc = Bun.spawn([...as, program, "--jailed", "3", "--", ...options, "--", "/usr/bin/sh", "-c", script], {
    stdio: ["ignore", "ignore", "pipe", "pipe"],
  });
  const code = await proc.exited;
  return { code, stderr: await new Response(proc.stderr).text() };
}

test("a member sees only its view, as pid 1 of its namespaces, with the uid and groups it was given, no capability, no environment but its own, and no way to make a user namespace", async () => {
  const dir = temp.make("jail-enter-");
  chmodSync(dir, 0o777);
  const script = [
    "exec >&2",
    "echo uid=$(id -u) gid=$(id -g) groups=$(id -G) pid=$$",
    "ls / | tr '\\n' ' '; echo",
    "grep -E '^(CapEff|CapPrm|CapInh|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status | tr -s '\\t' ' '",
    "echo interfaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ')",
    "echo env=$(env | cut -d= -f1 | sort | tr '\\n' ' ')",
    `touch ${dir}/made && echo made`,
    "touch /usr/x 2>/dev/null || echo usr-read-only",
    "ls /root /etc/shadow 2>/dev/null || echo no-host-files",
    "unshare -U true 2>/dev/null && echo nested || echo no-nested",
  ].join("; ");
  const run = await jailed(["--uid", "1600000009", "1600000000", "4242", ...BASE, "--setenv", "KEPT=1", "--rw", dir], script);
  expect(run.code).toBe(0);
  const lines = run.stderr.trim().split("\n");
  // 4242 is kept but, in the member's own user namespace, not mapped: it shows as the overflow gid.
  expect(lines[0]).toBe("uid=1600000009 gid=1600000000 groups=1600000000 65534 pid=1");
  expect(lines[1]?.split(" ").filter(Boolean).sort()).toEqual(["bin", "dev", "lib", "lib64", "proc", "tmp", "usr"]);
  for (const set of ["CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"]) expect(lines).toContain(`${set}: 0000000000000000`);
  expect(lines).toContain("NoNewPrivs: 1");
  expect(lines).toContain("interfaces=lo");
  expect(lines).toContain("env=KEPT PATH PWD");
  expect(lines.slice(-4)).toEqual(["made", "usr-read-only", "no-host-files", "no-nested"]);
  expect(existsSync(join(dir, "made"))).toBe(true);
});

test("a root member kept with capabilities keeps those and no others, and --share-net keeps the host's network", async () => {
  const run = await jailed(
    ["--caps", "0,1", "--share-net", ...BASE],
    "exec >&2; grep -E '^(CapEff|CapBnd):' /proc/self/status | tr -s '\\t' ' '; id -u; tail -n +3 /proc/net/dev | wc -l",
  );
  expect(run.code).toBe(0);
  const lines = run.stderr.trim().split("\n");
  expect(lines.slice(0, 3)).toEqual(["CapEff: 0000000000000003", "CapBnd: 0000000000000003", "0"]);
  // The host's interfaces (loopback and at least one more), not a new namespace's lone lo.
  expect(Number(lines[3])).toBeGreaterThan(1);
});

test("not root: a user namespace as the user itself, in which no further user namespace can be made", async () => {
  // A copy that user can run: the runtime directory may sit where only root can enter.
  const copy = join(temp.make("jail-watchdog-"), "vmm-watch");
  copyFileSync(watchdog, copy);
  chmodSync(dirname(copy), 0o755);
  chmodSync(copy, 0o755);
  const run = await jailed(
    ["--userns", ...BASE],
    "exec >&2; id -u; grep -E '^CapEff:' /proc/self/status | tr -s '\\t' ' '; unshare -U true 2>/dev/null && echo nested || echo no-nested",
    ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"],
    copy,
  );
  expect(run.stderr.trim().split("\n")).toEqual(["65534", "CapEff: 0000000000000000", "no-nested"]);
  expect(run.code).toBe(0);
});

test("a step that fails names itself and runs nothing; a bad option is refused before anything starts", async () => {
  const missing = await jailed([...BASE, "--ro", "/nonexistent/boxlite-view"], "echo ran >&2");
  expect(missing.code).toBe(125);
  expect(missing.stderr).toContain("vmm-watch: jail: finding /nonexistent/boxlite-view: No such file or directory");
  expect(missing.stderr).not.toContain("ran");
  const tried = await jailed([...BASE, "--ro-try", "/nonexistent/boxlite-view"], "echo ran >&2");
  expect(tried).toEqual({ code: 0, stderr: "ran\n" });
  const bad = await jailed(["--uid", "x", "0", "-", ...BASE], "echo ran >&2");
  expect(bad.code).toBe(125);
  expect(bad.stderr).toBe("vmm-watch: jail: bad --uid: x\n");
  const unreadable = temp.make("jail-private-");
  const program = join(unreadable, "program");
  await Bun.write(program, "#!/bin/sh\necho ran >&2\n");
  chmodSync(program, 0o700);
  const proc = Bun.spawn([watchdog, "--jailed", "3", "--", "--uid", "1600000009", "1600000000", "-", ...BASE, "--ro", program, "--", program], {
    stdio: ["ignore", "ignore", "pipe", "pipe"],
  });
  expect(await proc.exited).toBe(125);
  expect(await new Response(proc.stderr).text()).toBe(`vmm-watch: jail: running ${program}: Permission denied\n`);
});
