/**
 * Executions and files on the wire, as routes/executions.ts and routes/files.ts take them
 * (the contract's ExecRequest plus the reference's `stdin`; SignalRequest, ResizeRequest,
 * ExecResponse, ExecutionInfo; the files routes' queries). The OpenAPI document is built
 * from these; the routes should validate with the same objects.
 */
import { Type } from "@sinclair/typebox";

export const ExecRequest = Type.Object(
  {
    command: Type.String({ minLength: 1, description: "Program to run" }),
    args: Type.Optional(Type.Array(Type.String())),
    env: Type.Optional(Type.Record(Type.String(), Type.String())),
    timeout_seconds: Type.Optional(Type.Number({ minimum: 0.1 })),
    working_dir: Type.Optional(Type.String()),
    tty: Type.Optional(Type.Boolean()),
    stdin: Type.Optional(Type.String({ description: "Written to the command's stdin, which is then closed" })),
  },
  { additionalProperties: false },
);

export const ExecResponse = Type.Object({ execution_id: Type.String() });

export const ExecutionInfo = Type.Object({
  execution_id: Type.String(),
  status: Type.Union([Type.Literal("running"), Type.Literal("completed"), Type.Literal("killed"), Type.Literal("timed_out")]),
  exit_code: Type.Union([Type.Integer(), Type.Null()]),
  started_at: Type.String({ format: "date-time" }),
  duration_ms: Type.Union([Type.Integer(), Type.Null()]),
  error_message: Type.Union([Type.String(), Type.Null()]),
});

export const SignalRequest = Type.Object(
  { signal: Type.Integer({ description: "One of 1, 2, 3, 6, 10, 12, 15, 28; kill with DELETE instead of 9" }) },
  { additionalProperties: false },
);

export const ResizeRequest = Type.Object(
  { cols: Type.Integer({ minimum: 1, maximum: 65535 }), rows: Type.Integer({ minimum: 1, maximum: 65535 }) },
  { additionalProperties: false },
);

export const UploadQuery = Type.Object({
  path: Type.String({ minLength: 1, description: "Directory in the box to extract the tar into" }),
  overwrite: Type.Optional(Type.Boolean({ default: true })),
});

export const DownloadQuery = Type.Object({
  path: Type.String({ minLength: 1, description: "Path in the box to archive" }),
  follow_symlinks: Type.Optional(Type.Boolean({ default: false })),
});
