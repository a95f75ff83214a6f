import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import type { JsonObject } from "./json.ts";
import { type BlobField, configFields, sqlOf, stateFields } from "./listing-indexes.ts";

/** Blobs of every shape a field may meet: what we write, what the reference writes, and the odd ones. */
const BLOBS: JsonObject[] = [
  { created_at: "2026-07-01T10:00:00.123Z", options: { rootfs: { Image: "alpine:3" }, cpus: 2, memory_mib: 1024, auto_remove: true, auto_delete: null } },
  { created_at: "x", options: { rootfs: { RootfsPath: "/srv/root" }, auto_remove: true, auto_delete: 0 } },
  { options: { rootfs: "/plain", cpus: "4", memory_mib: true, auto_remove: 1, auto_delete: 30.5 } },
  { options: { auto_remove: false } },
  { options: null, created_at: 7 },
  {},
  { status: "running", pid: 4242, last_updated: "2026-07-01T10:00:01Z", exit_code: null, error_reason: "killed\nby the OOM killer" },
  { status: 5, pid: 77.0, last_updated: 7, exit_code: "3", error_reason: false },
  { options: { network: "Disabled", ports: [] } },
  { options: { network: { Enabled: { allow_net: ["pypi.org", "*.example.com", "10.0.0.0/8", "é\u2028x"] } } } },
  { options: { network: { Enabled: {} } } },
  { options: { network: { Enabled: { allow_net: "x" } } } },
  { options: { network: "Enabled" } },
  { status: "running", published_ports: [{ host_ip: "127.0.0.1", host_port: 41234, guest_port: 80, protocol: "tcp" }] },
  { status: "running", published_ports: {} },
];

test("every listing field reads the same from a parsed blob as SQLite reads it for the index", () => {
  const db = new Database(":memory:");
  const fields: Array<[string, BlobField<unknown>]> = [...Object.entries(configFields), ...Object.entries(stateFields)];
  for (const blob of BLOBS) {
    for (const [name, field] of fields) {
      const row = db.query<{ value: unknown }, [string]>(`SELECT ${sqlOf(field, "?1")} AS value`).get(JSON.stringify(blob));
      expect({ name, blob, value: field.read(blob) }).toEqual({ name, blob, value: row?.value ?? null });
    }
  }
  db.close();
});

test("remove-on-stop: auto_delete wins when it is a number, else auto_remove, else nothing is said", () => {
  const read = (options: JsonObject) => configFields.removesOnStop.read({ options });
  expect(read({ auto_remove: true, auto_delete: 0 })).toBe(0);
  expect(read({ auto_remove: false, auto_delete: 5 })).toBe(1);
  expect(read({ auto_remove: true, auto_delete: null })).toBe(1);
  expect(read({ auto_remove: "yes" })).toBeNull();
});
