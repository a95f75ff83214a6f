/**
 * netd without a VM (docs/network.md): a fake box (a namespace whose eth0 is relayed to netd's
 * socket) reaches test hosts in a namespace of this file's own, the host's 127.0.0.1 through
 * the host alias, and names through a resolver this file runs. Every packet stays on
 * 127.0.0.0/8 or inside those namespaces. Root only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { join } from "node:path";
import type { DnsServer } from "../../test/fixtures/net/dns.ts";
import { type FakeBox, startFakeBox } from "../../test/fixtures/net/fake-box.ts";
import { createTestHosts, deterministicBytes, sha256Hex, type TestHosts } from "../../test/fixtures/net/hosts.ts";
import { makeTempDir, removeTempDir, testEnv } from "../../test/fixtures/net/netns.ts";

const REPO = join(import.meta.dir, "..", "..");
const NETD = join(REPO, "build", "host", "netd.bin");
const CURL = ["curl", "-sS", "--noproxy", "*", "--max-time", "20"];
const BIG = deterministicBytes(50 * 1024 * 1024, 11);

let hosts: TestHosts;
let dns: DnsServer;
/** files.test's own address; allowed.test and denied.test share one (as on a CDN); an IP rule's and a CIDR rule's. */
let filesIp: string;
let sharedIp: string;
let ipRuleIp: string;
let cidrIp: string;
let echo: { sharedTcp: number; filesTcp: number; allowedUdp: number; deniedUdp: number };
let hostService: Server;
let hostServicePort: number;

interface Netd {
  proc: Bun.Subprocess<"ignore", "ignore", "pipe">;
  dir: string;
  socket: string;
  control: string;
  portsFile: string;
}

/** Every netd started and not stopped yet: killed after all, whatever a test threw. */
const running = new Set<Netd>();

/** Starts netd with args, its paths in a fresh directory; resolves once its socket exists (or it exited). */
async function startNetd(args: string[]): Promise<Netd> {
  const dir = makeTempDir();
  const paths = { socket: join(dir, "net.sock"), control: join(dir, "control.sock"), portsFile: join(dir, "ports.json") };
  const argv = [NETD, "--socket", paths.socket, "--control", paths.control, "--ports-file", paths.portsFile, ...args];
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: testEnv() });
  const netd = { proc, dir, ...paths };
  running.add(netd);
  const deadline = Date.now() + 10_000;
  while (!existsSync(paths.socket) && proc.exitCode === null && Date.now() < deadline) await Bun.sleep(10);
  return netd;
}

/** SIGTERM (unless it ended by itself); what netd said on stderr (nothing, when all went well) and its exit code. */
async function stopNetd(netd: Netd): Promise<{ code: number; stderr: string }> {
  netd.proc.kill("SIGTERM");
  const [code, stderr] = await Promise.all([netd.proc.exited, new Response(netd.proc.stderr).text()]);
  running.delete(netd);
  removeTempDir(netd.dir);
  return { code, stderr };
}

/** Writes `request` on a unix socket and reads until the other side closes. */
async function talk(path: string, request: string): Promise<string> {
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  let text = "";
  await Bun.connect({
    unix: path,
    socket: {
      open: (socket) => void socket.write(request),
      data: (_socket, data) => {
        text += new TextDecoder().decode(data);
      },
      close: () => resolve(text),
      error: (_socket, error) => reject(error),
    },
  });
  return promise;
}

/** Sends `message` over UDP from inside the box and answers what came back within 2 s ("" for nothing). */
async function udpEcho(box: FakeBox, address: string, port: number, message = "ping"): Promise<string> {
  const script = `const s = await Bun.udpSocket({ socket: { data(_s, d) { process.stdout.write(d); process.exit(0); } } });
    s.send(${JSON.stringify(message)}, ${port}, "${address}"); setTimeout(() => process.exit(0), 2000);`;
  return (await box.exec([process.execPath, "-e", script])).stdout;
}

