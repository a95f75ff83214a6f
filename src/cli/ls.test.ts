import { expect, test } from "bun:test";
import type { BoxView } from "../runtime/box-view.ts";
import { portsText, STATUS_WIDTH, statusText } from "./ls.ts";

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
  network: { mode: "enabled", allow_net: [], published_ports: [] },
  volumes: [],
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

test("PORTS shows each published port as docker does, and nothing for a box that publishes none", () => {
  expect(portsText(box({}))).toBe("");
  const ports = [
    { host_ip: "127.0.0.1", host_port: 41234, guest_port: 80, protocol: "tcp" as const },
    { host_ip: "0.0.0.0", host_port: 2222, guest_port: 22, protocol: "tcp" as const },
  ];
  expect(portsText(box({ status: "running", network: { mode: "enabled", allow_net: [], published_ports: ports } }))).toBe(
    "127.0.0.1:41234->80/tcp, 0.0.0.0:2222->22/tcp",
  );
});
