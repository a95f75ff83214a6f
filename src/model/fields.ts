/**
 * Every box option, once, with how it reads and writes in each outer form: CLI flags, the
 * REST create request (both contract shapes, create-request.ts), and the stored BoxConfig
 * in the reference's serde shape (boxlite-ai/boxlite `src/boxlite/src/runtime/options.rs`: `options.cpus`, `options.env` as
 * `[[k, v]]`, `options.rootfs` as `{"Image": ref}`, `options.network` as
 * `{"Enabled": {"allow_net": []}}` or `"Disabled"`, …). The library form is BoxOptions
 * itself. A new option is one entry here (the type makes it required) plus its samples,
 * which the round-trip tests run through every form.
 */
import type { ParseArgsConfig } from "node:util";
import type { BoxConfigJson } from "../db/boxes.ts";
import { type JsonObject, type JsonValue, isJsonObject } from "../db/json.ts";
import { configFields } from "../db/listing-indexes.ts";
import { BoxliteError } from "../util/errors.ts";
import { parseInteger } from "../util/flags.ts";
import { capabilitiesField } from "./capabilities.ts";
import { type BoxOptions, envFromPairs, type NetworkMode, type NetworkOptions, splitEnvEntry } from "./box-options.ts";
import type { CreateBoxRequest } from "./create-request.ts";
import { SECURITY_MODES, type SecurityMode } from "../vmm/jail/host.ts";
import { type PortMapping, parsePortSpec, portSpecOf } from "./network.ts";
import { type HostVolume, isHostVolume, isNamedVolume, parseVolumeSpec, type VolumeMount, volumeSpecOf } from "./volumes.ts";

export type CliFlags = NonNullable<ParseArgsConfig["options"]>;
type CliValue = string | boolean | Array<string | boolean> | undefined;

/** What `run` or `create` parsed: flag values, the IMAGE operand, and the command after it. */
export interface CliInput {
  command: "run" | "create";
  values: Readonly<Record<string, CliValue>>;
  operand?: string;
  rest: readonly string[];
}

/** One option on a command line: flags, the IMAGE operand, or the command after `--`. */
export interface CliPart {
  flags?: string[];
  operand?: string;
  rest?: string[];
}

export interface FieldCodec<T> {
  /** Absent: the option has no flag (yet). */
  cli?: { flags: CliFlags; read(input: CliInput): T | undefined; write(value: T): CliPart };
  /** Absent: neither REST contract has the option. */
  rest?: { read(request: CreateBoxRequest): T | undefined; write(value: T): Partial<CreateBoxRequest> };
  /** `options` is BoxConfig's `options` object; `read` ignores a value of a foreign shape. */
  record: { read(options: JsonObject, config: BoxConfigJson): T | undefined; write(value: T, options: JsonObject, config: BoxConfigJson): void };
  /** Values the round-trip tests send through every form this option has. */
  samples: T[];
}

export type FieldTable = { [K in keyof BoxOptions]-?: FieldCodec<NonNullable<BoxOptions[K]>> };

const text = (value: CliValue | JsonValue | undefined): string | undefined => (typeof value === "string" ? value : undefined);
const strings = (value: JsonValue | undefined): string[] | undefined =>
  Array.isArray(value) && value.every((item) => typeof item === "string") ? (value as string[]) : undefined;
const numeric = (value: JsonValue | undefined): number | undefined => (typeof value === "number" ? value : undefined);
const nonNull = <T>(value: T | null | undefined): T | undefined => (value === null ? undefined : value);

/** A string option stored under one key of BoxConfig.options and sent under one REST field. */
function textField(key: string, restKey: "working_dir" | "user", flag: string, short: string, samples: string[]): FieldCodec<string> {
  return {
    cli: { flags: { [flag]: { type: "string", short } }, read: (input) => text(input.values[flag]), write: (value) => ({ flags: [`--${flag}`, value] }) },
    rest: { read: (request) => nonNull(request[restKey]), write: (value) => ({ [restKey]: value }) },
    record: { read: (options) => text(options[key]), write: (value, options) => (options[key] = value) },
    samples,
  };
}

