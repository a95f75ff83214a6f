/**
 * v8 → v9 (reference v8_to_v9.rs, PreservePublishedPorts): until v9 a port mapping with
 * `host_port: null` meant "the guest port"; from v9 it means "let the OS choose". Every
 * persisted mapping (box_config.json → options.ports[]) is made explicit, with the old
 * backend's behaviour: protocol TCP, any bind address, and for duplicate host ports the
 * last entry wins (it was the one served). Only the ports array is rewritten
 * (json_set), so every other byte of the blob, unknown fields included, stays as it was.
 */
import { BoxliteError } from "../../util/errors.ts";
import { type JsonObject, type JsonValue, isJsonObject, parseJsonObject } from "../json.ts";
import type { MigrationStep } from "../migrate.ts";

export const v8ToV9: MigrationStep = {
  from: 8,
  name: "v8-to-v9",
  apply({ db }) {
    const rows = db.query<{ id: string; json: string }, []>("SELECT id, json FROM box_config ORDER BY id").all();
    const update = db.query("UPDATE box_config SET json = json_set(json, '$.options.ports', json(?1)) WHERE id = ?2");
    for (const row of rows) {
      const config = parseJsonObject(row.json, `box ${row.id}: box_config.json`);
      const options = config.options;
      if (!isJsonObject(options) || options.ports === undefined || options.ports === null) continue;
      const ports = normalizeLegacyPorts(options.ports, row.id);
      if (JSON.stringify(ports) !== JSON.stringify(options.ports)) update.run(JSON.stringify(ports), row.id);
    }
  },
};

/** The reference's normalize_legacy_ports over JSON, keeping unknown fields of each entry. */
export function normalizeLegacyPorts(ports: JsonValue, boxId: string): JsonObject[] {
  if (!Array.isArray(ports)) throw badPorts(boxId, "options.ports is not a list");
  const byHostPort = new Map<number, { index: number; port: JsonObject }>();
  ports.forEach((entry, index) => {
    if (!isJsonObject(entry)) throw badPorts(boxId, `options.ports[${index}] is not an object`);
    const guestPort = entry.guest_port;
    if (!isPort(guestPort)) throw badPorts(boxId, `options.ports[${index}].guest_port is not a port number`);
    const hostPort = entry.host_port ?? guestPort;
    if (!isPort(hostPort)) throw badPorts(boxId, `options.ports[${index}].host_port is not a port number`);
    // Keep "tcp"/"Tcp" as written (both spellings are read); anything else was served as TCP.
    const protocol = typeof entry.protocol === "string" && entry.protocol.toLowerCase() === "tcp" ? entry.protocol : "Tcp";
    const port: JsonObject = { ...entry, host_port: hostPort, guest_port: guestPort, protocol, host_ip: null };
    // The old backend kept its forwards in a map keyed by host port: the last one won.
    byHostPort.delete(hostPort);
    byHostPort.set(hostPort, { index, port });
  });
  return [...byHostPort.values()].sort((a, b) => a.index - b.index).map(({ port }) => port);
}

function isPort(value: JsonValue | undefined): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 65535;
}

function badPorts(boxId: string, why: string): BoxliteError {
  return new BoxliteError("database", `box ${boxId}: box_config.json is unreadable: ${why}; the database may be damaged`);
}