/** An Ethernet frame from the box carrying one IPv4 fragment of a UDP datagram (`udp`: its header and payload). */
function udpFragment(dst: string, id: number, udp: Uint8Array, offset: number, length: number, more: boolean): Uint8Array {
  const frame = new Uint8Array(14 + 20 + length);
  frame.set([0x52, 0x55, 0xc0, 0xa8, 0x7f, 0x01, 0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xee, 0x08, 0x00]);
  const ip = new DataView(frame.buffer, 14, 20);
  ip.setUint8(0, 0x45);
  ip.setUint16(2, 20 + length);
  ip.setUint16(4, id);
  ip.setUint16(6, (more ? 0x2000 : 0) | (offset / 8));
  ip.setUint8(8, 64);
  ip.setUint8(9, 17);
  frame.set([192, 168, 127, 2, ...dst.split(".").map(Number)], 14 + 12);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ip.getUint16(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  ip.setUint16(10, ~sum & 0xffff);
  frame.set(udp.subarray(offset, offset + length), 34);
  return frame;
}

async function stats(netd: Netd): Promise<{ bytes_sent: number; bytes_received: number; tcp_connections: number; tcp_errors: number }> {
  return JSON.parse(await talk(netd.control, "stats\n"));
}

beforeAll(async () => {
  const make = Bun.spawnSync(["make", "-s", "-C", join(REPO, "host", "netd"), `OUT=${join(REPO, "build", "host")}`], { stderr: "pipe" });
  if (make.exitCode !== 0) throw new Error(`building netd failed: ${make.stderr.toString()}`);
  hosts = await createTestHosts({ addresses: 6 });
  const [a1, a2, a3, , a5] = hosts.addresses as [string, string, string, string, string, string];
  [filesIp, sharedIp, ipRuleIp, cidrIp] = [a1, a2, a3, a5];
  await hosts.serveHttp({ address: a1, routes: { "/big": BIG, "/hello": "hello from files.test\n" } });
  await hosts.serveNames({ address: a2 });
  await hosts.serveHttp({ address: a3, port: 8000, routes: { "/": "ip rule\n" } });
  await hosts.serveHttp({ address: a5, port: 8000, routes: { "/": "cidr rule\n" } });
  echo = {
    sharedTcp: (await hosts.serveTcpEcho({ address: a2 })).port,
    filesTcp: (await hosts.serveTcpEcho({ address: a1 })).port,
    allowedUdp: (await hosts.serveUdpEcho({ address: a3 })).port,
    deniedUdp: (await hosts.serveUdpEcho({ address: a1 })).port,
  };
  // A resolver among the test hosts, answering what the box's may not: the box must not reach it.
  await hosts.serveDns({ "files.test": a1 }, { address: a1 });
  // many.test's answer (120 addresses, ~2 KB) is larger than one frame can carry.
  const many = Array.from({ length: 120 }, (_, i) => `10.231.250.${i + 1}`);
  dns = await hosts.startUpstreamDns({ "files.test": a1, "allowed.test": a2, "denied.test": a2, "x.wild.test": a2, "wild.test": a2, "many.test": many });
  hostService = createServer((socket) => socket.end("HTTP/1.1 200 OK\r\nContent-Length: 15\r\nConnection: close\r\n\r\nhello from host"));
  await new Promise<void>((resolve) => hostService.listen(0, "127.0.0.1", resolve));
  hostServicePort = (hostService.address() as { port: number }).port;
}, 120_000);

afterAll(async () => {
  for (const netd of running) netd.proc.kill("SIGKILL");
  hostService?.close();
  await hosts?.dispose();
});

describe("netd without an allow-list", () => {
  let netd: Netd;
  let box: FakeBox;
  let fixedPort: number;

  beforeAll(async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    fixedPort = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    netd = await startNetd(["--dns", `127.0.0.1:${dns.port}`, "--publish", "127.0.0.1:0:8080", "--publish", `${fixedPort}:8081`]);
    box = await startFakeBox({ socket: netd.socket });
  });
  afterAll(async () => {
    await box?.dispose();
    if (netd) expect(await stopNetd(netd)).toEqual({ code: 0, stderr: "" });
  });

  test("the box downloads 50 MB from a test host byte for byte, by name, at a useful speed", async () => {
    const dir = makeTempDir();
    const result = await box.exec([...CURL, "-o", join(dir, "big"), "-w", "%{speed_download}", "http://files.test/big"], { timeoutMs: 60_000 });
    const sum = sha256Hex(readFileSync(join(dir, "big")));
    removeTempDir(dir);
    expect(result.stderr).toBe("");
    expect(sum).toBe(sha256Hex(BIG));
    // Far below what it does on an idle machine (~100 MB/s): a floor that catches dropped frames and stalls.
    expect(Number(result.stdout)).toBeGreaterThan(10_000_000);
  });

  test("host.boxlite.internal is 192.168.127.254, answered by netd itself, and reaches the host's 127.0.0.1", async () => {
    const looked = await box.exec(["busybox", "nslookup", "host.boxlite.internal"]);
    expect(looked.stdout).toContain("Address: 192.168.127.254");
    expect(dns.count("host.boxlite.internal")).toBe(0);
    expect((await box.exec([...CURL, `http://host.boxlite.internal:${hostServicePort}/`])).stdout).toBe("hello from host");
  });

  test("an answer larger than a frame reaches the box whole, in IP fragments", async () => {
    const script = `import { queryDns } from "${join(REPO, "test", "fixtures", "net", "dns.ts")}";
      console.log((await queryDns({ address: "192.168.127.1", port: 53 }, "many.test")).addresses.length);`;
    expect((await box.exec([process.execPath, "-e", script])).stdout).toBe("120\n");
  });

  test("DNS over TCP to the gateway reaches the first upstream resolver", async () => {
    // The upstream's TCP side, on the port of its UDP side: what answers is what netd dialled.
    const upstream = createServer((socket) => socket.end("upstream over tcp"));
    await new Promise<void>((resolve) => upstream.listen(dns.port, "127.0.0.1", resolve));
    try {
      const result = await box.exec(["busybox", "nc", "-w", "3", "192.168.127.1", "53"], { stdin: "" });
      expect(result.stdout).toBe("upstream over tcp");
    } finally {
      upstream.close();
    }
  });

  test("the gateway answers pings, and TCP to it or to another address of the subnet is refused at once", async () => {
    expect((await box.exec(["busybox", "ping", "-c", "1", "-W", "5", "192.168.127.1"])).exitCode).toBe(0);
    const refused = await box.exec([...CURL, "--connect-timeout", "5", "http://192.168.127.1/"]);
    expect(refused.stderr).toContain("Couldn't connect");
    // A neighbour answers ARP only as the box's own static entry says: then its SYN meets netd's refusal.
    await box.exec(["ip", "neigh", "replace", "192.168.127.9", "lladdr", "52:55:c0:a8:7f:01", "dev", "eth0"]);
    const neighbour = await box.exec([...CURL, "--connect-timeout", "5", "http://192.168.127.9/"]);
    expect(neighbour.stderr).toContain("Couldn't connect");
  });

  test("published ports: an OS-picked and a chosen host port reach the box, as the ports file says", async () => {
    await box.serveHttp({ port: 8080, routes: { "/": "box 8080\n" } });
    await box.serveHttp({ port: 8081, routes: { "/": "box 8081\n" } });
    const ports = JSON.parse(readFileSync(netd.portsFile, "utf8")) as Array<{ host_ip: string; host_port: number; box_port: number; protocol: string }>;
    expect(ports).toHaveLength(2);
    expect(ports[0]).toMatchObject({ host_ip: "127.0.0.1", box_port: 8080, protocol: "tcp" });
    expect(ports[0]?.host_port).toBeGreaterThan(0);
    expect(ports[1]).toEqual({ host_ip: "127.0.0.1", host_port: fixedPort, box_port: 8081, protocol: "tcp" });
    expect(await (await fetch(`http://127.0.0.1:${ports[0]?.host_port}/`)).text()).toBe("box 8080\n");
    expect(await (await fetch(`http://127.0.0.1:${fixedPort}/`)).text()).toBe("box 8081\n");
  });

  test("a taken host port: the contract's line on stderr, exit 1, and no socket", async () => {
    const other = await startNetd(["--dns", `127.0.0.1:${dns.port}`, "--publish", `127.0.0.1:${fixedPort}:80`]);
    await other.proc.exited;
    expect(existsSync(other.socket)).toBe(false);
    expect(await stopNetd(other)).toEqual({ code: 1, stderr: `netd: publish 127.0.0.1:${fixedPort} -> 80: Address already in use\n` });
  });

  test("a bad argument: one line naming it, exit 2", async () => {
    for (const [args, line] of [
      [["--dns", "127.0.0.1"], "netd: --dns 127.0.0.1: not IPV4:PORT\n"],
      [["--publish", "1:2:3:4"], "netd: --publish 1:2:3:4: not [HOST_IP:]HOST_PORT:BOX_PORT\n"],
      [["--publish", "80:0"], "netd: --publish 80:0: not [HOST_IP:]HOST_PORT:BOX_PORT\n"],
      [["--allow", "10.0.0.5/8"], 'netd: allow rule "10.0.0.5/8": host bits are set below /8; the network is 10.0.0.0/8\n'],
      [["--frobnicate"], "netd: unknown argument --frobnicate\n"],
    ] as const) {
      const proc = Bun.spawn([NETD, "--socket", "/nonexistent/s", "--control", "/nonexistent/c", "--ports-file", "/nonexistent/p", ...args], {
        stderr: "pipe",
      });
      expect({ args, code: await proc.exited, stderr: await new Response(proc.stderr).text() }).toEqual({ args, code: 2, stderr: line });
    }
  });

  test("tunnel PORT carries a connection to the box's port; a closed port answers an error", async () => {
    const answer = await talk(netd.control, "tunnel 8081\nGET / HTTP/1.1\r\nHost: box\r\nConnection: close\r\n\r\n");
    expect(answer).toStartWith("ok\nHTTP/1.");
    expect(answer).toEndWith("box 8081\n");
    expect(await talk(netd.control, "tunnel 8099\n")).toBe("error connection refused\n");
    expect(await talk(netd.control, "tunnel 0\n")).toBe("error bad port\n");
    expect(await talk(netd.control, "frobnicate\n")).toBe("error unknown command\n");
  });

  test("a tunnel passes a half-close on: the client's end of input reaches the box, the box's answer comes back", async () => {
    const echo = await box.serveTcpEcho({ port: 7007 });
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    let text = "";
    const socket = createConnection({ path: netd.control, allowHalfOpen: true });
    socket.on("data", (data) => {
      text += data.toString();
    });
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
    // The echo server answers, then ends its side only once it has read the client's end.
    socket.end(`tunnel ${echo.port}\nsaid before the end\n`);
    expect(await promise).toBe("ok\nsaid before the end\n");
    socket.destroy();
  });

  test("stats count the box's bytes, its connections and the refused ones", async () => {
    const figures = await stats(netd);
    expect(figures.bytes_received).toBeGreaterThan(BIG.length);
    expect(figures.bytes_sent).toBeGreaterThan(0);
    expect(figures.bytes_sent).toBeLessThan(figures.bytes_received);
    // files.test, the host alias, DNS over TCP, the gateway, the neighbour; 2 published; 3 tunnels.
    expect(figures.tcp_connections).toBeGreaterThanOrEqual(10);
    // The gateway, the neighbour, the closed port's tunnel.
    expect(figures.tcp_errors).toBe(3);
    const again = await stats(netd);
    expect(again.bytes_sent).toBe(figures.bytes_sent);
  });

  test("when the VMM leaves, the next one is served", async () => {
    await box.dispose();
    box = await startFakeBox({ socket: netd.socket });
    expect((await box.exec([...CURL, "http://files.test/hello"])).stdout).toBe("hello from files.test\n");
  });

  test("a datagram larger than a frame goes out whole and comes back whole", async () => {
    const echoed = await hosts.serveUdpEcho({ address: filesIp });
    const message = "x".repeat(4000);
    expect(await udpEcho(box, filesIp, echoed.port, message)).toBe(message);
  });

  test("a datagram whose last fragment comes first is put back together (libslirp 4.7 alone would crash)", async () => {
    const other = await startNetd(["--dns", `127.0.0.1:${dns.port}`]);
    const got = Promise.withResolvers<string>();
    const receiver = await Bun.udpSocket({ hostname: "127.0.0.1", socket: { data: (_s, data) => got.resolve(new TextDecoder().decode(data)) } });
    try {
      const payload = new TextEncoder().encode("y".repeat(2000));
      const udp = new Uint8Array(8 + payload.length);
      new DataView(udp.buffer).setUint16(0, 40000);
      new DataView(udp.buffer).setUint16(2, receiver.port);
      new DataView(udp.buffer).setUint16(4, udp.length);
      udp.set(payload, 8);
      const frames = [udpFragment("192.168.127.254", 77, udp, 1480, udp.length - 1480, false), udpFragment("192.168.127.254", 77, udp, 0, 1480, true)];
      const vmm = await Bun.connect({ unix: other.socket, socket: { data() {} } });
      for (const frame of frames) {
        const length = new Uint8Array(4);
        new DataView(length.buffer).setUint32(0, frame.length);
        vmm.write(length);
        vmm.write(frame);
      }
      setTimeout(() => got.resolve("nothing within 5 s"), 5_000);
      expect(await got.promise).toBe("y".repeat(2000));
      vmm.end();
    } finally {
      receiver.close();
      expect(await stopNetd(other)).toEqual({ code: 0, stderr: "" });
    }
  });

  test("a tunnel to a box that never answers fails with a timeout, before the runtime's client gives up; 32 open at once", async () => {
    const other = await startNetd(["--dns", `127.0.0.1:${dns.port}`]);
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 33 }, () => talk(other.control, "tunnel 80\n")));
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(answers.filter((answer) => answer === "error timeout\n")).toHaveLength(32);
    expect(answers).toContain("error too many tunnels opening\n");
    expect(await stopNetd(other)).toEqual({ code: 0, stderr: "" });
  });

  test("SIGTERM ends it at once with 0, its sockets gone", async () => {
    const other = await startNetd(["--dns", `127.0.0.1:${dns.port}`]);
    const started = performance.now();
    expect(await stopNetd(other)).toEqual({ code: 0, stderr: "" });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(existsSync(other.socket) || existsSync(other.control)).toBe(false);
  });
});

