// Generates src/generated/protocol.ts from docs/asyncapi.yaml: one TypeScript type per schema of
// components/schemas, the unions of client requests and server frames, and the limits the
// schemas state. `--check` regenerates in memory and fails when the committed file differs, so
// the spec and the SDK's types cannot drift apart.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

const specUrl = new URL('../../../docs/asyncapi.yaml', import.meta.url);
const outUrl = new URL('../src/generated/protocol.ts', import.meta.url);

const spec = parseYaml(await readFile(specUrl, 'utf8'));
const schemas = spec.components.schemas;
const messages = spec.components.messages;

const pascal = (name) => name.charAt(0).toUpperCase() + name.slice(1);
const payloadName = (message) => message.payload.$ref.split('/').pop();

// Server frames and API Gateway's frame are payloads of messages not named `...Request`.
const requestSchemas = Object.values(messages).map(payloadName).filter((n) => n.endsWith('Request'));
const frameSchemas = Object.values(messages).map(payloadName).filter((n) => !n.endsWith('Request'));
const typeName = (schemaName) => (frameSchemas.includes(schemaName) ? `${pascal(schemaName)}Frame` : pascal(schemaName));

function refName(ref) {
  const prefix = '#/components/schemas/';
  if (!ref.startsWith(prefix)) throw new Error(`unsupported $ref ${ref}`);
  const name = ref.slice(prefix.length);
  if (!(name in schemas)) throw new Error(`dangling $ref ${ref}`);
  return typeName(name);
}

const literal = (value) => JSON.stringify(value);

function tsType(schema, indent) {
  if (schema.$ref) return refName(schema.$ref);
  if ('const' in schema) return literal(schema.const);
  if (schema.enum) return schema.enum.map(literal).join(' | ');
  if (schema.oneOf) return schema.oneOf.map((s) => tsType(s, indent)).join(' | ');
  if (Array.isArray(schema.type)) return schema.type.map((t) => tsType({ ...schema, type: t }, indent)).join(' | ');
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array': {
      const item = tsType(schema.items, indent);
      return /[ |&]/.test(item) ? `Array<${item}>` : `${item}[]`;
    }
    case 'object':
      return objectType(schema, indent);
    default:
      throw new Error(`unsupported schema ${JSON.stringify(schema)}`);
  }
}

// The constraints JSON Schema states but TypeScript cannot, for the TSDoc.
function constraints(schema) {
  const out = [];
  if (schema.minLength !== undefined || schema.maxLength !== undefined) out.push(`length ${schema.minLength ?? 0}–${schema.maxLength ?? '∞'}`);
  if (schema.minimum !== undefined) out.push(`minimum ${schema.minimum}`);
  if (schema.maximum !== undefined) out.push(`maximum ${schema.maximum}`);
  if (schema.minItems !== undefined) out.push(`at least ${schema.minItems} item(s)`);
  if (schema.minProperties !== undefined || schema.maxProperties !== undefined) out.push(`${schema.minProperties ?? 0}–${schema.maxProperties ?? '∞'} entries`);
  if (schema.pattern !== undefined) out.push(`pattern \`${schema.pattern}\``);
  if (schema.format !== undefined) out.push(`format ${schema.format}`);
  return out;
}

function doc(schema, indent) {
  const text = (schema.description ?? '').trim();
  const lines = text ? text.split('\n').map((l) => l.trimEnd()) : [];
  const limits = constraints(schema);
  if (limits.length > 0) lines.push(`${lines.length > 0 ? '\n' : ''}Constraints: ${limits.join('; ')}.`);
  const all = lines.join('\n').split('\n');
  if (all.length === 1 && all[0] === '') return '';
  if (all.length === 1) return `${indent}/** ${all[0]} */\n`;
  return `${indent}/**\n${all.map((l) => `${indent} *${l ? ` ${l}` : ''}`).join('\n')}\n${indent} */\n`;
}

// A property that only refers to a shared schema is documented by that schema's first sentence.
function propertyDoc(prop, key) {
  if (prop.description === undefined && 'const' in prop) {
    return { ...prop, description: key === 'type' ? 'The frame type.' : key === 'action' ? 'The request action.' : undefined };
  }
  if (prop.description !== undefined || prop.$ref === undefined) return prop;
  const target = schemas[prop.$ref.split('/').pop()];
  const text = (target?.description ?? '').trim().replace(/\s+/g, ' ');
  const end = text.search(/[.:;] /);
  const first = end < 0 ? text : `${text.slice(0, end)}.`;
  return first ? { description: first } : {};
}

