import { expect, test } from "bun:test";
import type { ImageConfig } from "../image/image.ts";
import { checkBoxOptions } from "../model/box-options.ts";
import { hasUserCommand, processSpec, withDefaults } from "./options.ts";

const IMAGE: ImageConfig = { env: ["PATH=/bin", "A=image"], entrypoint: [], cmd: ["sh"], workingDir: "/", user: "" };

test("resources default to 1 cpu and 512 MiB and refuse values out of range", () => {
  expect(withDefaults({}, true)).toMatchObject({ cpus: 1, memoryMib: 512, detach: true, autoRemove: false, tty: false, env: {} });
  expect(() => checkBoxOptions({ cpus: 255, memoryMib: 128 })).not.toThrow();
  expect(() => checkBoxOptions({ cpus: 0 })).toThrow(/--cpus 0 is out of range; use a whole number from 1 to 255/);
  expect(() => checkBoxOptions({ cpus: 256 })).toThrow(/--cpus/);
  expect(() => checkBoxOptions({ memoryMib: 127 })).toThrow(/--memory \(MiB\) 127 is out of range/);
  expect(() => checkBoxOptions({ memoryMib: 65537 })).toThrow(/--memory/);
});

test("a new box has the network unless it asks for none", () => {
  expect(withDefaults({}, true).network).toEqual({ mode: "enabled", allowNet: [] });
  expect(withDefaults({ network: { mode: "disabled", allowNet: [] } }, true).network).toEqual({ mode: "disabled", allowNet: [] });
  expect(withDefaults({ network: { mode: "enabled", allowNet: ["a.example"] } }, true).network).toEqual({ mode: "enabled", allowNet: ["a.example"] });
});

test("malformed names, users, directories and env are refused with the value in the message", () => {
  expect(() => checkBoxOptions({ name: "-x" })).toThrow(/invalid box name "-x"/);
  expect(() => checkBoxOptions({ env: { "1A": "x" } })).toThrow(/invalid environment entry "1A=x"/);
  expect(() => checkBoxOptions({ image: "a", rootfsPath: "/b" })).toThrow(/either an image or a rootfs path/);
  expect(() => checkBoxOptions({ network: { mode: "disabled", allowNet: ["example.com"] } })).toThrow(/needs the network/);
});

test("user env overrides the image's, keeping the image's order; an exec's overrides both", () => {
  const spec = processSpec({ env: { A: "user", B: "2" } }, IMAGE, "host1");
  expect(spec.env).toEqual(["HOSTNAME=host1", "PATH=/bin", "A=user", "B=2"]);
  expect(processSpec({ env: { A: "user" } }, IMAGE, "h", { command: ["x"], env: { A: "exec" } }).env).toContain("A=exec");
});

test("a command replaces CMD but keeps ENTRYPOINT, as docker does; an exec runs its own command", () => {
  const image = { ...IMAGE, entrypoint: ["/entry"], cmd: ["default"] };
  expect(processSpec({}, image, "h").argv).toEqual(["/entry", "default"]);
  expect(processSpec({ cmd: ["x", "y"] }, image, "h").argv).toEqual(["/entry", "x", "y"]);
  expect(processSpec({ entrypoint: ["/other"] }, image, "h").argv).toEqual(["/other"]);
  expect(processSpec({ cmd: ["x"] }, image, "h", { command: ["ls"] }).argv).toEqual(["ls"]);
});

test("a tty adds TERM, and working directory and user are checked", () => {
  expect(processSpec({ tty: true }, IMAGE, "h").env).toContain("TERM=xterm");
  expect(processSpec({ tty: true }, IMAGE, "h", { command: ["ls"], tty: false }).env).not.toContain("TERM=xterm");
  expect(() => processSpec({ workingDir: "relative" }, IMAGE, "h")).toThrow(/must be an absolute path/);
  expect(() => processSpec({ user: "a b" }, IMAGE, "h")).toThrow(/invalid user "a b"/);
  expect(processSpec({ user: "1000:1000" }, IMAGE, "h").user).toBe("1000:1000");
});

test("an image with nothing to run and no command is an error", () => {
  expect(() => processSpec({}, { ...IMAGE, cmd: [] }, "h")).toThrow(/no command to run/);
});

test("a command or an entrypoint the user gave is the user's; the image's default is not", () => {
  expect(hasUserCommand({})).toBe(false);
  expect(hasUserCommand({ cmd: ["sh"] })).toBe(true);
  expect(hasUserCommand({ entrypoint: [] })).toBe(true);
});
