/**
 * A box's Linux capability policy (`--cap-add`/`--cap-drop`, REST and the reference's
 * `advanced.capabilities`): names to add to and drop from docker's default 14, with `ALL`.
 * The guest resolves the policy into the set its commands hold (guest/caps.c, docs/security.md);
 * here names are checked, so that a typo is an error before the box is made, not a box that
 * fails to start.
 */
import type { JsonObject, JsonValue } from "../db/json.ts";
import { isJsonObject } from "../db/json.ts";
import { BoxliteError } from "../util/errors.ts";
import type { CreateBoxRequest } from "./create-request.ts";
import type { CliInput, FieldCodec } from "./fields.ts";

/** Names to add and drop, as given (any case, `CAP_` optional, `ALL`). Present, even empty, it is a policy (archive v4). */
export interface CapabilityPolicy {
  add: string[];
  drop: string[];
}

/** Linux's capabilities by number, 0 to 40 (CAP_CHECKPOINT_RESTORE), without `CAP_`: the guest knows the same list. */
export const CAPABILITY_NAMES = [
  "CHOWN",
  "DAC_OVERRIDE",
  "DAC_READ_SEARCH",
  "FOWNER",
  "FSETID",
  "KILL",
  "SETGID",
  "SETUID",
  "SETPCAP",
  "LINUX_IMMUTABLE",
  "NET_BIND_SERVICE",
  "NET_BROADCAST",
  "NET_ADMIN",
  "NET_RAW",
  "IPC_LOCK",
  "IPC_OWNER",
  "SYS_MODULE",
  "SYS_RAWIO",
  "SYS_CHROOT",
  "SYS_PTRACE",
  "SYS_PACCT",
  "SYS_ADMIN",
  "SYS_BOOT",
  "SYS_NICE",
  "SYS_RESOURCE",
  "SYS_TIME",
  "SYS_TTY_CONFIG",
  "MKNOD",
  "LEASE",
  "AUDIT_WRITE",
  "AUDIT_CONTROL",
  "SETFCAP",
  "MAC_OVERRIDE",
  "MAC_ADMIN",
  "SYSLOG",
  "WAKE_ALARM",
  "BLOCK_SUSPEND",
  "AUDIT_READ",
  "PERFMON",
  "BPF",
  "CHECKPOINT_RESTORE",
] as const;
const KNOWN = new Set<string>([...CAPABILITY_NAMES, "ALL"]);

/** `net_admin`, `CAP_NET_ADMIN` → `NET_ADMIN`. */
export function canonicalCapability(name: string): string {
  const upper = name.toUpperCase();
  return upper.startsWith("CAP_") ? upper.slice(4) : upper;
}

/** Every name known (or `ALL`); the first that is not is the error, saying where it came from and what is accepted. */
export function checkCapabilities(policy: CapabilityPolicy | undefined): void {
  if (!policy) return;
  for (const [list, names] of [
    ["add", policy.add],
    ["drop", policy.drop],
  ] as const) {
    for (const name of names) {
      if (KNOWN.has(canonicalCapability(name))) continue;
      throw new BoxliteError(
        "invalid_argument",
        `unknown Linux capability ${JSON.stringify(name)} in --cap-${list} (advanced.capabilities.${list}); use a name such as NET_ADMIN or CAP_NET_ADMIN (any case), or ALL`,
      );
    }
  }
}

const names = (value: JsonValue | undefined): string[] => (Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : []);
const flagValues = (value: CliInput["values"][string]): string[] => (Array.isArray(value) ? value.map(String) : []);

function policyFromCli(input: CliInput): CapabilityPolicy | undefined {
  const add = flagValues(input.values["cap-add"]);
  const drop = flagValues(input.values["cap-drop"]);
  return add.length + drop.length > 0 ? { add, drop } : undefined;
}

function policyFromRequest(request: CreateBoxRequest): CapabilityPolicy | undefined {
  const policy = request.advanced?.capabilities;
  return policy ? { add: policy.add ?? [], drop: policy.drop ?? [] } : undefined;
}

/** `options.advanced.capabilities`, the reference's serde shape; `advanced`'s other members are kept. */
function policyFromRecord(options: JsonObject): CapabilityPolicy | undefined {
  const advanced = options.advanced;
  if (!isJsonObject(advanced) || !isJsonObject(advanced.capabilities)) return undefined;
  return { add: names(advanced.capabilities.add), drop: names(advanced.capabilities.drop) };
}

export const capabilitiesField: FieldCodec<CapabilityPolicy> = {
  cli: {
    flags: { "cap-add": { type: "string", multiple: true }, "cap-drop": { type: "string", multiple: true } },
    read: policyFromCli,
    write: (value) => ({ flags: [...value.add.flatMap((name) => ["--cap-add", name]), ...value.drop.flatMap((name) => ["--cap-drop", name])] }),
  },
  rest: { read: policyFromRequest, write: (value) => ({ advanced: { capabilities: { add: value.add, drop: value.drop } } }) },
  record: {
    read: policyFromRecord,
    write: (value, options) => {
      const advanced = isJsonObject(options.advanced) ? options.advanced : {};
      options.advanced = { ...advanced, capabilities: { add: value.add, drop: value.drop } };
    },
  },
  samples: [
    { add: ["NET_ADMIN"], drop: [] },
    { add: ["cap_sys_ptrace"], drop: ["ALL"] },
    { add: [], drop: ["NET_RAW", "MKNOD"] },
  ],
};