/** A whole-number option, as textField. */
function integerField(key: string, restKey: "cpus" | "memory_mib" | "disk_size_gb", flag: string, samples: number[]): FieldCodec<number> {
  return {
    cli: {
      flags: { [flag]: { type: "string" } },
      read: (input) => parseInteger(`--${flag}`, text(input.values[flag])),
      write: (value) => ({ flags: [`--${flag}`, String(value)] }),
    },
    rest: { read: (request) => nonNull(request[restKey]), write: (value) => ({ [restKey]: value }) },
    record: { read: (options) => numeric(options[key]), write: (value, options) => (options[key] = value) },
    samples,
  };
}

/** `options.rootfs`, the serde enum `{"Image": ref}` / `{"RootfsPath": path}` (older records: a plain string image). */
function rootfsVariant(options: JsonObject, variant: "Image" | "RootfsPath"): string | undefined {
  const rootfs = options.rootfs;
  if (variant === "Image" && typeof rootfs === "string") return rootfs;
  return isJsonObject(rootfs) ? text(rootfs[variant]) : undefined;
}

/**
 * The request's network in either contract shape, as the outbound options: the flat
 * `{mode, allow_net}` (0.9.7, or deprecated in the newer contract) is the outbound
 * direction. Refused, as the newer contract says: both shapes at once, and an inbound
 * allow-list. `inbound.mode` is a tunnel-exposure policy with no effect here.
 */
function networkFromRequest(request: CreateBoxRequest): NetworkOptions | undefined {
  const network = request.network;
  if (!network) return undefined;
  const flat = network.mode != null || network.allow_net != null;
  if (flat && (network.outbound != null || network.inbound != null)) {
    throw new BoxliteError(
      "invalid_argument",
      "network mixes the flat {mode, allow_net} with the nested {outbound, inbound}; send one shape (outbound is the newer one)",
    );
  }
  if ((network.inbound?.allow_net?.length ?? 0) > 0)
    throw new BoxliteError("invalid_argument", "network.inbound.allow_net is not supported; remove it (inbound access follows inbound.mode alone)");
  const outbound = flat ? { mode: network.mode ?? "enabled", allow_net: network.allow_net } : network.outbound;
  if (!outbound) return undefined;
  return { mode: outbound.mode, allowNet: outbound.allow_net ?? [] };
}

/** `--network enabled|disabled` and `--allow-net HOST...`: either one alone implies the rest (an allow-list means enabled). */
function networkFromCli(input: CliInput): NetworkOptions | undefined {
  const mode = text(input.values.network);
  const allow = input.values["allow-net"];
  const allowNet = Array.isArray(allow) ? allow.map(String) : [];
  if (mode === undefined && allowNet.length === 0) return undefined;
  if (mode !== undefined && mode !== "enabled" && mode !== "disabled")
    throw new BoxliteError("usage", `--network ${JSON.stringify(mode)}: use enabled or disabled`);
  return { mode: (mode as NetworkMode | undefined) ?? "enabled", allowNet };
}

/** `options.ports` as v9 writes them: `[{host_port, guest_port, protocol, host_ip}]`, host_port null meaning "the OS picks". */
function portsFromRecord(value: JsonValue | undefined): PortMapping[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.flatMap((entry) => {
    if (!isJsonObject(entry) || typeof entry.guest_port !== "number") return [];
    const hostPort = numeric(entry.host_port ?? undefined);
    const hostIp = text(entry.host_ip ?? undefined);
    return [{ ...(hostIp !== undefined ? { hostIp } : {}), ...(hostPort ? { hostPort } : {}), boxPort: entry.guest_port }];
  });
}

function networkFromRecord(value: JsonValue | undefined): NetworkOptions | undefined {
  if (value === "Disabled") return { mode: "disabled", allowNet: [] };
  if (!isJsonObject(value) || !isJsonObject(value.Enabled)) return undefined;
  return { mode: "enabled", allowNet: strings(value.Enabled.allow_net) ?? [] };
}

/**
 * `options.volumes` as the reference's serde VolumeSpec: `[{host_path, guest_path, read_only}]`,
 * plus our `anonymous: true` on a directory create.ts made and `volume: <id>` on a named
 * volume's directory (the reference ignores both).
 */
