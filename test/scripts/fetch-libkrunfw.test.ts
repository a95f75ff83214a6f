/**
 * scripts/fetch-libkrunfw.sh's chain of trust, offline: the script's own functions run
 * against a local archive (file:// URLs) signed with a key made for the test, and must
 * install the library only when InRelease's signature, the index's checksum and the
 * package's checksum all hold; otherwise fail saying which link broke, installing nothing.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sha256Hex } from "../../src/util/fs.ts";
import { REPO } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";

const SCRIPT = join(REPO, "scripts", "fetch-libkrunfw.sh");
const LIBRARY = "not a kernel: the bytes the test expects to find installed\n";
const ARCH = Bun.spawnSync(["dpkg", "--print-architecture"]).stdout.toString().trim();
const POOL_PATH = `pool/main/libk/libkrunfw/libkrunfw5_5.5.0-1_${ARCH}.deb`;
const INDEX_PATH = `main/binary-${ARCH}/Packages.xz`;

const temp = new TempDirs();
const gpgHomes: string[] = [];
let archiveKey: string;
let otherKey: string;
let keyring: string;
let deb: Uint8Array;

function run(command: string[], input?: Uint8Array): Uint8Array {
  const proc = Bun.spawnSync(command, { stdin: input ?? "ignore", stdout: "pipe", stderr: "pipe" });
  if (proc.exitCode !== 0) throw new Error(`${command.join(" ")} failed: ${proc.stderr.toString()}`);
  return proc.stdout;
}

function makeKey(name: string): string {
  const home = temp.make("gpg-");
  gpgHomes.push(home);
  run(["gpg", "--homedir", home, "--batch", "--passphrase", "", "--quick-gen-key", name, "ed25519", "sign", "1d"]);
  return home;
}

/** A .deb holding the library where Debian's libkrunfw5 puts it. */
function buildDeb(): Uint8Array {
  const tree = temp.make("deb-");
  mkdirSync(join(tree, "DEBIAN"));
  writeFileSync(
    join(tree, "DEBIAN", "control"),
    `Package: libkrunfw5\nVersion: 5.5.0-1\nArchitecture: ${ARCH}\nMaintainer: test <t@example.org>\nDescription: test\n`,
  );
  mkdirSync(join(tree, "usr", "lib", "x86_64-linux-gnu"), { recursive: true });
  writeFileSync(join(tree, "usr", "lib", "x86_64-linux-gnu", "libkrunfw.so.5.5.0"), LIBRARY);
  const out = join(temp.make("deb-out-"), "libkrunfw5.deb");
  run(["dpkg-deb", "--root-owner-group", "--build", tree, out]);
  return readFileSync(out);
}

type Tamper = "none" | "package" | "index" | "release";

/** A signed archive with one package, changed after signing as `tamper` says. */
function writeArchive(signer: string, tamper: Tamper): string {
  const root = temp.make("archive-");
  const stanza = (name: string, file: string, bytes: Uint8Array) =>
    `Package: ${name}\nVersion: 5.5.0-1\nArchitecture: ${ARCH}\nFilename: ${file}\nSize: ${bytes.length}\nSHA256: ${sha256Hex(bytes)}\n`;
  // A package listed before ours, so that the script must pick libkrunfw5's own entry.
  const index = `${stanza("libkrunfw-dev", "pool/main/libk/libkrunfw/libkrunfw-dev.deb", new Uint8Array(7))}\n${stanza("libkrunfw5", POOL_PATH, deb)}`;
  const indexXz = run(["xz", "-c"], new TextEncoder().encode(index));
  // The MD5Sum section comes first with a wrong value: only the SHA256 section counts.
  const release = `Origin: boxlite test\nSuite: sid\nMD5Sum:\n ${"0".repeat(32)} ${indexXz.length} ${INDEX_PATH}\nSHA256:\n ${sha256Hex(indexXz)} ${indexXz.length} ${INDEX_PATH}\n`;
  const suite = join(root, "dists", "sid");
  mkdirSync(join(suite, "main", `binary-${ARCH}`), { recursive: true });
  writeFileSync(join(suite, "Release"), release);
  run(["gpg", "--homedir", signer, "--batch", "--yes", "--clearsign", "-o", join(suite, "InRelease"), join(suite, "Release")]);
  writeFileSync(join(suite, INDEX_PATH), indexXz);
  mkdirSync(join(root, "pool", "main", "libk", "libkrunfw"), { recursive: true });
  writeFileSync(join(root, POOL_PATH), deb);

  if (tamper === "package")
    writeFileSync(
      join(root, POOL_PATH),
      deb.map((byte, i) => (i === deb.length - 2 ? byte ^ 1 : byte)),
    );
  if (tamper === "index") writeFileSync(join(suite, INDEX_PATH), run(["xz", "-c"], new TextEncoder().encode(index.replace("libkrunfw-dev", "libkrunfw-evil"))));
  if (tamper === "release") {
    const signed = readFileSync(join(suite, "InRelease"), "utf8");
    writeFileSync(join(suite, "InRelease"), signed.replace("Origin: boxlite test", "Origin: boxlite fest"));
  }
  return root;
}

