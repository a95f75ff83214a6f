/**
 * Distills a REST contract (an OpenAPI YAML or JSON file) into the facts the contract
 * test compares (test/fixtures/rest-contract/), so the repository keeps what it checks
 * against without holding the contract itself.
 *
 *   bun scripts/distill-contract.ts box.openapi.yaml "<where the file came from>" > test/fixtures/rest-contract/<name>.json
 */
import { readContractFacts } from "../test/helpers/openapi-facts.ts";

const [path, source] = process.argv.slice(2);
if (!path || !source) {
  console.error('usage: bun scripts/distill-contract.ts CONTRACT.yaml "SOURCE (public URL and version)"');
  process.exit(2);
}
const text = await Bun.file(path).text();
const document = (path.endsWith(".json") ? JSON.parse(text) : Bun.YAML.parse(text)) as Record<string, unknown>;
console.log(JSON.stringify(readContractFacts(document, source), null, 2));
