/**
 * boxlite's seccomp filter for the krun VM process: its system call numbers are the
 * kernel's (asm/unistd_64.h), and installed in a real process it refuses what it lists —
 * running a program, a new namespace — while threads and file I/O go on.
 */
import { expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DENIED_SYSCALLS, encodeProgram, filterProgram, SYS_CLONE, SYS_CLONE3 } from "./seccomp.ts";

test("every number in the deny list is the x86_64 kernel's for that name", () => {
  // From linux-libc-dev, which the C toolchain of scripts/setup.sh brings.
  const header = readFileSync("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "utf8");
  const numbers = new Map([...header.matchAll(/^#define __NR_(\w+) (\d+)$/gm)].map(([, name, nr]) => [name, Number(nr)]));
  for (const [name, nr] of Object.entries({ ...DENIED_SYSCALLS, clone: SYS_CLONE, clone3: SYS_CLONE3 }))
    expect(`${name} ${numbers.get(name)}`).toBe(`${name} ${nr}`);
});

test("the program fits the kernel's limit and ends by allowing what it does not list", () => {
  const program = filterProgram();
  expect(program.length).toBeLessThan(4096);
  expect(program.at(-1)).toEqual([0x06, 0, 0, 0x7fff0000]);
  expect(encodeProgram(program).length).toBe(program.length * 8);
});

test("installed, it refuses a new program and a new namespace; threads and files work", () => {
  const script = `
    import { dlopen, FFIType } from "bun:ffi";
    import { installFilter } from ${JSON.stringify(join(import.meta.dir, "seccomp.ts"))};
    installFilter();
    const out = [];
    try { Bun.spawnSync(["/bin/true"]); out.push("spawned"); } catch (error) { out.push(String(error).includes("EPERM") ? "spawn EPERM" : String(error)); }
    const libc = dlopen("libc.so.6", { unshare: { args: [FFIType.i32], returns: FFIType.i32 } });
    out.push(libc.symbols.unshare(0x20000) === -1 ? "unshare refused" : "unshared");
    await Bun.write(${JSON.stringify(`/tmp/boxlite-seccomp-test-${process.pid}`)}, "x");
    out.push("wrote");
    const worker = new Worker(URL.createObjectURL(new Blob(["postMessage(1)"])));
    await new Promise((resolve) => (worker.onmessage = resolve));
    worker.terminate();
    out.push("thread ran");
    console.log(out.join(","));
  `;
  const run = Bun.spawnSync([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  rmSync(`/tmp/boxlite-seccomp-test-${process.pid}`, { force: true });
  expect(run.stderr.toString()).toBe("");
  expect(run.stdout.toString().trim()).toBe("spawn EPERM,unshare refused,wrote,thread ran");
});
