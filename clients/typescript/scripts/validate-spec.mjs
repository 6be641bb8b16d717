// Validates docs/asyncapi.yaml: first with the official AsyncAPI parser (any diagnostic of
// severity error fails), then every example in it and every JSON frame shown in
// docs/protocol.md against the payload schema it claims to be, so the prose, the examples and
// the schemas cannot drift apart.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';
import { parse as parseYaml } from 'yaml';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

const docsDir = new URL('../../../docs/', import.meta.url);
const specPath = fileURLToPath(new URL('asyncapi.yaml', docsDir));
const source = await readFile(specPath, 'utf8');
const failures = [];

const { document, diagnostics } = await new Parser().parse(source, { source: specPath });
const severity = ['error', 'warning', 'info', 'hint'];
for (const d of diagnostics) {
  const at = d.path.length ? d.path.join('.') : '(document)';
  console.log(`${severity[d.severity] ?? d.severity} ${d.code}: ${d.message} at ${at}`);
  if (d.severity === DiagnosticSeverity.Error) failures.push(`parser: ${d.message} at ${at}`);
}
if (document === undefined && failures.length === 0) failures.push('parser: no document');

const spec = parseYaml(source);
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
// Register the whole document so every `#/components/schemas/...` reference resolves.
ajv.addSchema(spec, 'asyncapi');
const validatorFor = (schemaName) => ajv.getSchema(`asyncapi#/components/schemas/${schemaName}`);

function check(where, schemaName, payload) {
  const validate = validatorFor(schemaName);
  if (validate === undefined) {
    failures.push(`${where}: no schema ${schemaName}`);
    return;
  }
  if (!validate(payload)) {
    failures.push(`${where}: ${JSON.stringify(payload)} is not a valid ${schemaName}: ${ajv.errorsText(validate.errors)}`);
  }
}

let examples = 0;
for (const [name, message] of Object.entries(spec.components.messages)) {
  const schemaName = message.payload.$ref.split('/').pop();
  for (const example of message.examples ?? []) {
    check(`asyncapi.yaml example of ${name}`, schemaName, example.payload);
    examples += 1;
  }
}

// The frames protocol.md shows in ```json blocks: a frame with `type` is that server frame, one
// with `action` is `{action}Request` (`keys.publish` is `keysPublishRequest`). Every block must be one of them.
const prose = await readFile(new URL('protocol.md', docsDir), 'utf8');
let proseFrames = 0;
for (const block of prose.matchAll(/```json\n([\s\S]*?)```/g)) {
  let frame;
  try {
    frame = JSON.parse(block[1]);
  } catch (err) {
    failures.push(`protocol.md: a json block does not parse: ${err.message}: ${block[1].trim()}`);
    continue;
  }
  const schemaName = typeof frame.type === 'string' ? frame.type : typeof frame.action === 'string' ? `${frame.action.replace(/\.(\w)/g, (_, c) => c.toUpperCase())}Request` : undefined;
  if (schemaName === undefined) {
    failures.push(`protocol.md: a json block is neither a server frame nor a request: ${block[1].trim()}`);
    continue;
  }
  check('protocol.md', schemaName, frame);
  proseFrames += 1;
}

if (failures.length > 0) {
  for (const f of failures) console.error(f);
  console.error(`docs/asyncapi.yaml: ${failures.length} problem(s)`);
  process.exit(1);
}
console.log(
  `docs/asyncapi.yaml: valid AsyncAPI ${document.version()}, ${Object.keys(spec.components.messages).length} messages, ` +
    `${examples} examples and ${proseFrames} frames of protocol.md match their schemas`,
);
