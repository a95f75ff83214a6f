/**
 * Where our REST API falls short of a contract, as lines a test can list: operations not
 * answered or refused, and for the implemented ones the parameters, request fields,
 * statuses and required response fields the contract has and we lack.
 */
import type { OperationFacts } from "./openapi-facts.ts";

export interface ContractGaps {
  /** Operations of the contract with no route here at all. */
  unanswered: string[];
  /** Operations answered, but refused by this build (`x-boxlite-unsupported`). */
  refused: string[];
  parameters: string[];
  requestFields: string[];
  statuses: string[];
  responseFields: string[];
}

function requestGaps(key: string, theirs: OperationFacts, ours: OperationFacts): string[] {
  const gaps: string[] = [];
  if ((ours.request === null) !== (theirs.request === null)) gaps.push(`${key}: request body ${theirs.request ? "missing" : "not in the contract"}`);
  if (!theirs.request || !ours.request) return gaps;
  if (ours.request.required !== theirs.request.required)
    gaps.push(`${key}: request body required=${ours.request.required}, contract: ${theirs.request.required}`);
  if (!theirs.request.json) return gaps; // a binary body (file upload)
  const ourFields = ours.request.json?.fields ?? [];
  for (const field of theirs.request.json.fields) if (!ourFields.includes(field)) gaps.push(`${key}: request field ${field} unknown`);
  const ourRequired = (ours.request.json?.required ?? []).join(",");
  if (ourRequired !== theirs.request.json.required.join(","))
    gaps.push(`${key}: required request fields [${ourRequired}], contract: [${theirs.request.json.required.join(",")}]`);
  return gaps;
}

function parameterGaps(key: string, theirs: OperationFacts, ours: OperationFacts): string[] {
  const have = new Map(ours.parameters.map((param) => [`${param.in} ${param.name}`, param]));
  const gaps: string[] = [];
  for (const param of theirs.parameters) {
    const ourParam = have.get(`${param.in} ${param.name}`);
    if (!ourParam) gaps.push(`${key}: ${param.in} parameter ${param.name} missing`);
    else if (ourParam.required !== param.required)
      gaps.push(`${key}: ${param.in} parameter ${param.name} required=${ourParam.required}, contract: ${param.required}`);
  }
  return gaps;
}

function responseGaps(key: string, theirs: OperationFacts, ours: OperationFacts): string[] {
  const gaps: string[] = [];
  for (const [status, required] of Object.entries(theirs.responseRequired)) {
    if (!ours.statuses.includes(status)) continue; // a missing status is a status gap
    const ourRequired = ours.responseRequired[status] ?? [];
    for (const field of required) if (!ourRequired.includes(field)) gaps.push(`${key} ${status}: required field ${field} missing`);
  }
  return gaps;
}

/** Compares our operations with a contract's, both keyed "METHOD /path". */
export function contractGaps(theirs: ReadonlyMap<string, OperationFacts>, mine: ReadonlyMap<string, OperationFacts>): ContractGaps {
  const gaps: ContractGaps = { unanswered: [], refused: [], parameters: [], requestFields: [], statuses: [], responseFields: [] };
  for (const [key, their] of theirs) {
    const ours = mine.get(key);
    if (!ours) {
      gaps.unanswered.push(key);
      continue;
    }
    if (ours.unsupported) {
      gaps.refused.push(key);
      continue;
    }
    gaps.parameters.push(...parameterGaps(key, their, ours));
    gaps.requestFields.push(...requestGaps(key, their, ours));
    gaps.statuses.push(...their.statuses.filter((status) => !ours.statuses.includes(status)).map((status) => `${key}: status ${status} not answered`));
    gaps.responseFields.push(...responseGaps(key, their, ours));
  }
  for (const list of Object.values(gaps)) list.sort();
  return gaps;
}
