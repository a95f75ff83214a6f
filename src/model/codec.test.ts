import { describe, expect, test } from "bun:test";
import { parseArgs } from "node:util";
import type { BoxConfigJson } from "../db/boxes.ts";
import { type BoxOptions, checkBoxOptions } from "./box-options.ts";
import { boxFlags, cliFromOptions, optionsFromCli, optionsFromRecord, optionsFromRequest, recordWith, requestFromOptions } from "./codec.ts";
import { CreateBoxRequest } from "./create-request.ts";
import { FIELD_NAMES, FIELDS } from "./fields.ts";
import { Value } from "@sinclair/typebox/value";

/** `run ARGV` as the CLI parses it (cli/args.ts splits at IMAGE the same way; here `--` marks the command). */
function parseRun(argv: string[]): BoxOptions {
  const dashes = argv.indexOf("--");
  const own = dashes < 0 ? argv : argv.slice(0, dashes);
  const rest = dashes < 0 ? [] : argv.slice(dashes + 1);
  const { values, positionals } = parseArgs({ args: own, options: boxFlags(), strict: true, allowPositionals: true });
  return optionsFromCli({ command: "run", values, ...(positionals[0] !== undefined ? { operand: positionals[0] } : {}), rest });
}

/** An empty BoxConfig, as a new box's record starts. */
function emptyRecord(): BoxConfigJson {
  return { id: "b1", created_at: "2026-12-06T00:00:00Z", options: {} };
}

/**
 * CLI (when the option has a flag) → options → record → options → REST → options. An
 * option neither REST contract has (ports) is left out by the REST step, and put back from
 * the record so the other options' round trip is still checked whole.
 */
function roundTrip(options: BoxOptions, withCli: boolean): BoxOptions {
  const parsed = withCli ? parseRun(cliFromOptions(options)) : options;
  const stored = optionsFromRecord(recordWith(emptyRecord(), parsed));
  const request = requestFromOptions(stored);
  // What a client sends must be what the server's schema takes.
  expect(Value.Errors(CreateBoxRequest, request).First()).toBeUndefined();
  const viaRest = optionsFromRequest(JSON.parse(JSON.stringify(request)));
  for (const name of FIELD_NAMES) if (!FIELDS[name].rest && stored[name] !== undefined) Object.assign(viaRest, { [name]: stored[name] });
  return viaRest;
}

describe("every option survives every form", () => {
  for (const name of FIELD_NAMES) {
    const codec = FIELDS[name];
    for (const sample of codec.samples) {
      test(`${name} = ${JSON.stringify(sample)}`, () => {
        const options: BoxOptions = { [name]: sample };
        expect(roundTrip(options, codec.cli !== undefined)[name]).toEqual(sample);
      });
    }
  }

  test("all of them at once, through the CLI too where they have a flag", () => {
    const all: BoxOptions = {};
    for (const name of FIELD_NAMES) Object.assign(all, { [name]: FIELDS[name].samples[0] });
    // One image or one rootfs, not both.
    delete all.rootfsPath;
    const viaCli = roundTrip(all, true);
    for (const name of FIELD_NAMES) {
      if (name === "rootfsPath") continue;
      if (FIELDS[name].cli) expect(viaCli[name]).toEqual(all[name]);
    }
    expect(roundTrip(all, false)).toEqual(all);
  });

  test("no option set stays no option set (but the CLI's: a foreground run is not detached)", () => {
    for (const name of FIELD_NAMES) expect(FIELDS[name].samples.length).toBeGreaterThan(0);
    expect(roundTrip({}, true)).toEqual({ detach: false });
    expect(roundTrip({}, false)).toEqual({});
  });
});

