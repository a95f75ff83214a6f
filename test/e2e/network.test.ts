/**
 * Boxes on the network, end to end on real VMs: NAT to test hosts in a network namespace
 * of this test's own, names from a resolver this test runs, the host alias, the
 * allow-list and every bypass root in the box tries, published ports, tunnels, figures,
 * and the network process dying with its box. No packet leaves this machine: the only
 * destinations are 127.0.0.1 and the test hosts' 10.231.X.0/24 (test/fixtures/net).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, type Server } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { DnsServer } from "../fixtures/net/dns.ts";
import { createTestHosts, deterministicBytes, sha256Hex, type TestHosts } from "../fixtures/net/hosts.ts";
import { cliCommand, REPO, runCli, waitFor } from "../helpers/cli.ts";
import { startServeProcess } from "../helpers/serve.ts";
import { TempDirs } from "../helpers/temp.ts";

const BIG = deterministicBytes(50 * 1024 * 1024, 7);
const temp = new TempDirs();
let hosts: TestHosts;
let dns: DnsServer;
/** files.test (denied under the allow-list), allowed.test and denied.test (sharing one address, as on a CDN), an IP rule's, a CIDR rule's. */
let filesIp: string;
let sharedIp: string;
let ipRuleIp: string;
let cidrIp: string;
let cidrRule: string;
let hostService: Server;
let hostServicePort: number;
const savedDns = process.env.BOXLITE_DNS;

async function inBox(box: string, script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli(["exec", box, "--", "sh", "-c", script]);
}

async function inspect(
  box: string,
): Promise<{ Id: string; NetworkSettings: { Mode: string; AllowNet: string[]; Ports: Record<string, Array<{ HostIp: string; HostPort: string }>> } }> {
  return JSON.parse((await runCli(["inspect", box])).stdout)[0];
}

/** The first bytes a TLS client sends for `name`: openssl's ClientHello, caught by a listener on 127.0.0.1 that answers nothing. */
async function clientHello(name: string): Promise<Uint8Array> {
  const caught = Promise.withResolvers<Uint8Array>();
  const server = createServer((socket) => socket.once("data", (chunk: Buffer) => caught.resolve(new Uint8Array(chunk))));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const client = Bun.spawn(["openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-servername", name], {
    stdin: "pipe",
    stdout: "ignore",
    stderr: "ignore",
  });
  const bytes = await caught.promise;
  client.kill();
  server.close();
  return bytes;
}

beforeAll(async () => {
  hosts = await createTestHosts({ addresses: 6 });
  const [a1, a2, a3, , a5] = hosts.addresses as [string, string, string, string, string, string];
  [filesIp, sharedIp, ipRuleIp, cidrIp] = [a1, a2, a3, a5];
  cidrRule = `${a5}/31`;
  await hosts.serveHttp({ address: a1, routes: { "/big": BIG, "/hello": "hello from files.test\n" } });
  await hosts.serveNames({ address: a2 });
  await hosts.serveHttp({ address: a3, port: 8000, routes: { "/": "ip rule\n" } });
  await hosts.serveHttp({ address: a5, port: 8000, routes: { "/": "cidr rule\n" } });
  // A resolver in the test hosts that would answer what the box's may not: the box must not reach it.
  await hosts.serveDns({ "files.test": a1 }, { address: a1 });
  // UDP to an address an IP rule allows passes (busybox's nc has no UDP: nslookup to a resolver there is the probe).
  await hosts.serveDns({ "udp.test": a3 }, { address: a3 });
  dns = await hosts.startUpstreamDns({
    "files.test": a1,
    "allowed.test": a2,
    "denied.test": a2,
    "x.wild.test": a2,
  });
  process.env.BOXLITE_DNS = `127.0.0.1:${dns.port}`;
  hostService = createServer((socket) => socket.end("HTTP/1.1 200 OK\r\nContent-Length: 15\r\nConnection: close\r\n\r\nhello from host"));
  await new Promise<void>((resolve) => hostService.listen(0, "127.0.0.1", resolve));
  hostServicePort = (hostService.address() as { port: number }).port;
}, 120_000);

