import { describe, expect, test } from "bun:test";
import { BOX_STATUSES, type BoxStatus } from "../db/box-status.ts";
import { type BoxAction, type BoxFacts, canTransition, decide } from "./box-state.ts";

const box = (status: BoxStatus, userCommand = false): BoxFacts => ({ id: "b1", name: "web", status, userCommand });
const ACTIONS: BoxAction[] = ["start", "stop", "exec", "copy", "attach", "remove", "snapshot", "pause", "unpause", "suspend", "stats", "tunnel"];

describe("what each status allows", () => {
  test("start is idempotent on a running box, and starts every settled one", () => {
    expect(decide(box("running"), "start")).toBe("noop");
    for (const status of ["configured", "stopped", "failed", "unknown"] as const) expect(decide(box(status), "start")).toBe("act");
    expect(() => decide(box("stopping"), "start")).toThrow(/box b1 is stopping; wait until it has stopped/);
  });

  test("exec, cp and the files routes boot a box on its image's default command", () => {
    for (const action of ["exec", "copy"] as const) {
      expect(decide(box("configured"), action)).toBe("boot");
      expect(decide(box("stopped"), action)).toBe("boot");
      expect(decide(box("running"), action)).toBe("act");
    }
  });

  test("but never re-run a command the user chose: the box must be started explicitly", () => {
    expect(() => decide(box("stopped", true), "exec")).toThrow(
      "box b1 is stopped: exec needs it running, and booting it would run its main command again; start it with 'boxlite start web' first",
    );
    expect(() => decide(box("configured", true), "copy")).toThrow(/booting it would run its main command, which was never started/);
    expect(decide(box("running", true), "exec")).toBe("act");
  });

  test("an attach boots a box held, whatever its command: nothing runs until a start", () => {
    expect(decide(box("stopped", true), "attach")).toBe("boot");
    expect(decide(box("configured", true), "attach")).toBe("boot");
  });

  test("a stopping box takes no new command, in words that say so", () => {
    for (const action of ["exec", "copy", "attach", "snapshot", "pause", "unpause", "suspend", "stats"] as const) {
      expect(() => decide(box("stopping"), action)).toThrow(/is stopping; wait until it has stopped/);
    }
    expect(decide(box("stopping"), "stop")).toBe("noop");
  });

  test("removing a box with a VM needs force; a forced remove of one is always allowed", () => {
    for (const status of ["running", "stopping", "paused"] as const) {
      expect(() => decide(box(status), "remove")).toThrow(/stop it first, or remove it with rm -f/);
      expect(decide(box(status), "remove", { force: true })).toBe("act");
    }
    for (const status of ["configured", "stopped", "failed", "unknown"] as const) expect(decide(box(status), "remove")).toBe("act");
  });

  test("pause acts on a running box and unpause on a paused one; the owner answers a paused box's pause (already paused, or held for a snapshot)", () => {
    expect(decide(box("running"), "pause")).toBe("act");
    expect(decide(box("paused"), "unpause")).toBe("act");
    expect(decide(box("paused"), "pause")).toBe("act");
  });

  test("suspend acts on a running or paused box; a box without a VM is refused in words that say which can be", () => {
    expect(decide(box("running"), "suspend")).toBe("act");
    expect(decide(box("paused"), "suspend")).toBe("act");
    for (const status of ["configured", "stopped", "failed", "unknown"] as const) {
      expect(() => decide(box(status), "suspend")).toThrow(`box b1 is ${status}, not running: only a running or paused box can be suspended`);
    }
  });

  test("pause of a box without a VM says its status and how to start it; unpause of a box that is not paused says so", () => {
    for (const status of ["configured", "stopped", "failed", "unknown"] as const) {
      expect(() => decide(box(status), "pause")).toThrow(`box b1 is ${status}, not running; start it with 'boxlite start web'`);
    }
    for (const status of ["configured", "running", "stopped", "failed", "unknown"] as const) {
      expect(() => decide(box(status), "unpause")).toThrow(`box b1 is ${status}, not paused; only a box paused with 'boxlite pause' can be unpaused`);
    }
  });

  test("a paused box takes no command, copy, attach, snapshot, start or tunnel, saying to unpause it; stop, rm -f and stats go through", () => {
    for (const action of ["exec", "copy", "attach", "snapshot", "start", "tunnel"] as const) {
      expect(() => decide(box("paused"), action)).toThrow("box b1 is paused; unpause it with 'boxlite unpause web' first");
    }
    expect(decide(box("paused"), "stop")).toBe("act");
    expect(decide(box("paused"), "remove", { force: true })).toBe("act");
    expect(decide(box("paused"), "stats")).toBe("act");
  });

  test("a failed box is not booted implicitly; its reason stays until an explicit start", () => {
    expect(() => decide(box("failed"), "exec")).toThrow("box b1 is failed; start it with 'boxlite start web' first");
  });

  test("every status answers every request: act, noop, boot, or a conflict", () => {
    for (const status of BOX_STATUSES) {
      for (const action of ACTIONS) {
        try {
          expect(["act", "noop", "boot"]).toContain(decide(box(status), action));
        } catch (error) {
          expect((error as { code?: string }).code).toBe("conflict");
        }
      }
    }
  });
});

describe("transitions", () => {
  test("a box runs, stops through stopping, and never jumps from stopped to stopping", () => {
    expect(canTransition("configured", "running")).toBe(true);
    expect(canTransition("running", "stopping")).toBe(true);
    expect(canTransition("stopping", "stopped")).toBe(true);
    expect(canTransition("stopped", "running")).toBe(true);
    expect(canTransition("stopped", "stopping")).toBe(false);
    expect(canTransition("configured", "stopping")).toBe(false);
    expect(canTransition("stopping", "running")).toBe(false);
  });
});