/** A box record as the reference (0.9.x, serde) writes it, with options and fields this version does not use. */
function referenceRecord(): BoxConfigJson {
  return {
    id: "Zk3x9Qw2Lp0a",
    name: "ref-box",
    created_at: "2026-07-01T10:00:00.123456Z",
    container: { id: "a".repeat(64) },
    options: {
      cpus: 2,
      memory_mib: 1024,
      disk_size_gb: 20,
      working_dir: "/app",
      env: [
        ["A", "1"],
        ["B", "2"],
      ],
      rootfs: { Image: "python:3.12-slim" },
      volumes: [{ host_path: "/home/u/src", guest_path: "/src", read_only: true }],
      network: { Enabled: { allow_net: ["pypi.org"] } },
      inbound_network: { Enabled: { allow_net: [] } },
      ports: [{ host_port: 8080, guest_port: 80, protocol: "tcp", host_ip: null }],
      auto_remove: true,
      auto_stop: null,
      auto_delete: 0,
      auto_resume: null,
      detach: true,
      advanced: { capabilities: { add: ["SYS_ADMIN"], drop: [] }, isolate_mounts: false, health_check: null },
      entrypoint: null,
      cmd: ["python", "-m", "http.server"],
      user: "1000:1000",
      tty: false,
      secrets: [{ name: "k", hosts: ["api.example.com"], placeholder: "<BOXLITE_SECRET:k>", value: "s3cret" }],
    },
    rootfs_backend: "Legacy",
    engine_kind: "Libkrun",
    box_home: "/home/u/.boxlite/boxes/Zk3x9Qw2Lp0a",
  };
}

describe("a record the reference wrote", () => {
  test("reads as the options it means (auto_delete 0 keeps the box whatever auto_remove says)", () => {
    expect(optionsFromRecord(referenceRecord())).toEqual({
      ports: [{ hostPort: 8080, boxPort: 80 }],
      image: "python:3.12-slim",
      name: "ref-box",
      cpus: 2,
      memoryMib: 1024,
      diskSizeGb: 20,
      env: { A: "1", B: "2" },
      workingDir: "/app",
      cmd: ["python", "-m", "http.server"],
      user: "1000:1000",
      tty: false,
      autoRemove: false,
      detach: true,
      network: { mode: "enabled", allowNet: ["pypi.org"] },
      volumes: [{ hostPath: "/home/u/src", guestPath: "/src", readOnly: true }],
      capabilities: { add: ["SYS_ADMIN"], drop: [] },
    });
  });

  test("survives a read-modify-write unchanged, fields we do not use included", () => {
    const original = referenceRecord();
    expect(recordWith(original, optionsFromRecord(original))).toEqual(referenceRecord());
  });

  test("a changed option rewrites that option alone", () => {
    const changed = recordWith(referenceRecord(), { ...optionsFromRecord(referenceRecord()), cpus: 4, env: { A: "1", B: "2", C: "3" } });
    const expected = referenceRecord();
    expected.options.cpus = 4;
    expected.options.env = [
      ["A", "1"],
      ["B", "2"],
      ["C", "3"],
    ];
    expect(changed).toEqual(expected);
  });

  test("values of a foreign shape are left out, not misread", () => {
    const odd = { ...emptyRecord(), options: { cpus: "two", env: [["A"], ["B", "1"], "C=2"], rootfs: { Unknown: 1 }, network: "Isolated", tty: 1 } };
    expect(optionsFromRecord(odd)).toEqual({ env: { B: "1" } });
  });
});