afterAll(async () => {
  hostService?.close();
  await hosts?.dispose();
  temp.removeAll();
  process.env.BOXLITE_DNS = savedDns;
});

describe("a box with the default network", () => {
  const box = "net-default";
  beforeAll(async () => {
    const started = await runCli(["run", "-d", "--name", box, "--", "sleep", "100000"]);
    expect(started.code).toBe(0);
  });
  afterAll(async () => void (await runCli(["rm", "-f", box])));

  test("has eth0 at 192.168.127.2/24, a default route via 192.168.127.1, and the gateway as its resolver", async () => {
    const result = await inBox(box, "ip -4 addr show eth0; ip route; cat /etc/resolv.conf; cat /sys/class/net/eth0/mtu");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("inet 192.168.127.2/24");
    expect(result.stdout).toMatch(/^default via 192\.168\.127\.1 dev eth0/m);
    expect(result.stdout).toMatch(/^nameserver 192\.168\.127\.1$/m);
    expect(result.stdout).toMatch(/^1500$/m);
    const view = await inspect(box);
    expect(view.NetworkSettings).toMatchObject({ Mode: "enabled", AllowNet: [], Ports: {} });
  });

  test("resolves names through the test's resolver and downloads 50 MB from a test host byte for byte", async () => {
    const looked = await inBox(box, "nslookup files.test");
    expect(looked.stdout).toContain(filesIp);
    const result = await inBox(box, "wget -q -O - http://files.test/big | sha256sum");
    expect(result.code).toBe(0);
    expect(result.stdout.split(" ")[0]).toBe(sha256Hex(BIG));
  });

  test("host.boxlite.internal reaches the host's 127.0.0.1", async () => {
    const result = await inBox(box, `nslookup host.boxlite.internal; wget -q -O - http://host.boxlite.internal:${hostServicePort}/`);
    expect(result.stdout).toContain("192.168.127.254");
    expect(result.stdout).toContain("hello from host");
  });

  test("its figures move: stats and the API count the bytes it received and the connections it opened", async () => {
    const stats = JSON.parse((await runCli(["stats", "--json", box])).stdout) as Array<{ network: { bytes_received: number; tcp_connections: number } | null }>;
    expect(stats[0]?.network?.bytes_received ?? 0).toBeGreaterThan(BIG.length);
    expect(stats[0]?.network?.tcp_connections ?? 0).toBeGreaterThanOrEqual(2);
  });
});

test("--network disabled: no eth0 at all, and no network process beside the VM", async () => {
  const id = (await runCli(["run", "-d", "--name", "net-off", "--network", "disabled", "--", "sleep", "100000"])).stdout.trim();
  const result = await inBox("net-off", "ls /sys/class/net");
  expect(result.code).toBe(0);
  expect(result.stdout.split(/\s+/)).toContain("lo");
  expect(result.stdout).not.toContain("eth0");
  // group.pid lists what the watchdog started: "PID START_TIME NAME" per member.
  const group = readFileSync(join(process.env.BOXLITE_HOME as string, "boxes", id, "group.pid"), "utf8");
  expect(group).toMatch(/ vmm$/m);
  expect(group).not.toMatch(/ net$/m);
  expect((await inspect("net-off")).NetworkSettings).toMatchObject({ Mode: "disabled", IPAddress: "" });
  expect((await runCli(["rm", "-f", "net-off"])).code).toBe(0);
});

