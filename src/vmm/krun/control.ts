/**
 * Pausing a libkrun box: libkrun has no pause or snapshot API, so its VM process's vCPU
 * threads are stopped with SIGSTOP and let go with SIGCONT. Its disks are open in libkrun's
 * own qcow2 code, which cannot be told to switch files: a running box's disk cannot be
 * forked here (stop the box first), and its state cannot be saved (no suspend).
 */
import { BoxliteError } from "../../util/errors.ts";
import type { VmControl, VmProcess } from "../backend.ts";
import { VMM_NAME } from "../helpers.ts";

export class KrunControl implements VmControl {
  constructor(private readonly vm: VmProcess) {}

  pause(): Promise<void> {
    this.signal("SIGSTOP");
    return Promise.resolve();
  }

  resume(): Promise<void> {
    this.signal("SIGCONT");
    return Promise.resolve();
  }

  switchDisk(): Promise<void> {
    return Promise.reject(
      new BoxliteError("unsupported", "libkrun cannot switch a running VM to a new disk file: stop the box first, then snapshot or clone it"),
    );
  }

  saveRefusal(): string {
    return "libkrun has no snapshot API: a krun box cannot be suspended (stop it, or run it under QEMU: --vmm qemu)";
  }

  saveState(): Promise<never> {
    return Promise.reject(new BoxliteError("unsupported", this.saveRefusal()));
  }

  close(): void {}

  private signal(signal: "SIGSTOP" | "SIGCONT"): void {
    const vmm = this.vm.members.find((member) => member.name === VMM_NAME);
    if (!vmm) throw new BoxliteError("vmm_failed", "the box's VM process is not known to its watchdog");
    process.kill(vmm.pid, signal);
  }
}
