/** Recognising SQLite's errors without depending on their message text. */

/** A UNIQUE, PRIMARY KEY, CHECK or FOREIGN KEY violation (bun:sqlite's SQLiteError code). */
export function isConstraintViolation(error: unknown): boolean {
  return error instanceof Error && "code" in error && typeof error.code === "string" && error.code.startsWith("SQLITE_CONSTRAINT");
}