describe("a box with an allow-list", () => {
  const box = "net-allow";
  let ipRulePort: number;
  beforeAll(async () => {
    ipRulePort = 8000;
    const started = await runCli([
      "run",
      "-d",
      "--name",
      box,
      "--allow-net",
      "allowed.test",
      "--allow-net",
      "*.wild.test",
      "--allow-net",
      ipRuleIp,
      "--allow-net",
      cidrRule,
      "--",
      "sleep",
      "100000",
    ]);
    expect(started.code).toBe(0);
    const hello = temp.make("net-hello-");
    await Bun.write(join(hello, "allowed.bin"), await clientHello("allowed.test"));
    await Bun.write(join(hello, "denied.bin"), await clientHello("denied.test"));
    expect((await runCli(["cp", join(hello, "allowed.bin"), `${box}:/tmp/allowed.bin`])).code).toBe(0);
    expect((await runCli(["cp", join(hello, "denied.bin"), `${box}:/tmp/denied.bin`])).code).toBe(0);
  });
  afterAll(async () => void (await runCli(["rm", "-f", box])));

  test("reaches what each rule form allows: a name over HTTPS and HTTP, a wildcard, an IP, a CIDR", async () => {
    const https = await inBox(box, "wget -q --no-check-certificate -O - https://allowed.test/");
    expect(https.stdout).toContain("sni=allowed.test");
    const http = await inBox(box, "wget -q -O - http://allowed.test/");
    expect(http.stdout).toContain("host=allowed.test");
    const wild = await inBox(box, "wget -q --no-check-certificate -O - https://x.wild.test/");
    expect(wild.stdout).toContain("sni=x.wild.test");
    expect((await inBox(box, `wget -q -O - http://${ipRuleIp}:${ipRulePort}/`)).stdout).toBe("ip rule\n");
    expect((await inBox(box, `wget -q -O - http://${cidrIp}:${ipRulePort}/`)).stdout).toBe("cidr rule\n");
    expect((await inBox(box, `wget -q -O - http://host.boxlite.internal:${hostServicePort}/`)).stdout).toBe("hello from host");
  });

  test("a name it may not reach does not resolve, and the upstream resolver is never asked", async () => {
    const before = dns.count("files.test");
    const result = await inBox(box, "nslookup files.test");
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/NXDOMAIN|can't resolve/);
    expect(dns.count("files.test")).toBe(before);
  });

  test("root in the box cannot get around it", async () => {
    // A raw IP connection to a host no rule allows.
    expect((await inBox(box, `wget -q -T 5 -O - http://${filesIp}/hello`)).code).not.toBe(0);
    // Its own resolver, and another DNS server address in resolv.conf.
    expect((await inBox(box, `nslookup files.test ${filesIp}`)).stdout).not.toContain(filesIp);
    const rewritten = await inBox(
      box,
      `cp /etc/resolv.conf /tmp/r; echo nameserver ${filesIp} > /etc/resolv.conf; nslookup files.test; cp /tmp/r /etc/resolv.conf`,
    );
    expect(rewritten.stdout).not.toContain(`Address: ${filesIp}`);
    // A changed route: everything still goes through the host's stack.
    const rerouted = await inBox(
      box,
      `ip route del default; ip route add default via 192.168.127.254; wget -q -T 5 -O - http://${filesIp}/hello; code=$?; ip route del default; ip route add default via 192.168.127.1; exit $code`,
    );
    expect(rerouted.code).not.toBe(0);
    expect(rerouted.stdout).not.toContain("hello from files.test");
    // UDP to a host no rule allows is dropped (the resolver above never answers); to an address an IP rule allows it passes.
    expect((await inBox(box, `nslookup files.test ${filesIp}`)).stdout).not.toContain(`Address: ${filesIp}`);
    expect((await inBox(box, `nslookup udp.test ${ipRuleIp}`)).stdout).toContain(`Address: ${ipRuleIp}`);
    // A denied name on an allowed name's address (one IP serving both, as a CDN): TLS SNI and HTTP Host decide.
    expect((await inBox(box, "nslookup allowed.test")).stdout).toContain(sharedIp);
    expect((await inBox(box, `nc -w 3 ${sharedIp} 443 < /tmp/allowed.bin | wc -c`)).stdout.trim()).not.toBe("0");
    expect((await inBox(box, `nc -w 3 ${sharedIp} 443 < /tmp/denied.bin | wc -c`)).stdout.trim()).toBe("0");
    const spoofedHost = await inBox(box, `printf 'GET / HTTP/1.1\\r\\nHost: denied.test\\r\\nConnection: close\\r\\n\\r\\n' | nc -w 3 ${sharedIp} 80`);
    expect(spoofedHost.stdout).not.toContain("host=");
    const realHost = await inBox(box, `printf 'GET / HTTP/1.1\\r\\nHost: allowed.test\\r\\nConnection: close\\r\\n\\r\\n' | nc -w 3 ${sharedIp} 80`);
    expect(realHost.stdout).toContain("host=allowed.test");
  });

  test("a restart keeps the allow-list", async () => {
    expect((await runCli(["stop", box])).code).toBe(0);
    expect((await runCli(["start", box])).code).toBe(0);
    expect((await inspect(box)).NetworkSettings.AllowNet).toEqual(["allowed.test", "*.wild.test", ipRuleIp, cidrRule]);
    expect((await inBox(box, `wget -q -T 5 -O - http://${filesIp}/hello`)).code).not.toBe(0);
    expect((await inBox(box, "wget -q -O - http://allowed.test/")).stdout).toContain("host=allowed.test");
  });
});

