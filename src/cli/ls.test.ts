import { expect, test } from "bun:test";
import type { BoxView } from "../runtime/box-view.ts";
import { STATUS_WIDTH, statusText } from "./ls.ts";

const box = (fields: Partial<BoxView>): BoxView => ({
  box_id: "01abc",
  name: null,
  status: "configured",
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
  pid: null,
  image: "alpine:latest",
  cpus: 1,
  memory_mib: 512,
  exit_code: null,
  error_reason: null,
  auto_delete: 0,
  ...fields,
});

test("statusText names each status the docker way", () => {
  const shown = (["unknown", "configured", "running", "stopping", "stopped", "paused", "failed"] as const).map((status) => statusText(box({ status })));
  expect(shown).toEqual(["Unknown", "Configured", "Running", "Stopping", "Stopped", "Paused", "Failed"]);
});

test("statusText shows a stopped box's exit code and the first line of a failure's reason", () => {
  expect(statusText(box({ status: "stopped", exit_code: 3 }))).toBe("Exited (3)");
  expect(statusText(box({ status: "failed", error_reason: "the VM died\nconsole tail: panic" }))).toBe("Failed: the VM died");
  expect(statusText(box({ status: "failed", error_reason: "out of memory" }))).toBe("Failed: out of memory");
  const long = statusText(box({ status: "failed", error_reason: "the VM stopped while no boxlite process was attached to it" }));
  expect(long).toBe("Failed: the VM stopped while no boxli...");
  expect(long.length).toBe(STATUS_WIDTH);
  // A reason only shows on a failed box.
  expect(statusText(box({ status: "stopped", error_reason: "stale" }))).toBe("Stopped");
});