describe("netd with an allow-list", () => {
  let netd: Netd;
  let box: FakeBox;

  beforeAll(async () => {
    const rules = ["allowed.test", "*.wild.test", ipRuleIp, `${cidrIp}/31`];
    netd = await startNetd(["--dns", `127.0.0.1:${dns.port}`, ...rules.flatMap((rule) => ["--allow", rule])]);
    box = await startFakeBox({ socket: netd.socket });
  });
  afterAll(async () => {
    await box?.dispose();
    if (netd) expect(await stopNetd(netd)).toEqual({ code: 0, stderr: "" });
  });

  test("reaches what each rule form allows: a name over HTTPS and HTTP, a wildcard, an IP, a CIDR", async () => {
    expect((await box.exec([...CURL, "-k", "https://allowed.test/"])).stdout).toBe(`sni=allowed.test host=allowed.test local=${sharedIp}\n`);
    expect((await box.exec([...CURL, "http://allowed.test/"])).stdout).toBe(`host=allowed.test local=${sharedIp}\n`);
    expect((await box.exec([...CURL, "-k", "https://x.wild.test/"])).stdout).toBe(`sni=x.wild.test host=x.wild.test local=${sharedIp}\n`);
    expect((await box.exec([...CURL, `http://${ipRuleIp}:8000/`])).stdout).toBe("ip rule\n");
    expect((await box.exec([...CURL, `http://${cidrIp}:8000/`])).stdout).toBe("cidr rule\n");
    expect((await box.exec([...CURL, `http://host.boxlite.internal:${hostServicePort}/`])).stdout).toBe("hello from host");
  });

  test("a name no rule allows gets NXDOMAIN, and the upstream resolver is never asked", async () => {
    const before = { files: dns.count("files.test"), wild: dns.count("wild.test") };
    for (const name of ["files.test", "wild.test"]) {
      const result = await box.exec(["busybox", "nslookup", name]);
      expect(result.stdout + result.stderr).toContain("NXDOMAIN");
    }
    expect({ files: dns.count("files.test"), wild: dns.count("wild.test") }).toEqual(before);
  });

  test("an allowed name's address is reached on other ports too; an address no name resolved to is not", async () => {
    expect((await box.exec(["busybox", "nslookup", "allowed.test"])).stdout).toContain(`Address: ${sharedIp}`);
    const shared = await box.exec(["busybox", "nc", "-w", "3", sharedIp, String(echo.sharedTcp)], { stdin: "echoed\n" });
    expect(shared.stdout).toBe("echoed\n");
    const files = await box.exec([...CURL, "--connect-timeout", "5", `http://${filesIp}:${echo.filesTcp}/`]);
    expect(files.stdout).toBe("");
    expect(files.stderr).toContain("Couldn't connect");
    // Its port 80 goes to the proxy, which finds no allowed name in the request.
    const web = await box.exec([...CURL, `http://${filesIp}/hello`]);
    expect(web.stdout).toBe("");
    expect(web.stderr).toContain("reset");
  });

  test("a denied name on an allowed name's address is reset: its SNI and its Host decide, not the address", async () => {
    await box.exec(["busybox", "nslookup", "allowed.test"]);
    const sni = await box.exec([...CURL, "-k", "--resolve", `denied.test:443:${sharedIp}`, "https://denied.test/"]);
    expect(sni.stdout).toBe("");
    expect(sni.exitCode).not.toBe(0);
    const host = await box.exec([...CURL, "--resolve", `denied.test:80:${sharedIp}`, "http://denied.test/"]);
    expect(host.stdout).toBe("");
    expect(host.exitCode).not.toBe(0);
    // An allowed name, but on an address the box's resolver never gave it.
    const elsewhere = await box.exec([...CURL, "-k", "--resolve", `allowed.test:443:${filesIp}`, "https://allowed.test/"]);
    expect(elsewhere.stdout).toBe("");
    expect(elsewhere.exitCode).not.toBe(0);
  });

  test("the gateway takes no DNS over TCP: a stream netd does not read could ask for any name", async () => {
    const result = await box.exec([...CURL, "--connect-timeout", "5", "http://192.168.127.1:53/"]);
    expect(result.stderr).toContain("Couldn't connect");
  });

  test("UDP passes to an IP rule's address only; a DNS server of the box's choosing is out of reach", async () => {
    expect(await udpEcho(box, ipRuleIp, echo.allowedUdp)).toBe("ping");
    expect(await udpEcho(box, filesIp, echo.deniedUdp)).toBe("");
    const foreign = await box.exec(["busybox", "nslookup", "files.test", filesIp], { timeoutMs: 30_000 });
    expect(foreign.stdout).not.toContain(`Address: ${filesIp}`);
  });

  test("stats count what the allow-list refused", async () => {
    const figures = await stats(netd);
    // The unresolved address and its port 80, the denied SNI, the denied Host, the allowed name
    // elsewhere, DNS over TCP.
    expect(figures.tcp_errors).toBe(6);
    expect(figures.tcp_connections).toBeGreaterThan(figures.tcp_errors);
  });
});
