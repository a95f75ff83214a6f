/**
 * Runtime configuration: defaults < BOXLITE_* environment < flags. This is the only
 * module that reads process.env; everything else receives a frozen Config.
 */
import { homedir, tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { BoxliteError } from "../util/errors.ts";

export type VmmChoice = "auto" | "qemu" | "krun";
export type AccelChoice = "auto" | "kvm" | "hvf" | "tcg";

export interface Config {
  /** Absolute home directory (reference layout, see docs/home.md). */
  home: string;
  /** True when a relative --home/BOXLITE_HOME was resolved against the cwd. */
  homeWasRelative: boolean;
  /** Where extracted runtime assets (agent, system disk, wrapped kernel) are cached. */
  runtimeDir: string;
  /** Short directory for unix sockets (sun_path is limited to 108 bytes). */
  socketDir: string;
  vmm: VmmChoice;
  accel: AccelChoice;
  /** An explicit libkrunfw path; when unset the usual locations are searched. */
  libkrunfw?: string;
  /** `BOXLITE_LIBKRUN`: an explicit libkrun path; when unset libkrun.so.1 and the usual locations are searched. */
  libkrun?: string;
  /** An explicit QEMU binary; when unset qemu-system-<arch> is looked up in PATH. */
  qemu?: string;
  /** How long a guest may take from VMM start to the agent's HELLO. */
  bootTimeoutMs: number;
  /** Extra kernel command-line arguments, appended last (debugging). */
  kernelArgs: string;
  /**
   * `BOXLITE_GUEST_AGENT`: a guest agent binary to boot as the guest's /init instead of the
   * one built in (a debug build of guest/; the hostile-guest tests boot a misbehaving one).
   * Unset in normal use.
   */
  guestAgent?: string;
  /**
   * `BOXLITE_TEMPLATES` (`on`, the default, or `off`): whether boxes start by restoring a
   * saved, booted guest of their shape instead of booting cold (docs/templates.md).
   */
  templates: boolean;
  /**
   * Docker's client config, read for registry credentials (`auths`):
   * `$DOCKER_CONFIG/config.json` when DOCKER_CONFIG is set, else `~/.docker/config.json`.
   * It need not exist.
   */
  dockerConfigPath: string;
  debug: boolean;
  /**
   * `BOXLITE_CRASH_AT`: a named step of a disk operation (snapshot, restore, clone, export,
   * import) at which the process kills itself with SIGKILL — the crash tests' fault
   * injection (test/e2e/disk-crash.test.ts). Unset in normal use.
   */
  crashAt?: string;
  /** `--registry HOST` flags, in order: searched first for unqualified image names. */
  registries: string[];
  /** `--config FILE`: the reference's BoxliteOptions JSON (`image_registries`); nothing is read implicitly. */
  configFile?: string;
  /** `BOXLITE_SERVE_API_KEY`: the bearer key `boxlite serve` requires (its `--api-key` wins). */
  serveApiKey?: string;
  /** `serve`'s reaper (the reference's variables): an abandoned execution's grace before SIGHUP, between its signals, and its hard lifetime. */
  reaper: { reconnectGraceMs: number; shutdownGraceMs: number; maxLifetimeMs: number };
  /** `--url`, else `BOXLITE_URL`, else the reference's `BOXLITE_REST_URL`: a `boxlite serve` to use instead of the home. */
  url?: string;
  /** `BOXLITE_API_KEY`: the bearer key a client sends to that server. */
  apiKey?: string;
  /**
   * `BOXLITE_DNS` (comma-separated `IP[:PORT]`): the resolvers boxes' DNS queries are sent
   * to. Unset: the host's /etc/resolv.conf nameservers (read by the network process).
   */
  dnsServers?: string[];
  /**
   * `BOXLITE_CGROUP`: a cgroup v2 directory delegated to boxlite, under which each jailed
   * box gets its own (docs/security.md); unset: /sys/fs/cgroup, for root only.
   */
  cgroup?: string;
  /**
   * `BOXLITE_JAIL_ENV` (names, comma-separated; default RUST_LOG, libkrun's log filter): the
   * environment variables a jailed VMM and its helpers keep, with their values here; every
   * other one is cleared.
   */
  jailEnv: Record<string, string>;
  /** `boxlite serve --security`: the jail of every box created through the server (the operator decides, not the client); kept with each box. */
  security?: "enable" | "disable";
}

export interface ConfigFlags {
  home?: string;
  debug?: boolean;
  registries?: string[];
  configFile?: string;
  url?: string;
  /** `--vmm`: forces a VMM backend over BOXLITE_VMM. */
  vmm?: string;
}

const VMM_CHOICES: readonly VmmChoice[] = ["auto", "qemu", "krun"];
const ACCEL_CHOICES: readonly AccelChoice[] = ["auto", "kvm", "hvf", "tcg"];

function pick<T extends string>(name: string, value: string | undefined, choices: readonly T[], fallback: T): T {
  if (value === undefined || value === "") return fallback;
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new BoxliteError("invalid_argument", `${name}=${value} is not valid; use one of ${choices.join(", ")}`);
}

const DNS_SERVER = /^(\d{1,3}(\.\d{1,3}){3})(:(\d{1,5}))?$/;

/** `IP[:PORT],...` as `IP:PORT` entries (port 53 when left out). */
function dnsServers(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  return value.split(",").map((entry) => {
    const match = DNS_SERVER.exec(entry.trim());
    const octetsOk = match?.[1]?.split(".").every((octet) => Number(octet) <= 255);
    const port = Number(match?.[4] ?? 53);
    if (!match || !octetsOk || port < 1 || port > 65535)
      throw new BoxliteError("invalid_argument", `BOXLITE_DNS entry ${JSON.stringify(entry)} is not valid; give IPv4[:PORT] entries separated by commas`);
    return `${match[1]}:${port}`;
  });
}

function positiveSeconds(name: string, value: string | undefined, fallbackSeconds: number): number {
  if (value === undefined || value === "") return fallbackSeconds * 1000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new BoxliteError("invalid_argument", `${name}=${value} is not valid; give a positive number of seconds`);
  }
  return seconds * 1000;
}

