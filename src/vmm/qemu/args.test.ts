import { expect, test } from "bun:test";
import { machineArgs } from "./args.ts";
import { hostTscKhz } from "./host-tsc.ts";

const machine = { kernelPath: "/k,1.elf", systemDisk: "/s.ext4", consolePath: "/c.log", memoryMib: 256, cpus: 2 };
const append = (args: string[]) => args[args.indexOf("-append") + 1] as string;

test("under TCG a one-vCPU guest is told the host's TSC rate, so its clock is not 4 ms jiffies", () => {
  const khz = hostTscKhz();
  const args = append(machineArgs({ ...machine, cpus: 1, accelerator: "tcg" }, ["boxlite.probe=1"]));
  if (khz) expect(args).toContain(`tsc_early_khz=${khz}`);
  else expect(args).not.toContain("tsc_early_khz");
  expect(args.endsWith("boxlite.probe=1")).toBe(true);
});

test("an SMP guest under TCG keeps the jiffies clock (no cross-vCPU code patching for the TSC)", () => {
  expect(append(machineArgs({ ...machine, cpus: 2, accelerator: "tcg" }, []))).not.toContain("tsc_early_khz");
});

test("with KVM the guest keeps its own clock and the host CPU model", () => {
  const args = machineArgs({ ...machine, accelerator: "kvm" }, []);
  expect(append(args)).not.toContain("tsc_early_khz");
  expect(args.slice(0, 4)).toEqual(["-accel", "kvm", "-cpu", "host"]);
});

test("commas in paths are doubled, as QEMU option values require", () => {
  const args = machineArgs({ ...machine, accelerator: "tcg" }, []);
  expect(args).toContain("/k,1.elf"); // -kernel takes a plain path
  expect(args.some((arg) => arg.startsWith("file=/s.ext4,if=none"))).toBe(true);
  expect(machineArgs({ ...machine, systemDisk: "/a,b.ext4", accelerator: "tcg" }, []).some((arg) => arg.startsWith("file=/a,,b.ext4,"))).toBe(true);
});
