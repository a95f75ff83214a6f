/**
 * The migration chain v2 → v9 (reference db/migration/*). Each step runs its
 * filesystem work first (idempotent, safe to repeat after a crash at any point), then
 * its database work and the schema_version bump in one BEGIN IMMEDIATE transaction, then
 * removes its scratch files. The caller holds the exclusive home lock throughout.
 */
import type { Database } from "bun:sqlite";
import v2to3 from "../../migrations/v2-to-v3.sql" with { type: "text" };
import v3to4 from "../../migrations/v3-to-v4.sql" with { type: "text" };
import v4to5 from "../../migrations/v4-to-v5.sql" with { type: "text" };
import v5to6 from "../../migrations/v5-to-v6.sql" with { type: "text" };
import v7to8 from "../../migrations/v7-to-v8.sql" with { type: "text" };
import { BoxliteError, type ErrorCode, isBoxliteError } from "../util/errors.ts";
import { SCHEMA_VERSION, writeSchemaVersion } from "./meta.ts";
import { v6ToV7 } from "./steps/v6-to-v7.ts";
import { v8ToV9 } from "./steps/v8-to-v9.ts";

/** Test hooks. `point` is called at every named point of a migration ("v6-to-v7:committed",
 * "v6-to-v7:box:<id>:disks-moved" …); throwing or killing the process there simulates a crash. */
export interface MigrationHooks {
  point?(name: string): void;
}

export interface MigrationContext {
  db: Database;
  /** The absolute home directory. */
  home: string;
  warn(message: string): void;
  /** A named fault-injection point. */
  point(name: string): void;
  now(): Date;
}

export interface MigrationStep {
  /** The schema this step upgrades from; it leaves the home at `from + 1`. */
  from: number;
  /** "v6-to-v7": names the step in errors and hook points. */
  name: string;
  /** Filesystem work before the transaction. Must be idempotent and finish a half-done run. */
  prepare?(context: MigrationContext): void;
  /** Database work, inside the step's transaction. */
  apply(context: MigrationContext): void;
  /** After the commit: remove scratch files. Also run at later opens, in case a crash skipped it. */
  finish?(context: MigrationContext): void;
}

function sqlStep(from: number, sql: string): MigrationStep {
  return { from, name: `v${from}-to-v${from + 1}`, apply: ({ db }) => db.run(sql) };
}

/** The chain, in order. To add a step: see docs/database.md "Adding a step". */
export const MIGRATION_STEPS: readonly MigrationStep[] = [
  sqlStep(2, v2to3),
  sqlStep(3, v3to4),
  sqlStep(4, v4to5),
  sqlStep(5, v5to6),
  v6ToV7,
  sqlStep(7, v7to8),
  v8ToV9,
];

export interface MigrationResult {
  /** Steps that ran, by name. */
  steps: string[];
  warnings: string[];
}

/** Runs every step from `version` to SCHEMA_VERSION, committing after each. */
export function runMigrations(db: Database, home: string, version: number, hooks: MigrationHooks = {}): MigrationResult {
  const result: MigrationResult = { steps: [], warnings: [] };
  const context = makeContext(db, home, hooks, result.warnings);
  for (let current = version; current < SCHEMA_VERSION; current++) {
    const step = MIGRATION_STEPS.find((candidate) => candidate.from === current);
    if (step === undefined) throw new BoxliteError("internal", `no migration step from schema v${current}; rebuild boxlite`);
    runStep(step, context);
    result.steps.push(step.name);
  }
  return result;
}

/** Re-runs the `finish` of every step the home has passed (cheap: a few stat calls). */
export function finishAppliedSteps(db: Database, home: string, version: number): string[] {
  const warnings: string[] = [];
  const context = makeContext(db, home, {}, warnings);
  for (const step of MIGRATION_STEPS) {
    if (step.from < version) step.finish?.(context);
  }
  return warnings;
}

function makeContext(db: Database, home: string, hooks: MigrationHooks, warnings: string[]): MigrationContext {
  return {
    db,
    home,
    warn: (message) => warnings.push(message),
    point: (name) => hooks.point?.(name),
    now: () => new Date(),
  };
}

function runStep(step: MigrationStep, context: MigrationContext): void {
  const { db } = context;
  try {
    step.prepare?.(context);
    context.point(`${step.name}:prepared`);
    db.run("BEGIN IMMEDIATE");
    step.apply(context);
    writeSchemaVersion(db, step.from + 1, context.now());
    context.point(`${step.name}:before-commit`);
    db.run("COMMIT");
  } catch (error) {
    if (db.inTransaction) db.run("ROLLBACK");
    throw stepFailure(step, error);
  }
  context.point(`${step.name}:committed`);
  step.finish?.(context);
}

function stepFailure(step: MigrationStep, error: unknown): BoxliteError {
  // A file system error (it names its file) is a disk problem; anything else from SQLite is the database's.
  const code: ErrorCode = isBoxliteError(error) ? error.code : hasErrnoCode(error) ? "disk" : "database";
  const detail = error instanceof Error ? error.message : String(error);
  const message =
    `cannot migrate the home from schema v${step.from} to v${step.from + 1} (step ${step.name}): ${detail}. ` +
    `The database stays at v${step.from}; files already moved stay moved, and the next open finishes the step`;
  return new BoxliteError(code, message, { cause: error });
}

function hasErrnoCode(error: unknown): boolean {
  return error instanceof Error && "code" in error && typeof error.code === "string" && error.code.startsWith("E");
}
