import { expect, test } from "bun:test";
import type { ImageConfig } from "../image/image.ts";
import { checkEnvEntry, checkResources, processSpec } from "./options.ts";

const IMAGE: ImageConfig = { env: ["PATH=/bin", "A=image"], entrypoint: [], cmd: ["sh"], workingDir: "/", user: "" };

test("resources default to 1 cpu and 512 MiB and refuse values out of range", () => {
  expect(checkResources({})).toEqual({ cpus: 1, memoryMib: 512 });
  expect(checkResources({ cpus: 255, memoryMib: 128 })).toEqual({ cpus: 255, memoryMib: 128 });
  expect(() => checkResources({ cpus: 0 })).toThrow(/--cpus 0 is out of range; use a whole number from 1 to 255/);
  expect(() => checkResources({ cpus: 256 })).toThrow(/--cpus/);
  expect(() => checkResources({ memoryMib: 127 })).toThrow(/--memory \(MiB\) 127 is out of range/);
  expect(() => checkResources({ memoryMib: 65537 })).toThrow(/--memory/);
});

test("malformed environment entries are refused with the entry in the message", () => {
  expect(checkEnvEntry("A=1")).toBe("A=1");
  expect(checkEnvEntry("EMPTY=")).toBe("EMPTY=");
  expect(() => checkEnvEntry("NOEQUALS")).toThrow(/invalid environment entry "NOEQUALS"/);
  expect(() => checkEnvEntry("=1")).toThrow(/invalid environment entry/);
  expect(() => checkEnvEntry("1A=x")).toThrow(/invalid environment entry/);
});

test("user env overrides the image's, keeping the image's order", () => {
  const spec = processSpec({ env: ["A=user", "B=2"] }, IMAGE, "host1");
  expect(spec.env).toEqual(["HOSTNAME=host1", "PATH=/bin", "A=user", "B=2"]);
});

test("a command replaces CMD but keeps ENTRYPOINT, as docker does", () => {
  const image = { ...IMAGE, entrypoint: ["/entry"], cmd: ["default"] };
  expect(processSpec({}, image, "h").argv).toEqual(["/entry", "default"]);
  expect(processSpec({ command: ["x", "y"] }, image, "h").argv).toEqual(["/entry", "x", "y"]);
});

test("a tty adds TERM, and -w and -u are checked", () => {
  expect(processSpec({ tty: { rows: 1, cols: 1 } }, IMAGE, "h").env).toContain("TERM=xterm");
  expect(() => processSpec({ workdir: "relative" }, IMAGE, "h")).toThrow(/must be an absolute path/);
  expect(() => processSpec({ user: "a b" }, IMAGE, "h")).toThrow(/invalid user "a b"/);
  expect(processSpec({ user: "1000:1000" }, IMAGE, "h").user).toBe("1000:1000");
});

test("an image with nothing to run and no command is an error", () => {
  expect(() => processSpec({}, { ...IMAGE, cmd: [] }, "h")).toThrow(/no command to run/);
});
