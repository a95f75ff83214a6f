// Files embedded into the compiled binary with `import path from "..." with { type: "file" }`.
declare module "*.so" {
  const path: string;
  export default path;
}
declare module "*.so.5" {
  const path: string;
  export default path;
}
declare module "*.bin" {
  const path: string;
  export default path;
}
declare module "*.tar.gz" {
  const path: string;
  export default path;
}
// Text inlined into the binary with `import text from "..." with { type: "text" }`.
declare module "*.sha256" {
  const text: string;
  export default text;
}