function objectType(schema, indent) {
  const props = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const inner = `${indent}  `;
  const lines = [];
  for (const [key, prop] of Object.entries(props)) {
    lines.push(`${doc(propertyDoc(prop, key), inner)}${inner}${key}${required.has(key) ? '' : '?'}: ${tsType(prop, inner)};`);
  }
  const extra = schema.additionalProperties;
  if (extra && typeof extra === 'object') {
    const key = schema.propertyNames?.$ref ? refName(schema.propertyNames.$ref) : 'string';
    lines.push(`${doc(extra, inner)}${inner}[key: ${key}]: ${tsType(extra, inner)};`);
  }
  if (lines.length === 0) return '{}';
  return `{\n${lines.join('\n')}\n${indent}}`;
}

const header = `// Generated from docs/asyncapi.yaml by clients/typescript/scripts/generate.mjs.
// Do not edit by hand: change the spec, then run \`npm run generate\`. CI fails when this file
// differs from what the spec generates.
`;

const out = [header];
out.push(`/** The protocol version these types describe (\`info.version\` of the spec). */\nexport const PROTOCOL_VERSION = ${literal(String(spec.info.version))};\n`);

for (const [name, schema] of Object.entries(schemas)) {
  const kind = frameSchemas.includes(name) ? 'Server frame' : requestSchemas.includes(name) ? 'Client request' : undefined;
  const lead = kind ? { ...schema, description: `${kind} \`${name}\`: ${(schema.description ?? '').trim()}` } : schema;
  const body = tsType(schema, '');
  const declaration = schema.type === 'object' && !schema.$ref ? `export interface ${typeName(name)} ${body}` : `export type ${typeName(name)} = ${body};`;
  out.push(`${doc(lead, '')}${declaration}\n`);
}

const union = (names) => names.map((n) => `\n  | ${typeName(n)}`).join('');
const starlingFrames = frameSchemas.filter((n) => schemas[n].properties?.type?.const !== undefined);
out.push(`/** Every request a client may send (the \`...Request\` messages of the spec). */\nexport type ClientRequest =${union(requestSchemas)};\n`);
out.push(`/** Every frame a Starling server sends, discriminated by \`type\`. */\nexport type ServerFrame =${union(starlingFrames)};\n`);
out.push(`/** The \`type\` of a server frame. */\nexport type ServerFrameType = ServerFrame['type'];\n`);
out.push(`/** The \`action\` of a client request. */\nexport type RequestAction = ClientRequest['action'];\n`);
out.push(`/** Every server frame \`type\` of protocol v1; a frame of another type is ignored. */\nexport const SERVER_FRAME_TYPES: readonly ServerFrameType[] = ${literal(starlingFrames.map((n) => schemas[n].properties.type.const))};\n`);
out.push(`/** Every error code of protocol v1; clients treat any other code like \`internal\`. */\nexport const ERROR_CODES: readonly ErrorCode[] = ${literal(schemas.errorCode.enum)};\n`);

const send = schemas.sendRequest.properties;
const limits = {
  maxBodyLength: [send.body.maxLength, '`send.body`: at most this many bytes of UTF-8 (16 KiB).'],
  maxClientMsgIdLength: [schemas.clientMsgId.maxLength, '`clientMsgId`: at most this many characters.'],
  maxRoomIdLength: [schemas.roomId.maxLength, 'A room id: at most this many characters.'],
  roomIdPattern: [schemas.roomId.pattern, 'A room id matches this regular expression.'],
  maxSyncRooms: [schemas.syncRequest.properties.rooms.maxProperties, 'Rooms in one `sync` request.'],
  maxHistoryLimit: [schemas.historyRequest.properties.limit.maximum, '`history.limit` at most.'],
};
const limitLines = Object.entries(limits).map(([k, [v, d]]) => {
  if (v === undefined) throw new Error(`the spec no longer states ${k}`);
  return `  /** ${d} */\n  ${k}: ${literal(v)},`;
});
out.push(`/** The limits the spec states, which the SDK checks before sending. */\nexport const LIMITS = {\n${limitLines.join('\n')}\n} as const;\n`);

const text = out.join('\n');
if (process.argv.includes('--check')) {
  const current = await readFile(outUrl, 'utf8').catch(() => '');
  if (current !== text) {
    console.error(`${fileURLToPath(outUrl)} is not what docs/asyncapi.yaml generates: run \`npm run generate\` in clients/typescript and commit it`);
    process.exit(1);
  }
  console.log('src/generated/protocol.ts is up to date with docs/asyncapi.yaml');
} else {
  await mkdir(new URL('.', outUrl), { recursive: true });
  await writeFile(outUrl, text);
  console.log(`wrote ${fileURLToPath(outUrl)}`);
}