describe("the REST create request", () => {
  test("what the 0.9.7 client sends on every create is accepted", () => {
    const request = { name: "min", image: "alpine:latest", network: { mode: "enabled" as const }, auto_remove: false, detach: false };
    expect(Value.Check(CreateBoxRequest, request)).toBe(true);
    expect(optionsFromRequest(request)).toEqual({
      name: "min",
      image: "alpine:latest",
      network: { mode: "enabled", allowNet: [] },
      autoRemove: false,
      detach: false,
    });
  });

  test("what the 0.10 client sends on every create is accepted: outbound is the network, inbound a tunnel policy", () => {
    const request = {
      name: "min",
      image: "alpine:latest",
      network: { outbound: { mode: "enabled" as const }, inbound: { mode: "enabled" as const } },
      detach: false,
    };
    expect(Value.Check(CreateBoxRequest, request)).toBe(true);
    expect(optionsFromRequest(request).network).toEqual({ mode: "enabled", allowNet: [] });
    expect(optionsFromRequest({ network: { outbound: { mode: "disabled" }, inbound: { mode: "enabled" } } }).network).toEqual({
      mode: "disabled",
      allowNet: [],
    });
    expect(optionsFromRequest({ network: { mode: "disabled" } }).network).toEqual({ mode: "disabled", allowNet: [] });
    // allow_net without mode implies enabled (the newer contract's note on the flat shape).
    expect(optionsFromRequest({ network: { allow_net: ["a.example"] } }).network).toEqual({ mode: "enabled", allowNet: ["a.example"] });
  });

  test("both network shapes at once, and an inbound allow-list, are 400s", () => {
    expect(() => optionsFromRequest({ network: { mode: "enabled", outbound: { mode: "enabled" } } })).toThrow(/mixes the flat/);
    expect(() => optionsFromRequest({ network: { allow_net: [], inbound: { mode: "disabled" } } })).toThrow(/mixes the flat/);
    expect(() => optionsFromRequest({ network: { outbound: { mode: "enabled" }, inbound: { mode: "enabled", allow_net: ["x"] } } })).toThrow(
      /inbound.allow_net is not supported/,
    );
    // An empty one is allowed, as the contract says.
    expect(optionsFromRequest({ network: { inbound: { mode: "enabled", allow_net: [] } } }).network).toBeUndefined();
  });

  test("the lifecycle fields of both clients: auto_remove, auto_delete (which wins), auto_stop 0, auto_resume", () => {
    expect(optionsFromRequest({ auto_remove: true }).autoRemove).toBe(true);
    expect(optionsFromRequest({ auto_remove: true, auto_delete: 0 }).autoRemove).toBe(false);
    expect(optionsFromRequest({ auto_delete: 30 }).autoRemove).toBe(true);
    expect(optionsFromRequest({ auto_stop: 0, auto_pause: 0, auto_resume: true })).toEqual({});
    expect(() => optionsFromRequest({ auto_stop: 900 })).toThrow(/auto_stop is not supported/);
    expect(() => optionsFromRequest({ auto_pause: 1 })).toThrow(/auto_stop is not supported/);
  });

  test("host-path volumes and managed (named) volumes are taken", () => {
    const managed = { volumes: [{ managed_volume: "vol_1", guest_path: "/data", read_only: false }] };
    const host = { volumes: [{ host_path: "/srv", guest_path: "/data" }] };
    expect(Value.Check(CreateBoxRequest, managed)).toBe(true);
    expect(Value.Check(CreateBoxRequest, host)).toBe(true);
    expect(optionsFromRequest(managed).volumes).toEqual([{ volume: "vol_1", guestPath: "/data", readOnly: false }]);
    expect(optionsFromRequest(host).volumes).toEqual([{ hostPath: "/srv", guestPath: "/data", readOnly: false }]);
    expect(optionsFromRequest({ volumes: [] })).toEqual({});
  });

  test("an anonymous volume made by create is recorded as a host path with our anonymous flag, and read back", () => {
    const volume = { hostPath: "/home/u/.boxlite/volumes/anonymous/01j", guestPath: "/cache", readOnly: false, anonymous: true } as const;
    const config = recordWith(emptyRecord(), { volumes: [volume] });
    expect(config.options.volumes).toEqual([{ host_path: volume.hostPath, guest_path: "/cache", read_only: false, anonymous: true }]);
    expect(optionsFromRecord(config).volumes).toEqual([volume]);
  });

  test("a named volume is recorded as its data directory with our volume id, and read back", () => {
    const volume = { hostPath: "/home/u/.boxlite/volumes/named/01k/data", guestPath: "/data", readOnly: true, volume: "01k" } as const;
    const config = recordWith(emptyRecord(), { volumes: [volume] });
    expect(config.options.volumes).toEqual([{ host_path: volume.hostPath, guest_path: "/data", read_only: true, volume: "01k" }]);
    expect(optionsFromRecord(config).volumes).toEqual([volume]);
  });

  test("disk_size_gb is taken (whole GiB, 1 to 2048) and written where the reference's BoxOptions keeps it", () => {
    expect(optionsFromRequest({ disk_size_gb: 8 })).toEqual({ diskSizeGb: 8 });
    expect(requestFromOptions({ diskSizeGb: 8 })).toEqual({ disk_size_gb: 8 });
    expect(recordWith(emptyRecord(), { diskSizeGb: 8 }).options).toEqual({ disk_size_gb: 8 });
    expect(optionsFromRecord({ ...emptyRecord(), options: { disk_size_gb: 8 } })).toEqual({ diskSizeGb: 8 });
    expect(optionsFromRecord({ ...emptyRecord(), options: { disk_size_gb: null } })).toEqual({});
    for (const bad of [0, -1, 2049, 1.5, "8"]) expect(Value.Check(CreateBoxRequest, { disk_size_gb: bad })).toBe(false);
    expect(Value.Check(CreateBoxRequest, { disk_size_gb: 2048 })).toBe(true);
  });

  test("null is left out, as serde's Option", () => {
    expect(optionsFromRequest({ name: null, image: null, cpus: null, env: null, cmd: null, network: null, detach: null })).toEqual({});
  });
});

