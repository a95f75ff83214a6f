/** The krun backend's pause is SIGSTOP/SIGCONT of its VM process; it cannot switch a running VM's disk, nor save its state. */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { waitFor } from "../../../test/helpers/cli.ts";
import type { VmProcess } from "../backend.ts";
import { KrunControl } from "./control.ts";

function stateOf(pid: number): string {
  // Field 3 of /proc/<pid>/stat, after the command name in parentheses.
  return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ")[0] ?? "?";
}

test("pause stops the VM process and resume lets it go on; switching its disk and saving its state are refused as unsupported", async () => {
  const proc = Bun.spawn(["sleep", "60"]);
  const vm = { pid: proc.pid, members: [{ name: "vmm", pid: proc.pid, startTime: "0" }] } as unknown as VmProcess;
  const control = new KrunControl(vm);
  try {
    await control.pause();
    await waitFor(() => stateOf(proc.pid) === "T", 5_000, "the process to stop");
    await control.resume();
    await waitFor(() => stateOf(proc.pid) === "S", 5_000, "the process to run again");
    const refused = await control.switchDisk().catch((error: unknown) => error);
    expect(String(refused)).toContain("stop the box first");
    expect((refused as { code: string }).code).toBe("unsupported");
    const suspend = await control.saveState().catch((error: unknown) => error);
    expect(String(suspend)).toContain("libkrun has no snapshot API");
    expect((suspend as { code: string }).code).toBe("unsupported");
  } finally {
    proc.kill("SIGKILL");
  }
});
