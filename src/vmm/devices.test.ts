import { expect, test } from "bun:test";
import { everyDeviceSpec, typicalSpec } from "../../test/helpers/vm-spec.ts";
import { BoxliteError } from "../util/errors.ts";
import { checkVmSpec, type VmSpec } from "./backend.ts";
import { agentSocketOf, type VmDevice } from "./devices.ts";
import type { HelperCommand } from "./helpers.ts";

function refusal(spec: VmSpec): string | undefined {
  try {
    checkVmSpec(spec);
    return undefined;
  } catch (error) {
    if (!(error instanceof BoxliteError) || error.code !== "invalid_argument") throw error;
    return error.message;
  }
}

const withDevices = (...devices: VmDevice[]): VmSpec => ({ ...typicalSpec("/h"), devices: [...typicalSpec("/h").devices, ...devices] });
const withHelpers = (...helpers: HelperCommand[]): VmSpec => ({ ...typicalSpec("/h"), helpers });
const helper: HelperCommand = { name: "net", argv: ["/usr/bin/net"], readyPath: "/h/net.sock", readyTimeoutMs: 1000 };

test("a box as the runtime builds it, and one with every kind of device, pass", () => {
  expect(refusal(typicalSpec("/h"))).toBeUndefined();
  expect(refusal({ ...everyDeviceSpec("/h"), helpers: [helper, { ...helper, name: "files" }] })).toBeUndefined();
});

test("bad devices are refused, saying which and why", () => {
  const net = { kind: "net", socketPath: "/h/n.sock", mac: "5a:94:ef:e4:0c:ee" } as const;
  const fs = { kind: "fs", tag: "data", hostPath: "/data", readOnly: false } as const;
  const cases: Array<[VmSpec, string]> = [
    [{ ...typicalSpec("/h"), devices: [{ kind: "agent", socketPath: "/h/a.sock" }] }, "VM device: a VM needs at least its system disk"],
    [withDevices({ kind: "disk", id: "rootfs", path: "/other.qcow2", format: "qcow2", readOnly: false }), "VM device: two disks have the id rootfs"],
    [withDevices({ kind: "disk", id: "Data,1", path: "/d.img", format: "raw", readOnly: false }), 'VM device: disk id "Data,1" must be 1-32 of [a-z0-9-]'],
    [withDevices({ kind: "disk", id: "data", path: "d.img", format: "raw", readOnly: false }), 'VM device: disk data must be an absolute path, not "d.img"'],
    [withDevices({ ...net, mac: "5a:94:ef:e4:0c" }), 'VM device: MAC "5a:94:ef:e4:0c" must be six hex octets like 5a:94:ef:e4:0c:ee'],
    [withDevices({ ...net, mac: "01:00:5e:00:00:01" }), "VM device: MAC 01:00:5e:00:00:01 is a multicast address; a NIC needs a unicast one"],
    [
      withDevices({ ...net, socketPath: `/${"s".repeat(120)}` }),
      `VM device: a NIC's socket /${"s".repeat(120)} is 121 bytes; a unix socket path has at most 107`,
    ],
    [withDevices({ ...fs, tag: "my share" }), 'VM device: shared directory tag "my share" must be 1-36 of [A-Za-z0-9_.-]'],
    [withDevices({ ...fs, tag: "t".repeat(37) }), `VM device: shared directory tag "${"t".repeat(37)}" must be 1-36 of [A-Za-z0-9_.-]`],
    [withDevices(fs, { ...fs, hostPath: "/data2" }), "VM device: two shared directories have the tag data"],
    [withDevices({ ...fs, onlyName: ".." }), 'VM device: shared directory data: ".." is not a file name fsd can share'],
    [withDevices({ ...fs, hostPath: "relative" }), 'VM device: shared directory data must be an absolute path, not "relative"'],
    [withDevices({ kind: "agent", socketPath: "/h/b.sock" }), "VM device: a VM has at most one agent channel"],
  ];
  for (const [spec, message] of cases) expect(refusal(spec)).toBe(message);
});

test("bad helpers are refused, saying which and why", () => {
  const cases: Array<[VmSpec, string]> = [
    [withHelpers({ ...helper, name: "vmm" }), 'helper "vmm": a name is 1-32 of [a-z0-9-], starting with a letter, and not "vmm"'],
    [withHelpers({ ...helper, name: "my net" }), 'helper "my net": a name is 1-32 of [a-z0-9-], starting with a letter, and not "vmm"'],
    [withHelpers(helper, helper), 'helper "net": two helpers have this name'],
    [withHelpers({ ...helper, argv: [] }), 'helper "net": no program to run'],
    [withHelpers({ ...helper, readyPath: "net.sock" }), 'helper "net": its ready path must be absolute, not "net.sock"'],
    [withHelpers({ ...helper, readyTimeoutMs: 0 }), 'helper "net": its ready timeout must be 1 to 600000 ms, not 0'],
    [withHelpers(...Array.from({ length: 17 }, (_, index) => ({ ...helper, name: `h${index}` }))), "a box has at most 16 helpers, not 17"],
  ];
  for (const [spec, message] of cases) expect(refusal(spec)).toBe(message);
});

test("a box's VM must have an agent channel: its socket is how boxlite knows the VMM is up", () => {
  expect(agentSocketOf(typicalSpec("/h").devices)).toBe("/h/sock/b1.agent.sock");
  expect(() => agentSocketOf(typicalSpec("/h").devices.slice(0, 2))).toThrow("VM device: a box's VM needs an agent channel");
});