describe("the CLI", () => {
  test("docker's run flags map to the options", () => {
    expect(
      parseRun(["-e", "A=1", "-e", "A=2", "-w", "/w", "-u", "1:2", "--cpus", "2", "--memory", "256", "--rm", "--name", "n", "alpine", "--", "echo", "hi"]),
    ).toEqual({
      image: "alpine",
      env: { A: "2" },
      workingDir: "/w",
      user: "1:2",
      cpus: 2,
      memoryMib: 256,
      autoRemove: true,
      name: "n",
      cmd: ["echo", "hi"],
      detach: false,
    });
    expect(parseRun(["--entrypoint", ""]).entrypoint).toEqual([]);
    expect(parseRun(["-d"]).detach).toBe(true);
    expect(optionsFromCli({ command: "create", values: {}, rest: [] }).detach).toBe(true);
  });

  test("--disk-size takes whole GB, and a new box's check says what is allowed", () => {
    expect(parseRun(["--disk-size", "8"]).diskSizeGb).toBe(8);
    expect(cliFromOptions({ diskSizeGb: 20 })).toEqual(["--disk-size", "20"]);
    expect(() => parseRun(["--disk-size", "1.5"])).toThrow(/--disk-size "1.5" is not a whole number/);
    expect(() => parseRun(["--disk-size", "8G"])).toThrow(/--disk-size "8G" is not a whole number/);
    for (const bad of [0, -1, 2049, 1e6, 1.5]) {
      expect(() => checkBoxOptions({ diskSizeGb: bad })).toThrow(`--disk-size (GB) ${bad} is out of range; use a whole number from 1 to 2048`);
    }
    for (const good of [1, 2048]) expect(() => checkBoxOptions({ diskSizeGb: good })).not.toThrow();
  });

  test("bad values say which flag", () => {
    expect(() => parseRun(["--cpus", "two"])).toThrow(/--cpus "two" is not a whole number/);
    expect(() => parseRun(["-e", "NOEQUALS"])).toThrow(/invalid environment entry "NOEQUALS"/);
    expect(() => parseRun(["-e", "1A=x"])).toThrow(/invalid environment entry/);
    expect(() => parseRun(["--network", "off"])).toThrow(/--network "off": use enabled or disabled/);
    expect(() => parseRun(["-p", "53/udp"])).toThrow(/UDP ports cannot be published/);
    expect(() => parseRun(["-p", "70000"])).toThrow(/the box port 70000 is outside 1-65535/);
    expect(() => parseRun(["-p", "x:80"])).toThrow(/the host port "x" is not a port number/);
    expect(() => parseRun(["-p", "::1:80:80"])).toThrow(/IPv6 host addresses are not supported/);
  });

  test("-p reads docker's forms; --allow-net alone turns the network on", () => {
    expect(parseRun(["-p", "80", "-p", "8080:80", "-p", "127.0.0.2::22/tcp", "-p", "0.0.0.0:9000:9000"]).ports).toEqual([
      { boxPort: 80 },
      { hostPort: 8080, boxPort: 80 },
      { hostIp: "127.0.0.2", boxPort: 22 },
      { hostIp: "0.0.0.0", hostPort: 9000, boxPort: 9000 },
    ]);
    expect(parseRun(["--allow-net", "a.example", "--allow-net", "10.0.0.0/8"]).network).toEqual({ mode: "enabled", allowNet: ["a.example", "10.0.0.0/8"] });
    expect(parseRun(["--network", "disabled"]).network).toEqual({ mode: "disabled", allowNet: [] });
  });
});