function volumesFromRecord(value: JsonValue | undefined): VolumeMount[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.flatMap((entry): HostVolume[] => {
    if (!isJsonObject(entry) || typeof entry.host_path !== "string" || typeof entry.guest_path !== "string") return [];
    const volume: HostVolume = { hostPath: entry.host_path, guestPath: entry.guest_path, readOnly: entry.read_only === true };
    if (entry.anonymous === true) volume.anonymous = true;
    if (typeof entry.volume === "string") volume.volume = entry.volume;
    return [volume];
  });
}

/** The older contract's host-path volumes and the newer one's managed volumes (named volumes, by id or name). */
function volumesFromRequest(request: CreateBoxRequest): VolumeMount[] | undefined {
  const volumes = request.volumes;
  if (!volumes || volumes.length === 0) return undefined;
  return volumes.map((volume) => {
    if ("managed_volume" in volume) return { volume: volume.managed_volume, guestPath: volume.guest_path, readOnly: volume.read_only === true };
    return { hostPath: volume.host_path, guestPath: volume.guest_path, readOnly: volume.read_only === true };
  });
}

/** A volume as a request carries it: a named one by reference; anonymous ones are host paths by then (RemoteBoxlite refuses host paths). */
function volumeToRequest(volume: VolumeMount): NonNullable<CreateBoxRequest["volumes"]> {
  if (isNamedVolume(volume)) return [{ managed_volume: volume.volume, guest_path: volume.guestPath, read_only: volume.readOnly }];
  if (isHostVolume(volume)) return [{ host_path: volume.hostPath, guest_path: volume.guestPath, read_only: volume.readOnly }];
  return [];
}

/** Flags `run` also reads itself (-t and -d decide how it runs), so their values are typed there. */
export const TTY_FLAG = { tty: { type: "boolean", short: "t" } } as const;
export const DETACH_FLAG = { detach: { type: "boolean", short: "d" } } as const;

