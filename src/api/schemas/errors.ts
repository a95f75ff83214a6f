/** The error envelope every failing route answers with (the reference's `BoxliteError::http()`, boxlite-ai/boxlite `src/shared/src/errors.rs`). */
import { Type } from "@sinclair/typebox";

/** `type` and `code` are the reference's closed sets; see ERROR_TABLE and docs/rest-api.md. */
export const ErrorModel = Type.Object(
  {
    message: Type.String({ description: "What failed and what to do, in English" }),
    type: Type.String({ description: "PascalCase error type, e.g. NotFoundError" }),
    code: Type.String({ description: "snake_case machine code to dispatch on, e.g. not_found" }),
    request_id: Type.Optional(Type.String({ description: "The X-Request-Id of the request" })),
  },
  { additionalProperties: false },
);

export const ErrorResponse = Type.Object({ error: ErrorModel }, { additionalProperties: false });
