// SQL files under migrations/, embedded in the binary as text:
// `import sql from "../../migrations/v2-to-v3.sql" with { type: "text" }`.
declare module "*.sql" {
  const text: string;
  export default text;
}
