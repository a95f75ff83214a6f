import { expect, test } from "bun:test";
import { errorOf } from "../../test/helpers/errors.ts";
import { allowRuleProblem, checkNetworkOptions, parsePortSpec, portSpecOf } from "./network.ts";

const ON = { mode: "enabled" as const, allowNet: [] };

test("allow-list rules: names, wildcards, IPs and CIDRs pass; malformed ones say what is wrong", () => {
  for (const rule of [
    "example.com",
    "EXAMPLE.com.",
    "*.example.com",
    "a-b.c_d.example",
    "10.1.2.3",
    "10.0.0.0/8",
    "0.0.0.0/0",
    "10.0.0.5/32",
    "192.168.4.0/22",
  ])
    expect(allowRuleProblem(rule)).toBeUndefined();
  expect(allowRuleProblem("")).toBe("is empty");
  expect(allowRuleProblem("*.")).toMatch(/not \*\. followed by a host name/);
  expect(allowRuleProblem("*")).toMatch(/not a host name/);
  expect(allowRuleProblem("10.0.0.0/33")).toMatch(/not a CIDR/);
  expect(allowRuleProblem("10.0.0/8")).toMatch(/not a CIDR/);
  expect(allowRuleProblem("10.0.0.5/8")).toBe("has host bits set below /8; the network is 10.0.0.0/8");
  expect(allowRuleProblem("192.168.5.0/22")).toBe("has host bits set below /22; the network is 192.168.4.0/22");
  expect(allowRuleProblem("010.0.0.1")).toMatch(/not an IPv4 address/);
  expect(allowRuleProblem("-a.example")).toMatch(/not a host name/);
  expect(allowRuleProblem("300.1.1.1")).toMatch(/not an IPv4 address/);
  expect(allowRuleProblem("::1")).toMatch(/IPv6/);
  expect(allowRuleProblem("a..b")).toMatch(/not a host name/);
  expect(allowRuleProblem(`${"a".repeat(64)}.com`)).toMatch(/not a host name/);
  expect(allowRuleProblem("exa mple.com")).toMatch(/not a host name/);
});

test("a port spec and its -p spelling read back the same", () => {
  for (const spec of ["80", "8080:80", "127.0.0.1::80", "127.0.0.1:9000:80", "0.0.0.0:1:65535"]) {
    const port = parsePortSpec(spec);
    expect(parsePortSpec(portSpecOf(port))).toEqual(port);
  }
  expect(parsePortSpec("0:80")).toEqual({ boxPort: 80 });
  expect(() => parsePortSpec("0")).toThrow(/the box port 0 is outside 1-65535/);
  expect(() => parsePortSpec("80/sctp")).toThrow(/unknown protocol "sctp"/);
  expect(() => parsePortSpec("80/tcp/x")).toThrow(/too many \//);
  expect(() => parsePortSpec("1.2.3:80:80")).toThrow(/not an IPv4 address/);
  expect(errorOf(() => parsePortSpec("80/udp")).code).toBe("unsupported");
  expect(errorOf(() => parsePortSpec("80:")).code).toBe("usage");
});

test("network options that do not fit together are refused with the caller's code, naming the flag", () => {
  expect(() => checkNetworkOptions(ON, [{ boxPort: 80 }, { hostPort: 8080, boxPort: 81 }], "usage")).not.toThrow();
  expect(() => checkNetworkOptions({ mode: "enabled", allowNet: ["*."] }, undefined, "usage")).toThrow(/--allow-net \(allow_net\) "\*\." is not/);
  expect(errorOf(() => checkNetworkOptions({ mode: "enabled", allowNet: [""] }, undefined, "usage")).code).toBe("usage");
  expect(errorOf(() => checkNetworkOptions({ mode: "enabled", allowNet: [""] }, undefined, "invalid_argument")).code).toBe("invalid_argument");
  expect(() => checkNetworkOptions({ mode: "disabled", allowNet: [] }, [{ boxPort: 80 }], "usage")).toThrow(/--network disabled gives it none/);
  expect(() =>
    checkNetworkOptions(
      ON,
      [
        { hostPort: 8080, boxPort: 80 },
        { hostPort: 8080, boxPort: 81 },
      ],
      "usage",
    ),
  ).toThrow(/host port 8080 is published twice/);
  expect(() =>
    checkNetworkOptions(
      ON,
      [
        { hostIp: "0.0.0.0", hostPort: 8080, boxPort: 80 },
        { hostPort: 8080, boxPort: 81 },
      ],
      "usage",
    ),
  ).toThrow(/published twice/);
  expect(() =>
    checkNetworkOptions(
      ON,
      [
        { hostPort: 8080, boxPort: 80 },
        { hostIp: "0.0.0.0", hostPort: 8080, boxPort: 81 },
      ],
      "usage",
    ),
  ).toThrow(/published twice/);
  // Two OS-picked ports never collide; the same host port on two loopback addresses does not either.
  expect(() =>
    checkNetworkOptions(ON, [{ boxPort: 80 }, { boxPort: 81 }, { hostIp: "127.0.0.2", hostPort: 8080, boxPort: 1 }, { hostPort: 8080, boxPort: 2 }], "usage"),
  ).not.toThrow();
  // TEST-NET-3 is never a host's own address.
  expect(() => checkNetworkOptions(ON, [{ hostIp: "203.0.113.7", boxPort: 80 }], "usage")).toThrow(/this host has no address 203.0.113.7/);
});