/** Runs the script's chain (sourced: nothing runs by itself) against `archive`, into a fresh directory. */
function fetchFrom(archive: string): { code: number; stderr: string; dest: string } {
  const dest = join(temp.make("vendor-"), "libkrunfw");
  const proc = Bun.spawnSync(
    ["bash", "-c", 'source "$1" && MIRROR="file://$2" && KEYRING="$3" && fetch_libkrunfw "$4"', "bash", SCRIPT, archive, keyring, dest],
    { stdout: "pipe", stderr: "pipe" },
  );
  return { code: proc.exitCode ?? -1, stderr: proc.stderr.toString(), dest };
}

beforeAll(() => {
  archiveKey = makeKey("boxlite test archive");
  otherKey = makeKey("someone else");
  keyring = join(temp.make("keyring-"), "archive.gpg");
  writeFileSync(keyring, run(["gpg", "--homedir", archiveKey, "--export"]));
  deb = buildDeb();
});

afterAll(() => {
  for (const home of gpgHomes) Bun.spawnSync(["gpgconf", "--homedir", home, "--kill", "gpg-agent"]);
  temp.removeAll();
});

test("by default the chain starts at Debian's archive and its keyring", () => {
  const proc = Bun.spawnSync(["bash", "-c", 'source "$1" && echo "$MIRROR $KEYRING"', "bash", SCRIPT], { stdout: "pipe" });
  expect(proc.stdout.toString()).toBe("http://deb.debian.org/debian /usr/share/keyrings/debian-archive-keyring.gpg\n");
});

test("installs libkrunfw.so.5 when the signature, the index's checksum and the package's checksum all hold", () => {
  const result = fetchFrom(writeArchive(archiveKey, "none"));
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  expect(readFileSync(join(result.dest, "libkrunfw.so.5"), "utf8")).toBe(LIBRARY);
  expect(existsSync(join(result.dest, "libkrunfw.so.5.tmp"))).toBe(false);
});

test("refuses a package whose bytes differ from the signed index, and installs nothing", () => {
  const result = fetchFrom(writeArchive(archiveKey, "package"));
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(
    /^fetch-libkrunfw: package\.deb does not match the signed index \(sha256 [0-9a-f]{64}, \d+ bytes; expected sha256 [0-9a-f]{64}, \d+ bytes\): refusing it\n$/,
  );
  expect(existsSync(result.dest)).toBe(false);
});

test("refuses a Packages index other than the one the signed Release lists, and installs nothing", () => {
  const result = fetchFrom(writeArchive(archiveKey, "index"));
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/^fetch-libkrunfw: Packages\.xz does not match the signed index .*: refusing it\n$/);
  expect(existsSync(result.dest)).toBe(false);
});

test("refuses an InRelease signed by a key outside the keyring, and installs nothing", () => {
  const result = fetchFrom(writeArchive(otherKey, "none"));
  expect(result.code).toBe(1);
  expect(result.stderr).toStartWith(`fetch-libkrunfw: InRelease has no good signature by a key of ${keyring}, so nothing it lists can be trusted:`);
  expect(existsSync(result.dest)).toBe(false);
});

test("refuses an InRelease changed after it was signed, and installs nothing", () => {
  const result = fetchFrom(writeArchive(archiveKey, "release"));
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/^fetch-libkrunfw: InRelease has no good signature .*BAD signature/);
  expect(existsSync(result.dest)).toBe(false);
});
