import { expect, test } from "bun:test";
import { splitAtOperand } from "./args.ts";

const SPEC = {
  interactive: { type: "boolean", short: "i" },
  tty: { type: "boolean", short: "t" },
  env: { type: "string", short: "e", multiple: true },
  workdir: { type: "string", short: "w" },
} as const;

test("everything after -- is the command when no image is given", () => {
  expect(splitAtOperand(SPEC, ["-i", "--", "echo", "-n", "hi"])).toEqual({ own: ["-i"], rest: ["echo", "-n", "hi"] });
});

test("options end at the image, and the command keeps its own dashes", () => {
  expect(splitAtOperand(SPEC, ["-e", "A=1", "alpine", "sh", "-c", "echo"])).toEqual({
    own: ["-e", "A=1"],
    operand: "alpine",
    rest: ["sh", "-c", "echo"],
  });
});

test("a -- after the image is dropped", () => {
  expect(splitAtOperand(SPEC, ["alpine", "--", "ls", "-la"])).toEqual({ own: [], operand: "alpine", rest: ["ls", "-la"] });
});

test("values of options are never mistaken for the image", () => {
  expect(splitAtOperand(SPEC, ["-w", "/tmp", "--env", "X=1", "--workdir=/a", "-eY=2", "-it", "img"]).operand).toBe("img");
  expect(splitAtOperand(SPEC, ["-ite", "Z=3", "img"]).operand).toBe("img");
});

test("no image and no command leaves both empty", () => {
  expect(splitAtOperand(SPEC, ["-i"])).toEqual({ own: ["-i"], rest: [] });
});