describe("published ports and tunnels", () => {
  const box = "net-ports";
  let fixedPort: number;
  beforeAll(async () => {
    // A free port now, for the fixed mapping (the OS may hand it out again, but not within this test).
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    fixedPort = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const serve = "mkdir -p /www && echo served from the box > /www/index.html && httpd -p 8080 -h /www && exec httpd -f -p 8081 -h /www";
    const started = await runCli(["run", "-d", "--name", box, "-p", "8080", "-p", `${fixedPort}:8081`, "--", "sh", "-c", serve]);
    expect(started.code).toBe(0);
  });
  afterAll(async () => void (await runCli(["rm", "-f", box])));

  test("-p with an OS-picked and a chosen host port: inspect, ls and the host's curl agree", async () => {
    const ports = (await inspect(box)).NetworkSettings.Ports;
    const picked = ports["8080/tcp"]?.[0];
    expect(picked?.HostIp).toBe("127.0.0.1");
    expect(Number(picked?.HostPort)).toBeGreaterThan(0);
    expect(ports["8081/tcp"]).toEqual([{ HostIp: "127.0.0.1", HostPort: String(fixedPort) }]);
    const ls = await runCli(["ls"]);
    expect(ls.stdout).toContain(`127.0.0.1:${picked?.HostPort}->8080/tcp, 127.0.0.1:${fixedPort}->8081/tcp`);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${fixedPort}/`).catch(() => undefined))?.ok === true, 30_000, "the box's httpd");
    expect(await (await fetch(`http://127.0.0.1:${picked?.HostPort}/`)).text()).toBe("served from the box\n");
    expect(await (await fetch(`http://127.0.0.1:${fixedPort}/`)).text()).toBe("served from the box\n");
  });

  test("a taken host port fails the start, saying which; nothing keeps running", async () => {
    const result = await runCli(["run", "--name", "net-taken", "-p", `127.0.0.1:${fixedPort}:80`, "--", "true"]);
    expect(result.code).toBe(125);
    expect(result.stderr).toContain(`127.0.0.1:${fixedPort}`);
    expect(result.stderr).toContain("Address already in use");
    const listed = JSON.parse((await runCli(["ls", "-a", "--json"])).stdout) as Array<{ name: string; status: string }>;
    expect(listed.find((entry) => entry.name === "net-taken")?.status).toBe("failed");
    expect((await runCli(["rm", "net-taken"])).code).toBe(0);
  });

  test("boxlite tunnel forwards a local port to the box's", async () => {
    const tunnel = Bun.spawn(cliCommand(["tunnel", box, "8080"]), { cwd: REPO, env: process.env, stdout: "pipe", stderr: "pipe" });
    try {
      const reader = tunnel.stdout.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      const address = /^(\S+) -> /.exec(first)?.[1];
      expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(await (await fetch(`http://${address}/`)).text()).toBe("served from the box\n");
    } finally {
      tunnel.kill("SIGTERM");
      await tunnel.exited;
    }
  });

  test("over serve: POST …/network/tunnel answers a URI; curl's CONNECT through it reaches the box's port", async () => {
    const server = await startServeProcess();
    try {
      const listed = (await (await fetch(`${server.url}/v1/boxes/${box}`)).json()) as { box_id: string; network: { published_ports: unknown[] } };
      expect(listed.network.published_ports).toHaveLength(2);
      const answer = await fetch(`${server.url}/v1/boxes/${box}/network/tunnel?port=8081`, { method: "POST" });
      expect(answer.status).toBe(200);
      const { uri } = (await answer.json()) as { uri: string };
      expect(uri).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const curl = Bun.spawn(["curl", "-s", "--noproxy", "", "--proxytunnel", "-x", uri, "http://box.invalid/"], { stdout: "pipe", stderr: "pipe" });
      expect(await new Response(curl.stdout).text()).toBe("served from the box\n");
      // Plain HTTP at the URI reaches the service too; a second POST answers the same URI.
      expect(await (await fetch(`${uri}/`)).text()).toBe("served from the box\n");
      const again = (await (await fetch(`${server.url}/v1/boxes/${box}/network/tunnel?port=8081`, { method: "POST" })).json()) as { uri: string };
      expect(again.uri).toBe(uri);
      const bad = await fetch(`${server.url}/v1/boxes/${box}/network/tunnel?port=0`, { method: "POST" });
      expect(bad.status).toBe(400);
      const metrics = (await (await fetch(`${server.url}/v1/boxes/${box}/metrics`)).json()) as { network_tcp_connections: number | null };
      expect(metrics.network_tcp_connections ?? 0).toBeGreaterThan(0);
    } finally {
      server.proc.kill("SIGTERM");
      await server.proc.exited;
    }
  });
});

