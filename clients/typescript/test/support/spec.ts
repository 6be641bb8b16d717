// The AsyncAPI document's schemas, to check frames a real server sends.
import { readFileSync } from 'node:fs';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

const spec = parse(readFileSync(new URL('../../../../docs/asyncapi.yaml', import.meta.url), 'utf8')) as {
  components: { schemas: Record<string, { properties?: { type?: { const?: string } } }> };
};
const ajv = new Ajv.default({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addSchema(spec, 'asyncapi');

/** Why `frame` is not a valid server frame of the spec (`undefined` when it is). */
export function frameProblem(frame: unknown): string | undefined {
  if (typeof frame !== 'object' || frame === null) return 'not an object';
  const type = (frame as { type?: unknown }).type;
  const name = typeof type === 'string' ? type : 'gatewayError';
  const isFrame = name === 'gatewayError' || spec.components.schemas[name]?.properties?.type?.const === name;
  if (!isFrame) return `no server frame of type ${String(type)} in the spec`;
  const validate = ajv.getSchema(`asyncapi#/components/schemas/${name}`);
  if (validate === undefined) return `no schema ${name}`;
  return validate(frame) ? undefined : ajv.errorsText(validate.errors);
}
