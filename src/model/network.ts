/**
 * A box's network options: the allow-list rules, published ports (`-p`), and the checks
 * they pass before anything is made (docs/network.md). netd checks its arguments again;
 * these checks exist so that a bad value is refused with the flag or field it came from.
 */
import { networkInterfaces } from "node:os";
import { BoxliteError, type ErrorCode } from "../util/errors.ts";

/** A box port published on the host: TCP only (UDP is refused, as the reference does). */
export interface PortMapping {
  /** The host address to bind; default 127.0.0.1 (docker binds every interface; a sandbox's ports stay local unless asked). */
  hostIp?: string;
  /** Absent or 0: the OS picks one, shown once the box runs. */
  hostPort?: number;
  boxPort: number;
}

export const DEFAULT_HOST_IP = "127.0.0.1";
const ANY = "0.0.0.0";

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/i;
const MAX_NAME = 253;

export function isIpv4(text: string): boolean {
  return IPV4.test(text);
}

function isHostName(name: string): boolean {
  const bare = name.endsWith(".") ? name.slice(0, -1) : name;
  return bare.length > 0 && bare.length <= MAX_NAME && bare.split(".").every((label) => LABEL.test(label));
}

/** Why an allow-list rule is malformed, or undefined when it is one of: a host name, `*.name`, an IPv4 address, an IPv4 CIDR. */
export function allowRuleProblem(rule: string): string | undefined {
  if (rule === "") return "is empty";
  if (rule.includes(":")) return "is IPv6 or has a port; give an IPv4 address, a CIDR or a host name";
  const slash = rule.indexOf("/");
  if (slash >= 0) {
    const [address, bits] = [rule.slice(0, slash), rule.slice(slash + 1)];
    if (!isIpv4(address) || !/^\d{1,2}$/.test(bits) || Number(bits) > 32) return "is not a CIDR like 10.0.0.0/8";
    // A typo must not silently open a wider range: host bits below the prefix are refused, as netd refuses them.
    const value = address.split(".").reduce((sum, octet) => sum * 256 + Number(octet), 0);
    const size = 2 ** (32 - Number(bits));
    const network = value - (value % size);
    if (network !== value) {
      const octets = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join(".");
      return `has host bits set below /${bits}; the network is ${octets}/${bits}`;
    }
    return undefined;
  }
  if (isIpv4(rule)) return undefined;
  if (rule.startsWith("*.")) return isHostName(rule.slice(2)) ? undefined : "is not *. followed by a host name, like *.example.com";
  if (/^[\d.]+$/.test(rule)) return "is not an IPv4 address";
  return isHostName(rule) ? undefined : "is not a host name, *.name, an IPv4 address or a CIDR";
}

/**
 * `-p [HOST_IP:][HOST_PORT:]BOX_PORT[/tcp]` as a mapping. `HOST_IP::BOX_PORT` leaves the
 * host port to the OS, as docker reads it.
 */
export function parsePortSpec(spec: string): PortMapping {
  const bad = (why: string) => new BoxliteError("usage", `-p ${JSON.stringify(spec)}: ${why}; use [HOST_IP:][HOST_PORT:]BOX_PORT[/tcp]`);
  const [address, protocol, ...extra] = spec.split("/");
  if (extra.length > 0 || address === undefined) throw bad("too many /");
  if (protocol !== undefined && protocol.toLowerCase() === "udp") throw new BoxliteError("unsupported", `-p ${spec}: UDP ports cannot be published; only TCP`);
  if (protocol !== undefined && protocol.toLowerCase() !== "tcp") throw bad(`unknown protocol ${JSON.stringify(protocol)}`);
  const parts = address.split(":");
  if (parts.length > 3) throw bad("too many parts (IPv6 host addresses are not supported)");
  const port = (text: string, what: string, zeroOk: boolean): number => {
    if (!/^\d{1,5}$/.test(text)) throw bad(`${what} ${JSON.stringify(text)} is not a port number`);
    const value = Number(text);
    if (value > 65535 || (value === 0 && !zeroOk)) throw bad(`${what} ${value} is outside 1-65535`);
    return value;
  };
  const boxPort = port(parts[parts.length - 1] ?? "", "the box port", false);
  const hostPortText = parts.length >= 2 ? parts[parts.length - 2] : undefined;
  const hostPort = hostPortText === undefined || hostPortText === "" ? undefined : port(hostPortText, "the host port", true);
  const hostIp = parts.length === 3 ? parts[0] : undefined;
  if (hostIp !== undefined && !isIpv4(hostIp)) throw bad(`the host address ${JSON.stringify(hostIp)} is not an IPv4 address`);
  return { ...(hostIp !== undefined ? { hostIp } : {}), ...(hostPort ? { hostPort } : {}), boxPort };
}

