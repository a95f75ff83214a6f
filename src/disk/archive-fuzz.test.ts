/**
 * Random damage to a small valid archive, in its compressed and its plain form, and to one
 * whose disks are GNU sparse members (GNU tar's old-GNU and pax 1.0 forms): every read
 * either succeeds with the right disks or throws a BoxliteError a user can act on, within a
 * time bound, leaving the staging directory empty. The seed is in the test name.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { seededRandom } from "../../test/helpers/random.ts";
import { TempDirs } from "../../test/helpers/temp.ts";
import { writeTar } from "../image/tar-writer.test-helper.ts";
import { isBoxliteError } from "../util/errors.ts";
import { freshStaging, goodEntries, payload, sha256 } from "./archive-fixture.test-helper.ts";
import { readArchive } from "./archive-read.ts";
import { gnuSparseTar, MiB, sparseDisks } from "./archive-sparse.test-helper.ts";

const temps = new TempDirs();
let dir = "";
beforeAll(() => {
  dir = temps.make("boxlite-archive-fuzz-");
});
afterAll(() => temps.removeAll());

const CASES_PER_FORM = 200;
const CASE_TIMEOUT_MS = 5000;
// To replay a failure, put its printed seed here.
const seed = Date.now() % 1_000_000;

/**
 * One random mutation. Half of the offsets fall in the first `hot` bytes: a sparse archive is
 * mostly disk data, where damage only breaks a checksum, while its headers and maps lead it.
 */
function mutate(original: Uint8Array, random: () => number, hot = original.length): { bytes: Uint8Array; what: string } {
  const at = (length: number) => Math.floor(random() * length);
  const where = (length: number) => at(random() < 0.5 ? Math.min(hot, length) : length);
  const kind = at(3);
  if (kind === 0) {
    const bytes = new Uint8Array(original);
    const flips = 1 + at(8);
    for (let i = 0; i < flips; i++) {
      const offset = where(bytes.length);
      bytes[offset] = (bytes[offset] ?? 0) ^ (1 << at(8));
    }
    return { bytes, what: `${flips} bit flips` };
  }
  if (kind === 1) {
    const length = where(original.length);
    return { bytes: original.subarray(0, length), what: `truncated to ${length}` };
  }
  const offset = where(original.length);
  const inserted = crypto.getRandomValues(new Uint8Array(1 + at(600)));
  return { bytes: Buffer.concat([original.subarray(0, offset), inserted, original.subarray(offset)]), what: `${inserted.length} bytes inserted at ${offset}` };
}

async function withDeadline<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: Timer | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`readArchive hung on ${what}`)), CASE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

interface Form {
  bytes: Uint8Array;
  /** Where the headers and maps are: the first bytes. */
  hot?: number;
  sums: { container: string; guest: string };
  maxBytes: number;
}

test(`random damage is refused cleanly or read correctly (seed ${seed})`, async () => {
  const disks = payload(6000, 3000);
  const tar = writeTar(goodEntries(disks));
  const sums = { container: sha256(disks.container), guest: sha256(disks.guest) };
  // Small sparse disks: 12 MiB with 6 segments (an extension block), 2 MiB with 2 and a trailing hole.
  const sparse = sparseDisks(join(dir, "sparse-src"), 12 * MiB, 2 * MiB);
  const sparseSums = { container: sparse.containerSum, guest: sparse.guestSum };
  const forms: Record<string, Form> = {
    plain: { bytes: tar, sums, maxBytes: MiB },
    zstd: { bytes: Bun.zstdCompressSync(tar, { level: 3 }), sums, maxBytes: MiB },
    "gnu-sparse": { bytes: gnuSparseTar(sparse, "gnu", join(dir, "sparse-gnu.tar")), hot: 4096, sums: sparseSums, maxBytes: 64 * MiB },
    "pax-1.0-sparse": { bytes: gnuSparseTar(sparse, "posix-1.0", join(dir, "sparse-pax.tar")), hot: 4096, sums: sparseSums, maxBytes: 64 * MiB },
  };
  const random = seededRandom(seed);
  const outcomes = { read: 0, refused: 0 };
  for (const [form, { bytes: original, hot, sums: expected, maxBytes }] of Object.entries(forms)) {
    for (let i = 0; i < CASES_PER_FORM; i++) {
      const { bytes, what } = mutate(original, random, hot);
      const label = `${form} case ${i}: ${what} (seed ${seed})`;
      const path = join(dir, `case-${form}-${i}.boxlite`);
      writeFileSync(path, bytes);
      const staging = freshStaging(dir);
      try {
        const read = await withDeadline(readArchive(path, staging, { maxBytes }), label);
        expect({ label, sum: sha256(readFileSync(read.containerDisk)) }).toEqual({ label, sum: expected.container });
        expect({ label, sum: sha256(readFileSync(read.guestDisk ?? "")) }).toEqual({ label, sum: expected.guest });
        outcomes.read++;
      } catch (error) {
        if (!isBoxliteError(error) || error.code === "internal") throw new Error(`${label}: not a clean refusal: ${String(error)}`, { cause: error });
        expect({ label, left: readdirSync(staging) }).toEqual({ label, left: [] });
        outcomes.refused++;
      }
    }
  }
  // Both outcomes occur, or the mutations are not exercising anything.
  expect(outcomes.refused).toBeGreaterThan(2 * CASES_PER_FORM);
  expect(outcomes.read).toBeGreaterThan(0);
}, 60_000);