export const FIELDS: FieldTable = {
  image: {
    cli: { flags: {}, read: (input) => input.operand, write: (value) => ({ operand: value }) },
    rest: { read: (request) => nonNull(request.image), write: (value) => ({ image: value }) },
    record: { read: (options) => rootfsVariant(options, "Image"), write: (value, options) => (options.rootfs = { Image: value }) },
    samples: ["alpine:3.20", "127.0.0.1:5000/team/app@sha256:0123", "oci:/srv/layout:v1"],
  },
  rootfsPath: {
    cli: { flags: { rootfs: { type: "string" } }, read: (input) => text(input.values.rootfs), write: (value) => ({ flags: ["--rootfs", value] }) },
    rest: { read: (request) => nonNull(request.rootfs_path), write: (value) => ({ rootfs_path: value }) },
    record: { read: (options) => rootfsVariant(options, "RootfsPath"), write: (value, options) => (options.rootfs = { RootfsPath: value }) },
    samples: ["/srv/rootfs.tar"],
  },
  name: {
    cli: { flags: { name: { type: "string" } }, read: (input) => text(input.values.name), write: (value) => ({ flags: ["--name", value] }) },
    rest: { read: (request) => nonNull(request.name), write: (value) => ({ name: value }) },
    // The name is BoxConfig's own (and a column), not one of its options.
    record: { read: (_options, config) => text(config.name ?? undefined), write: (value, _options, config) => (config.name = value) },
    samples: ["web-1"],
  },
  cpus: integerField("cpus", "cpus", "cpus", [2, 255]),
  memoryMib: integerField("memory_mib", "memory_mib", "memory", [128, 4096]),
  diskSizeGb: integerField("disk_size_gb", "disk_size_gb", "disk-size", [1, 8, 2048]),
  env: {
    cli: {
      flags: { env: { type: "string", short: "e", multiple: true } },
      read: (input) => {
        const entries = input.values.env;
        return Array.isArray(entries) ? envFromPairs(entries.map((entry) => splitEnvEntry(String(entry)))) : undefined;
      },
      write: (value) => ({ flags: Object.entries(value).flatMap(([name, text]) => ["-e", `${name}=${text}`]) }),
    },
    rest: { read: (request) => (request.env ? envFromPairs(Object.entries(request.env)) : undefined), write: (value) => ({ env: { ...value } }) },
    record: {
      read: (options) => {
        if (!Array.isArray(options.env)) return undefined;
        return envFromPairs(options.env.filter((pair): pair is [string, string] => strings(pair)?.length === 2));
      },
      write: (value, options) => (options.env = Object.entries(value)),
    },
    samples: [{ A: "1", B: "x=y", EMPTY: "" }],
  },
  workingDir: textField("working_dir", "working_dir", "workdir", "w", ["/srv/app"]),
  entrypoint: {
    // docker's --entrypoint takes one program ("" clears the image's).
    cli: {
      flags: { entrypoint: { type: "string" } },
      read: (input) => {
        const value = text(input.values.entrypoint);
        return value === undefined ? undefined : value === "" ? [] : [value];
      },
      write: (value) => ({ flags: ["--entrypoint", value[0] ?? ""] }),
    },
    rest: { read: (request) => nonNull(request.entrypoint), write: (value) => ({ entrypoint: value }) },
    record: { read: (options) => strings(options.entrypoint), write: (value, options) => (options.entrypoint = value) },
    samples: [["/bin/sh"], []],
  },
  cmd: {
    // After IMAGE (or `--`); none there means the image's CMD.
    cli: { flags: {}, read: (input) => (input.rest.length > 0 ? [...input.rest] : undefined), write: (value) => ({ rest: value }) },
    rest: { read: (request) => nonNull(request.cmd), write: (value) => ({ cmd: value }) },
    record: { read: (options) => strings(options.cmd), write: (value, options) => (options.cmd = value) },
    samples: [["sh", "-c", "echo $0 -- x"]],
  },
  user: textField("user", "user", "user", "u", ["1000:1000", "nobody"]),
  tty: {
    cli: { flags: TTY_FLAG, read: (input) => (input.values.tty === true ? true : undefined), write: () => ({ flags: ["-t"] }) },
    rest: { read: (request) => nonNull(request.tty), write: (value) => ({ tty: value }) },
    record: { read: (options) => (typeof options.tty === "boolean" ? options.tty : undefined), write: (value, options) => (options.tty = value) },
    samples: [true],
  },
  autoRemove: {
    cli: { flags: { rm: { type: "boolean" } }, read: (input) => (input.values.rm === true ? true : undefined), write: () => ({ flags: ["--rm"] }) },
    // auto_delete N > 0 removes the box as soon as it stops (the local reference's rule); 0.9.7 sends auto_remove.
    rest: {
      read: (request) => (request.auto_delete != null ? request.auto_delete > 0 : nonNull(request.auto_remove)),
      write: (value) => ({ auto_delete: value ? 1 : 0 }),
    },
    // The reference resolves its deprecated auto_remove through auto_delete when that is set:
    // the listing's field says so, and this reads the same field.
    record: {
      read: (_options, config) => {
        const removes = configFields.removesOnStop.read(config);
        return removes === null ? undefined : removes === 1;
      },
      write: (value, options) => {
        options.auto_remove = value;
        options.auto_delete = value ? 1 : 0;
      },
    },
    samples: [true],
  },
  detach: {
    // `create` and `run -d` make boxes that live on their own; a foreground `run`'s box ends with it.
    cli: {
      flags: DETACH_FLAG,
      read: (input) => input.command === "create" || input.values.detach === true,
      write: (value) => ({ flags: value ? ["-d"] : [] }),
    },
    rest: { read: (request) => nonNull(request.detach), write: (value) => ({ detach: value }) },
    record: { read: (options) => (typeof options.detach === "boolean" ? options.detach : undefined), write: (value, options) => (options.detach = value) },
    samples: [true, false],
  },
  network: {
    cli: {
      flags: { network: { type: "string" }, "allow-net": { type: "string", multiple: true } },
      read: networkFromCli,
      write: (value) => ({ flags: ["--network", value.mode, ...value.allowNet.flatMap((rule) => ["--allow-net", rule])] }),
    },
    rest: {
      read: networkFromRequest,
      write: (value) => ({ network: { mode: value.mode, ...(value.allowNet.length > 0 ? { allow_net: value.allowNet } : {}) } }),
    },
    record: {
      read: (options) => networkFromRecord(options.network),
      write: (value, options) => (options.network = value.mode === "disabled" ? "Disabled" : { Enabled: { allow_net: value.allowNet } }),
    },
    samples: [
      { mode: "disabled", allowNet: [] },
      { mode: "enabled", allowNet: [] },
      { mode: "enabled", allowNet: ["example.com", "10.0.0.0/8"] },
    ],
  },
  security: {
    cli: {
      flags: { security: { type: "string" } },
      read: (input) => {
        const value = text(input.values.security);
        if (value === undefined || (SECURITY_MODES as readonly string[]).includes(value)) return value as SecurityMode | undefined;
        throw new BoxliteError("usage", `--security ${JSON.stringify(value)}: use enable (the jail around the VMM, docs/security.md) or disable`);
      },
      write: (value) => ({ flags: ["--security", value] }),
    },
    // No rest: the operator decides (`boxlite serve --security`), as in the reference.
    // Stored as the reference's SecurityOptions (`advanced.security`), whose other fields are kept.
    record: {
      read: (options) => {
        const security = isJsonObject(options.advanced) ? options.advanced.security : undefined;
        if (!isJsonObject(security) || typeof security.jailer_enabled !== "boolean") return undefined;
        return security.jailer_enabled ? "enable" : "disable";
      },
      write: (value, options) => {
        const advanced = isJsonObject(options.advanced) ? options.advanced : {};
        const security = isJsonObject(advanced.security) ? advanced.security : {};
        options.advanced = { ...advanced, security: { ...security, jailer_enabled: value === "enable", seccomp_enabled: value === "enable" } };
      },
    },
    samples: ["enable", "disable"],
  },
  ports: {
    cli: {
      flags: { publish: { type: "string", short: "p", multiple: true } },
      read: (input) => {
        const specs = input.values.publish;
        return Array.isArray(specs) ? specs.map((spec) => parsePortSpec(String(spec))) : undefined;
      },
      write: (value) => ({ flags: value.flatMap((port) => ["-p", portSpecOf(port)]) }),
    },
    // No rest: neither REST contract has ports (the reference refuses them: use the tunnel).
    record: {
      read: (options) => portsFromRecord(options.ports),
      write: (value, options) =>
        (options.ports = value.map((port) => ({ host_port: port.hostPort ?? null, guest_port: port.boxPort, protocol: "Tcp", host_ip: port.hostIp ?? null }))),
    },
    samples: [[{ boxPort: 80 }, { hostPort: 8080, boxPort: 80 }, { hostIp: "127.0.0.1", hostPort: 9000, boxPort: 9000 }, { hostIp: "127.0.0.2", boxPort: 22 }]],
  },
  volumes: {
    cli: {
      flags: { volume: { type: "string", short: "v", multiple: true } },
      read: (input) => {
        const specs = input.values.volume;
        return Array.isArray(specs) ? specs.map((spec) => parseVolumeSpec(String(spec))) : undefined;
      },
      write: (value) => ({ flags: value.flatMap((volume) => ["-v", volumeSpecOf(volume)]) }),
    },
    rest: {
      read: volumesFromRequest,
      write: (value) => ({ volumes: value.flatMap(volumeToRequest) }),
    },
    record: {
      read: (options) => volumesFromRecord(options.volumes),
      write: (value, options) =>
        (options.volumes = value.filter(isHostVolume).map((v) => ({
          host_path: v.hostPath,
          guest_path: v.guestPath,
          read_only: v.readOnly,
          ...(v.anonymous ? { anonymous: true } : {}),
          ...(v.volume !== undefined ? { volume: v.volume } : {}),
        }))),
    },
    samples: [
      [
        { hostPath: "/srv/src", guestPath: "/src", readOnly: false },
        { hostPath: "/etc/hosts", guestPath: "/data/hosts", readOnly: true },
      ],
    ],
  },
  capabilities: capabilitiesField,
};

/** The option names, in the table's order. */
export const FIELD_NAMES = Object.keys(FIELDS) as Array<keyof BoxOptions>;
