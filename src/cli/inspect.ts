/** `boxlite inspect BOX...`: docker-like JSON of boxes found by id, unique id prefix or name. */
import { BOX_NET } from "../runtime/box-network.ts";
import type { BoxView } from "../runtime/box-view.ts";
import type { BoxliteApi } from "../runtime/api.ts";
import { BoxliteError } from "../util/errors.ts";
import { parseOptions } from "./args.ts";
import { eachReported, out, printJson } from "./output.ts";

export const INSPECT_USAGE = `Usage: boxlite inspect BOX [BOX...]

Show boxes as JSON (docker's shape: Id, Name, Image, Created, Status, State, Cpus, Memory,
NetworkSettings with the published ports while the box runs, Mounts).
A BOX is an id, a unique prefix of one, or a name.
`;

const OPTIONS = { help: { type: "boolean", short: "h" } } as const;

const MIB = 1024 * 1024;

export function inspectView(box: BoxView) {
  return {
    Id: box.box_id,
    Name: box.name ?? "",
    Image: box.image,
    Created: box.created_at,
    Status: box.status,
    State: {
      Status: box.status,
      Running: box.status === "running",
      Pid: box.pid ?? 0,
      ExitCode: box.exit_code ?? 0,
      Error: box.error_reason ?? "",
      // boxlite's own: stopped with a saved state that its next start resumes (docs/suspend.md).
      Suspended: box.suspended === true,
    },
    Cpus: box.cpus,
    Memory: box.memory_mib * MIB,
    NetworkSettings: networkSettings(box.network),
    Mounts: mounts(box.volumes ?? []),
  };
}

/** Docker's Mounts: a named volume or a `-v BOX` directory made under the home is a "volume" (a named one with its Name, the volume's id), a host path a "bind". */
function mounts(volumes: NonNullable<BoxView["volumes"]>) {
  return volumes.map((volume) => ({
    Type: volume.anonymous || volume.volume !== undefined ? "volume" : "bind",
    ...(volume.volume !== undefined ? { Name: volume.volume } : {}),
    Source: volume.host_path,
    Destination: volume.guest_path,
    RW: !volume.read_only,
    Mode: volume.read_only ? "ro" : "rw",
  }));
}

/** Docker's NetworkSettings, with the box's mode and allow-list: Ports maps "80/tcp" to its host bindings (HostPort a string, as docker's). */
function networkSettings(network: BoxView["network"]) {
  const ports: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const port of network.published_ports) {
    const key = `${port.guest_port}/${port.protocol}`;
    ports[key] = [...(ports[key] ?? []), { HostIp: port.host_ip, HostPort: String(port.host_port) }];
  }
  const enabled = network.mode === "enabled";
  return {
    Mode: network.mode,
    AllowNet: network.allow_net,
    IPAddress: enabled ? BOX_NET.address : "",
    Gateway: enabled ? BOX_NET.gateway : "",
    Ports: ports,
  };
}

export async function inspectCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("inspect", OPTIONS, argv, true);
  if (values.help) {
    void out(INSPECT_USAGE);
    return 0;
  }
  if (positionals.length === 0) throw new BoxliteError("usage", "inspect needs at least one BOX; see 'boxlite inspect --help'");
  const found: ReturnType<typeof inspectView>[] = [];
  const failed = await eachReported(positionals, async (name) => {
    found.push(inspectView(await runtime.getBox(name)));
  });
  printJson(found);
  return failed ? 1 : 0;
}