export function loadConfig(flags: ConfigFlags = {}, env: Record<string, string | undefined> = process.env): Readonly<Config> {
  const rawHome = flags.home ?? env.BOXLITE_HOME ?? join(homedir(), ".boxlite");
  const uid = process.getuid?.() ?? 0;
  const config: Config = {
    home: resolve(rawHome),
    homeWasRelative: !isAbsolute(rawHome),
    runtimeDir: resolve(env.BOXLITE_RUNTIME_DIR ?? join(env.XDG_DATA_HOME ?? join(homedir(), ".local", "share"), "boxlite", "runtimes")),
    socketDir: join(tmpdir(), `bl-${uid}`),
    vmm: flags.vmm === undefined ? pick("BOXLITE_VMM", env.BOXLITE_VMM, VMM_CHOICES, "auto") : pick("--vmm", flags.vmm, VMM_CHOICES, "auto"),
    accel: pick("BOXLITE_ACCEL", env.BOXLITE_ACCEL, ACCEL_CHOICES, "auto"),
    libkrunfw: env.BOXLITE_LIBKRUNFW || undefined,
    libkrun: env.BOXLITE_LIBKRUN || undefined,
    qemu: env.BOXLITE_QEMU || undefined,
    bootTimeoutMs: positiveSeconds("BOXLITE_BOOT_TIMEOUT", env.BOXLITE_BOOT_TIMEOUT, 60),
    kernelArgs: env.BOXLITE_KERNEL_ARGS ?? "",
    guestAgent: env.BOXLITE_GUEST_AGENT ? resolve(env.BOXLITE_GUEST_AGENT) : undefined,
    templates: pick("BOXLITE_TEMPLATES", env.BOXLITE_TEMPLATES, ["on", "off"] as const, "on") === "on",
    dockerConfigPath: resolve(env.DOCKER_CONFIG ? join(env.DOCKER_CONFIG, "config.json") : join(homedir(), ".docker", "config.json")),
    debug: flags.debug ?? env.BOXLITE_DEBUG === "1",
    crashAt: env.BOXLITE_CRASH_AT || undefined,
    registries: flags.registries ?? [],
    configFile: flags.configFile === undefined ? undefined : resolve(flags.configFile),
    serveApiKey: env.BOXLITE_SERVE_API_KEY || undefined,
    reaper: {
      reconnectGraceMs: positiveSeconds("BOXLITE_RECONNECT_GRACE", env.BOXLITE_RECONNECT_GRACE, 300),
      shutdownGraceMs: positiveSeconds("BOXLITE_SHUTDOWN_GRACE", env.BOXLITE_SHUTDOWN_GRACE, 30),
      maxLifetimeMs: positiveSeconds("BOXLITE_MAX_SESSION_LIFETIME", env.BOXLITE_MAX_SESSION_LIFETIME, 86_400),
    },
    url: flags.url || env.BOXLITE_URL || env.BOXLITE_REST_URL || undefined,
    apiKey: env.BOXLITE_API_KEY || undefined,
    dnsServers: dnsServers(env.BOXLITE_DNS),
    ...(env.BOXLITE_CGROUP ? { cgroup: resolve(env.BOXLITE_CGROUP) } : {}),
    jailEnv: Object.fromEntries(
      (env.BOXLITE_JAIL_ENV ?? "RUST_LOG").split(",").flatMap((name) => {
        const value = env[name.trim()];
        return value === undefined ? [] : [[name.trim(), value]];
      }),
    ),
  };
  return Object.freeze(config);
}

/**
 * The environment for a child process, as it is now plus `overrides`: Bun.spawn without
 * `env` passes the environment as it was at startup, which misses later changes.
 */
export function childEnv(overrides: Record<string, string> = {}): Record<string, string | undefined> {
  return { ...process.env, ...overrides };
}
