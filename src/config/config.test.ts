import { expect, test } from "bun:test";
import { loadConfig } from "./config.ts";

test("the boot timeout defaults to 60 seconds and is given in seconds", () => {
  expect(loadConfig({ home: "/h" }, {}).bootTimeoutMs).toBe(60_000);
  expect(loadConfig({ home: "/h" }, { BOXLITE_BOOT_TIMEOUT: "2.5" }).bootTimeoutMs).toBe(2500);
  expect(() => loadConfig({ home: "/h" }, { BOXLITE_BOOT_TIMEOUT: "soon" })).toThrow(/BOXLITE_BOOT_TIMEOUT=soon is not valid/);
});

test("a relative home is resolved and flagged; flags beat the environment", () => {
  const config = loadConfig({ home: "rel/home" }, { BOXLITE_HOME: "/env/home" });
  expect(config.home).toBe(`${process.cwd()}/rel/home`);
  expect(config.homeWasRelative).toBe(true);
  expect(loadConfig({}, { BOXLITE_HOME: "/env/home" }).home).toBe("/env/home");
});

test("unknown VMM and accelerator names are refused with the valid choices", () => {
  expect(() => loadConfig({ home: "/h" }, { BOXLITE_VMM: "xen" })).toThrow(/BOXLITE_VMM=xen is not valid; use one of auto, qemu, krun/);
  expect(() => loadConfig({ home: "/h" }, { BOXLITE_ACCEL: "fast" })).toThrow(/use one of auto, kvm, hvf, tcg/);
  expect(loadConfig({ home: "/h" }, { BOXLITE_ACCEL: "tcg" }).accel).toBe("tcg");
});

test("the configuration is frozen", () => {
  expect(Object.isFrozen(loadConfig({ home: "/h" }, {}))).toBe(true);
});

test("serve's reaper graces default to the reference's and follow its variables, in seconds", () => {
  expect(loadConfig({}, {}).reaper).toEqual({ reconnectGraceMs: 300_000, shutdownGraceMs: 30_000, maxLifetimeMs: 86_400_000 });
  const set = loadConfig({}, { BOXLITE_RECONNECT_GRACE: "5", BOXLITE_SHUTDOWN_GRACE: "1.5", BOXLITE_MAX_SESSION_LIFETIME: "60" }).reaper;
  expect(set).toEqual({ reconnectGraceMs: 5000, shutdownGraceMs: 1500, maxLifetimeMs: 60_000 });
  expect(() => loadConfig({}, { BOXLITE_RECONNECT_GRACE: "soon" })).toThrow(/BOXLITE_RECONNECT_GRACE=soon is not valid/);
});

test("BOXLITE_DNS names the boxes' upstream resolvers, port 53 when left out; a malformed entry is refused", () => {
  expect(loadConfig({ home: "/h" }, {}).dnsServers).toBeUndefined();
  expect(loadConfig({ home: "/h" }, { BOXLITE_DNS: "127.0.0.1:5353, 10.0.0.1" }).dnsServers).toEqual(["127.0.0.1:5353", "10.0.0.1:53"]);
  expect(() => loadConfig({ home: "/h" }, { BOXLITE_DNS: "dns.example" })).toThrow(/BOXLITE_DNS entry "dns.example" is not valid/);
  expect(() => loadConfig({ home: "/h" }, { BOXLITE_DNS: "1.2.3.256" })).toThrow(/is not valid/);
  expect(() => loadConfig({ home: "/h" }, { BOXLITE_DNS: "1.2.3.4:0" })).toThrow(/is not valid/);
});
