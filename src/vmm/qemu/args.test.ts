import { expect, test } from "bun:test";
import { everyDeviceSpec, typicalSpec } from "../../../test/helpers/vm-spec.ts";
import { systemDisk } from "../devices.ts";
import { boxArgs, qemuArgs } from "./args.ts";
import { hostTscKhz } from "./host-tsc.ts";

const machine = { kernelPath: "/k,1.elf", consolePath: "/c.log", memoryMib: 256, cpus: 2 };
const disks = [systemDisk("/s.ext4")];
const append = (args: string[]) => args[args.indexOf("-append") + 1] as string;
/** Each option with its value: ["-drive", "file=…"] → "-drive file=…". */
const pairs = (args: string[]) => args.flatMap((arg, index) => (arg.startsWith("-") && index + 1 < args.length ? [`${arg} ${args[index + 1]}`] : []));

test("under TCG a one-vCPU guest is told the host's TSC rate, so its clock is not 4 ms jiffies", () => {
  const khz = hostTscKhz();
  const args = append(qemuArgs({ ...machine, cpus: 1, accelerator: "tcg" }, disks, ["boxlite.probe=1"]));
  if (khz) expect(args).toContain(`tsc_early_khz=${khz}`);
  else expect(args).not.toContain("tsc_early_khz");
  expect(args.endsWith("boxlite.probe=1")).toBe(true);
});

test("an SMP guest under TCG keeps the jiffies clock and runs its vCPUs in one TCG thread (cross-vCPU code patching is safe there)", () => {
  const smp = qemuArgs({ ...machine, cpus: 2, accelerator: "tcg" }, disks, []);
  expect(append(smp)).not.toContain("tsc_early_khz");
  expect(smp.slice(0, 2)).toEqual(["-accel", "tcg,thread=single"]);
  expect(qemuArgs({ ...machine, cpus: 1, accelerator: "tcg" }, disks, []).slice(0, 2)).toEqual(["-accel", "tcg"]);
});

test("with KVM the guest keeps its own clock and the host CPU model", () => {
  const args = qemuArgs({ ...machine, accelerator: "kvm" }, disks, []);
  expect(append(args)).not.toContain("tsc_early_khz");
  expect(args.slice(0, 4)).toEqual(["-accel", "kvm", "-cpu", "host"]);
});

test("commas in paths are doubled, as QEMU option values require", () => {
  const args = qemuArgs({ ...machine, accelerator: "tcg" }, [systemDisk("/a,b.ext4")], []);
  expect(args).toContain("/k,1.elf"); // -kernel takes a plain path
  expect(pairs(args)).toContain("-drive file=/a,,b.ext4,if=none,id=disk-system,format=raw,readonly=on");
  const net = qemuArgs({ ...machine, accelerator: "tcg" }, [...disks, { kind: "net", socketPath: "/s,n.sock", mac: "02:00:00:00:00:01" }], []);
  expect(pairs(net)).toContain("-netdev stream,id=net0,server=off,addr.type=unix,addr.path=/s,,n.sock");
});

test("a box: the system disk read-only raw, its rootfs qcow2 (pinned, with discard), the agent's port and its exec port, in the spec's order", () => {
  const spec = typicalSpec("/h");
  const devices = pairs(boxArgs(spec, "tcg")).filter((pair) => /^-(drive|device|chardev|netdev|object|machine) /.test(pair));
  expect(devices).toEqual([
    "-device virtio-serial-device",
    "-chardev file,path=/h/boxes/b1/logs/console.log,append=on,id=console",
    "-device virtconsole,chardev=console",
    "-drive file=/h/runtime/system.ext4,if=none,id=disk-system,format=raw,readonly=on",
    "-device virtio-blk-device,drive=disk-system",
    "-drive file=/h/boxes/b1/disks/disk.qcow2,if=none,id=disk-rootfs,format=qcow2,discard=unmap",
    "-device virtio-blk-device,drive=disk-rootfs",
    "-chardev socket,path=/h/sock/b1.agent.sock,server=on,wait=off,id=agent",
    "-device virtserialport,chardev=agent,name=agent0",
    "-chardev socket,path=/h/sock/b1.exec.sock,server=on,wait=off,id=exec",
    "-device virtserialport,chardev=exec,name=exec0",
  ]);
  // Without an exec port's socket the agent's port is alone.
  const alone = {
    ...spec,
    devices: spec.devices.map((device) => (device.kind === "agent" ? { kind: "agent" as const, socketPath: device.socketPath } : device)),
  };
  expect(boxArgs(alone, "tcg").filter((arg) => arg.includes("exec"))).toEqual([]);
  // The box's settings go in CONFIG: the command line ends with what the user added.
  expect(append(boxArgs(spec, "tcg"))).toEndWith("mitigations=off rcupdate.rcu_expedited=1 loglevel=4");
});

test("NICs are stream clients of their sockets with their MACs, numbered in order; shares are one vhost-user-fs device on shared RAM, fsd's socket beside the agent's", () => {
  const args = boxArgs(everyDeviceSpec("/h"), "tcg");
  const devices = pairs(args).filter((pair) => /^-(device|chardev|netdev|object|machine) /.test(pair) && !/console|agent|exec|blk|serial-device/.test(pair));
  expect(devices).toEqual([
    "-object memory-backend-memfd,id=ram,size=512M,share=on",
    "-machine memory-backend=ram",
    "-netdev stream,id=net0,server=off,addr.type=unix,addr.path=/h/sock/b1.net.sock",
    "-device virtio-net-device,netdev=net0,mac=5a:94:ef:e4:0c:ee",
    "-netdev stream,id=net1,server=off,addr.type=unix,addr.path=/h/sock/b1.net2.sock",
    "-device virtio-net-device,netdev=net1,mac=02:00:00:00:00:01",
    "-chardev socket,id=shares,path=/h/sock/fs.sock",
    "-device vhost-user-fs-device,chardev=shares,tag=shares",
  ]);
  // However many shares: still one device (microvm has 8 virtio slots).
  const spec = everyDeviceSpec("/h");
  const many = {
    ...spec,
    devices: [...spec.devices, ...[1, 2, 3, 4, 5, 6].map((n) => ({ kind: "fs", tag: `vol${n}`, hostPath: `/v${n}`, readOnly: false }) as const)],
  };
  expect(boxArgs(many, "tcg").filter((arg) => arg.startsWith("vhost-user-fs-device"))).toEqual(["vhost-user-fs-device,chardev=shares,tag=shares"]);
  // The memory backend's size is the machine's: QEMU refuses a mismatch.
  expect(args[args.indexOf("-m") + 1]).toBe("512");
});

test("without a shared directory guest RAM stays QEMU's default (no memfd)", () => {
  expect(boxArgs(typicalSpec("/h"), "tcg").join(" ")).not.toContain("memory-backend");
});