/** The `-p` spelling of a mapping (parsePortSpec reads it back). */
export function portSpecOf(port: PortMapping): string {
  const host = port.hostIp !== undefined ? `${port.hostIp}:${port.hostPort ?? ""}:` : port.hostPort ? `${port.hostPort}:` : "";
  return `${host}${port.boxPort}/tcp`;
}

/** Whether this host has the address: loopback always does; any other must be on an interface. */
function hostHasAddress(ip: string): boolean {
  if (ip.startsWith("127.") || ip === ANY) return true;
  return Object.values(networkInterfaces()).some((addresses) => addresses?.some((entry) => entry.address === ip));
}

/**
 * What the network options ask for must make sense together: rules well formed, ports in
 * range, no host port twice, ports and an allow-list only with the network on, host
 * addresses this host has. `code` is "usage" from the CLI (exit 2) and "invalid_argument"
 * from the API and the library (400).
 */
export function checkNetworkOptions(
  network: { mode: "enabled" | "disabled"; allowNet: string[] } | undefined,
  ports: PortMapping[] | undefined,
  code: ErrorCode,
): void {
  const fail = (message: string) => new BoxliteError(code, message);
  for (const rule of network?.allowNet ?? []) {
    const problem = allowRuleProblem(rule);
    if (problem) throw fail(`--allow-net (allow_net) ${JSON.stringify(rule)} ${problem}`);
  }
  if (network?.mode === "disabled" && network.allowNet.length > 0) {
    throw fail('an allow-list needs the network: use --network enabled (mode "enabled") with --allow-net, or leave the allow-list out');
  }
  if (!ports || ports.length === 0) return;
  if (network?.mode === "disabled")
    throw fail("-p publishes a port of the box's network, and --network disabled gives it none; drop -p or the network setting");
  const taken: Array<{ hostIp: string; hostPort: number }> = [];
  for (const port of ports) {
    if (!Number.isInteger(port.boxPort) || port.boxPort < 1 || port.boxPort > 65535) throw fail(`-p: the box port ${port.boxPort} is outside 1-65535`);
    const hostPort = port.hostPort ?? 0;
    if (!Number.isInteger(hostPort) || hostPort < 0 || hostPort > 65535) throw fail(`-p: the host port ${hostPort} is outside 1-65535`);
    const hostIp = port.hostIp ?? DEFAULT_HOST_IP;
    if (!isIpv4(hostIp)) throw fail(`-p: the host address ${JSON.stringify(hostIp)} is not an IPv4 address`);
    if (!hostHasAddress(hostIp)) throw fail(`-p: this host has no address ${hostIp}; give one of its own addresses, or leave it out for 127.0.0.1`);
    if (hostPort === 0) continue;
    // 0.0.0.0 is every address: a port there collides with the same port on any other.
    const collides = (other: { hostIp: string; hostPort: number }) =>
      other.hostPort === hostPort && (other.hostIp === hostIp || other.hostIp === ANY || hostIp === ANY);
    if (taken.some(collides)) throw fail(`-p: the host port ${hostPort} is published twice; give each mapping its own host port`);
    taken.push({ hostIp, hostPort });
  }
}
