/**
 * The owner's side of a user's pause on a real home's record, with a VM control that
 * records what it was told (the e2e tests pause real VMs): what it records, what it
 * refuses and in which words, and that a stop lets a paused VM go on.
 */
import { beforeAll, expect, test } from "bun:test";
import { getBox } from "../db/boxes.ts";
import { BoxliteError } from "../util/errors.ts";
import { setBoxState } from "./box-facts.ts";
import { Boxlite } from "./boxlite.ts";
import type { Home } from "./home.ts";
import { PauseGate } from "./pause.ts";

let home: Home;
beforeAll(async () => {
  home = await Boxlite.open().home();
});

/** A running box's record, a control that logs its calls, and the gate's inputs, each settable. */
async function owner(options: { failPause?: boolean; slowPause?: boolean } = {}) {
  const id = await new Boxlite(home.config).create({});
  setBoxState(home.database.db, id, { status: "running" });
  const calls: string[] = [];
  const control = {
    pause: async () => {
      calls.push("pause");
      if (options.failPause) throw new BoxliteError("vmm_failed", "QEMU refused stop");
      if (!options.slowPause) return;
      await Bun.sleep(50);
      calls.push("paused");
    },
    resume: async () => void calls.push("resume"),
  };
  const inputs = { ending: undefined as string | undefined, quiesced: false };
  const gate = new PauseGate(
    home,
    id,
    control,
    () => inputs.ending,
    () => inputs.quiesced,
  );
  const status = () => getBox(home.database.db, id)?.status;
  return { id, gate, calls, inputs, status };
}

test("pause stops the VM and records paused; unpause lets it go on and records running", async () => {
  const { id, gate, calls, status } = await owner();
  await gate.pause();
  expect(calls).toEqual(["pause"]);
  expect(status()).toBe("paused");
  expect(gate.refusal()).toBe(`box ${id} is paused; unpause it with 'boxlite unpause ${id}' first`);
  await gate.unpause();
  expect(calls).toEqual(["pause", "resume"]);
  expect(status()).toBe("running");
  expect(gate.refusal()).toBeUndefined();
});

test("a second pause and an unpause of a running box are conflicts that say why; the VM is not touched", async () => {
  const { id, gate, calls } = await owner();
  await expect(gate.unpause()).rejects.toThrow(`box ${id} is running, not paused; only a box paused with 'boxlite pause' can be unpaused`);
  await gate.pause();
  const again = await gate.pause().catch((error: unknown) => error);
  expect(again).toMatchObject({ code: "conflict", message: `box ${id} is already paused; unpause it with 'boxlite unpause ${id}'` });
  expect(calls).toEqual(["pause"]);
});

test("while a snapshot holds the box still, pause is busy and unpause says the box goes on by itself", async () => {
  const { id, gate, calls, inputs, status } = await owner();
  inputs.quiesced = true;
  const busy = await gate.pause().catch((error: unknown) => error);
  expect(busy).toMatchObject({ code: "busy", message: `box ${id} is busy: it is held still for a snapshot, clone or export; try again once that is done` });
  await expect(gate.unpause()).rejects.toThrow("held still for a snapshot, clone or export, not paused: it goes on by itself once that is done");
  expect(calls).toEqual([]);
  expect(status()).toBe("running");
});

test("a stopping box is neither paused nor unpaused; a stop lets a paused VM go on and leaves the status to the stop", async () => {
  const { id, gate, calls, inputs, status } = await owner();
  await gate.pause();
  inputs.ending = `box ${id} is stopping`;
  setBoxState(home.database.db, id, { status: "stopping" });
  await expect(gate.unpause()).rejects.toThrow(`box ${id} is stopping`);
  await expect(gate.pause()).rejects.toThrow(`box ${id} is stopping`);
  await gate.releaseForStop();
  expect(calls).toEqual(["pause", "resume"]);
  expect(status()).toBe("stopping");
  expect(gate.refusal()).toBeUndefined();
  // Nothing to let go of twice.
  await gate.releaseForStop();
  expect(calls).toEqual(["pause", "resume"]);
});

test("a pause the VMM refuses leaves the box running and reports the VMM's error", async () => {
  const { gate, status } = await owner({ failPause: true });
  await expect(gate.pause()).rejects.toThrow("QEMU refused stop");
  expect(status()).toBe("running");
  expect(gate.refusal()).toBeUndefined();
});

test("requests run one at a time: a stop's release asked while a pause is under way resumes the VM after it", async () => {
  const { gate, calls } = await owner({ slowPause: true });
  await Promise.all([gate.pause(), gate.releaseForStop()]);
  expect(calls).toEqual(["pause", "paused", "resume"]);
});