test("bad network input is a usage error before anything is made (exit 2; run's own failures are 125, as docker's)", async () => {
  const before = (await runCli(["ls", "-a", "-q"])).stdout;
  const cases: Array<[string[], RegExp]> = [
    [["--allow-net", ""], /--allow-net \(allow_net\) "" is empty/],
    [["--allow-net", "10.0.0.0/33"], /is not a CIDR/],
    [["--allow-net", "*."], /is not \*\. followed by a host name/],
    [["-p", "70000"], /the box port 70000 is outside 1-65535/],
    [["-p", "0:0"], /the box port 0 is outside 1-65535/],
    [["--network", "disabled", "-p", "80"], /--network disabled gives it none/],
    [["-p", "8080:80", "-p", "8080:81"], /host port 8080 is published twice/],
    [["-p", "203.0.113.9:80:80"], /this host has no address 203\.0\.113\.9/],
  ];
  for (const [flags, message] of cases) {
    const result = await runCli(["create", ...flags]);
    expect({ flags, code: result.code }).toEqual({ flags, code: 2 });
    expect(result.stderr).toMatch(message);
  }
  const run = await runCli(["run", "--rm", "--allow-net", "*.", "--", "true"]);
  expect(run.code).toBe(125);
  expect(run.stderr).toContain('"*." is not *. followed by a host name');
  const udp = await runCli(["create", "-p", "53/udp"]);
  expect(udp.code).toBe(1);
  expect(udp.stderr).toContain("UDP ports cannot be published");
  expect((await runCli(["ls", "-a", "-q"])).stdout).toBe(before);
});

test("the network process dies with its box: SIGKILL of the box's owner leaves none of it behind", async () => {
  const owner = Bun.spawn(cliCommand(["run", "--name", "net-killed", "--", "sleep", "100000"]), {
    cwd: REPO,
    env: process.env,
    stdout: "ignore",
    stderr: "ignore",
  });
  let id = "";
  await waitFor(
    async () => {
      const listed = JSON.parse((await runCli(["ls", "--json"])).stdout) as Array<{ box_id: string; name: string }>;
      id = listed.find((box) => box.name === "net-killed")?.box_id ?? "";
      return id !== "";
    },
    60_000,
    "the box to run",
  );
  const netd = () =>
    Bun.spawnSync(["pgrep", "-f", `netd-.*${id}`], { stdout: "pipe" })
      .stdout.toString()
      .trim();
  expect(netd()).not.toBe("");
  owner.kill("SIGKILL");
  await owner.exited;
  await waitFor(() => netd() === "", 15_000, "netd to end with its box");
  expect((await runCli(["rm", "-f", "net-killed"])).code).toBe(0);
});
