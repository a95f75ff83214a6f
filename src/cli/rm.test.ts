import { expect, test } from "bun:test";
import type { BoxliteApi } from "../runtime/api.ts";
import { BoxliteError } from "../util/errors.ts";
import { rmCommand } from "./rm.ts";

/** A runtime with boxes a and b, where removing `a` fails as `how` says and `a` then still exists or not. */
function runtimeWhere(aStillExists: boolean): BoxliteApi {
  return {
    listBoxes: async () => [{ box_id: "a" }, { box_id: "b" }],
    removeBox: async (id: string) => {
      if (id === "a") throw new BoxliteError("conflict", "box a was removed by another process");
      return id;
    },
    getBox: async (id: string) => {
      if (id === "a" && !aStillExists) throw new BoxliteError("not_found", "no box a");
      return { box_id: id };
    },
  } as unknown as BoxliteApi;
}

test("rm -a -f is not failed by a box another process removed meanwhile: every box is gone", async () => {
  expect(await rmCommand(runtimeWhere(false), ["-a", "-f"])).toBe(0);
});

test("rm -a -f fails when a box it could not remove is still there", async () => {
  expect(await rmCommand(runtimeWhere(true), ["-a", "-f"])).toBe(1);
});
