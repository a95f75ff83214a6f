/**
 * A box's network as its VM gets it (docs/network.md): the NIC, the network process
 * beside the VMM that serves it, what the guest is told to configure, and, once the box
 * runs, the ports it publishes and its figures.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import type { Config } from "../config/config.ts";
import type { GuestNetwork } from "../guest-protocol/messages.ts";
import type { NetworkOptions } from "../model/box-options.ts";
import type { PublishedPortView } from "../db/box-summaries.ts";
import { DEFAULT_HOST_IP, type PortMapping } from "../model/network.ts";
import { BoxliteError } from "../util/errors.ts";
import type { VmDevice } from "../vmm/devices.ts";
import type { HelperCommand } from "../vmm/helpers.ts";
import { netdHelper, prepareNetd } from "../vmm/netd.ts";
import type { BoxLayout } from "./box-layout.ts";
import { askStats } from "./net-control.ts";

/** The reference's topology (net/constants.rs): clients and docs depend on these addresses. */
export const BOX_NET = {
  interface: "eth0",
  address: "192.168.127.2",
  prefix: 24,
  gateway: "192.168.127.1",
  mac: "5a:94:ef:e4:0c:ee",
  mtu: 1500,
  search: ["local"],
} as const;

export interface BoxNetwork {
  devices: VmDevice[];
  helpers: HelperCommand[];
  guest: GuestNetwork;
}

/** The NIC, netd and the guest's settings for a box with the network on; undefined when it has none. */
export async function boxNetwork(config: Config, layout: BoxLayout, network: NetworkOptions, ports: readonly PortMapping[]): Promise<BoxNetwork | undefined> {
  if (network.mode === "disabled") return undefined;
  // What an earlier run bound is not what this one will: netd writes the file afresh.
  rmSync(layout.netPorts, { force: true });
  const program = await prepareNetd(config);
  const helper = netdHelper(program, {
    socket: layout.netSocket,
    control: layout.netControl,
    portsFile: layout.netPorts,
    dns: config.dnsServers ?? [],
    allow: network.allowNet,
    publish: ports.map((port) => `${port.hostIp ?? DEFAULT_HOST_IP}:${port.hostPort ?? 0}:${port.boxPort}`),
  });
  return {
    devices: [{ kind: "net", socketPath: layout.netSocket, mac: BOX_NET.mac }],
    helpers: [helper],
    guest: {
      interface: BOX_NET.interface,
      address: BOX_NET.address,
      prefix: BOX_NET.prefix,
      gateway: BOX_NET.gateway,
      mtu: BOX_NET.mtu,
      nameservers: [BOX_NET.gateway],
      search: [...BOX_NET.search],
    },
  };
}

/** An entry of netd's ports file (docs/network.md). */
interface NetdPort {
  host_ip: string;
  host_port: number;
  box_port: number;
  protocol: "tcp";
}

function isNetdPort(value: unknown): value is NetdPort {
  if (typeof value !== "object" || value === null) return false;
  const port = value as Record<string, unknown>;
  return typeof port.host_ip === "string" && typeof port.host_port === "number" && typeof port.box_port === "number" && port.protocol === "tcp";
}

/** The ports netd bound for the running box (its ports file), in the reference's naming; none when the box publishes none. */
export function publishedPorts(layout: BoxLayout): PublishedPortView[] {
  if (!existsSync(layout.netPorts)) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(layout.netPorts, "utf8"));
  } catch (error) {
    throw new BoxliteError("internal", `${layout.netPorts} is not the JSON netd writes`, { cause: error });
  }
  if (!Array.isArray(parsed) || !parsed.every(isNetdPort)) throw new BoxliteError("internal", `${layout.netPorts} is not the list of ports netd writes`);
  return parsed.map((port) => ({ host_ip: port.host_ip, host_port: port.host_port, guest_port: port.box_port, protocol: "tcp" }));
}

/** A box's network figures, from the box's side (docs/network.md, "Control socket"). */
export interface NetworkFigures {
  bytes_sent: number;
  bytes_received: number;
  tcp_connections: number;
  tcp_errors: number;
}

function isFigures(value: unknown): value is NetworkFigures {
  if (typeof value !== "object" || value === null) return false;
  const figures = value as Record<string, unknown>;
  return ["bytes_sent", "bytes_received", "tcp_connections", "tcp_errors"].every((key) => typeof figures[key] === "number");
}

/** Asks the running box's netd for its figures; undefined when no network process answers (the box is stopping). */
export async function networkFigures(layout: BoxLayout): Promise<NetworkFigures | undefined> {
  if (!existsSync(layout.netControl)) return undefined;
  const answer = await askStats(layout.netControl).catch(() => undefined);
  return isFigures(answer) ? answer : undefined;
}
