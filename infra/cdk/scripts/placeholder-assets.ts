// Writes placeholder Lambda zips (starling-<name>/bootstrap.zip) into a folder, for offline synth and
// the assertion tests only: CI synthesizes the CDK app without compiling Rust. Each zip holds a
// `bootstrap` that fails loudly if it were ever deployed. Real deploys use cargo-lambda's zips.
//
//   node --import tsx scripts/placeholder-assets.ts DIR
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { FUNCTION_KEYS, loadContract } from '../lib/contract.js';

const PLACEHOLDER =
  '#!/bin/sh\necho "starling: placeholder asset from infra/cdk/scripts/placeholder-assets.ts; ' +
  'deploy cargo lambda build --release --arm64 --output-format zip output instead" >&2\nexit 1\n';

/** A one-file zip (stored, no compression), with the file executable. */
export function zipOneFile(name: string, content: Buffer): Buffer {
  const nameBuf = Buffer.from(name, 'utf8');
  const crc = crc32(content);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4); // version needed
  local.writeUInt16LE(0, 6); // flags
  local.writeUInt16LE(0, 8); // stored
  local.writeUInt16LE(0, 10); // time
  local.writeUInt16LE(0x21, 12); // date 1980-01-01
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(content.length, 18);
  local.writeUInt32LE(content.length, 22);
  local.writeUInt16LE(nameBuf.length, 26);
  local.writeUInt16LE(0, 28);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE((3 << 8) | 20, 4); // made by: unix
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(0, 8);
  central.writeUInt16LE(0, 10);
  central.writeUInt16LE(0, 12);
  central.writeUInt16LE(0x21, 14);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(content.length, 20);
  central.writeUInt32LE(content.length, 24);
  central.writeUInt16LE(nameBuf.length, 28);
  central.writeUInt16LE(0, 30); // extra
  central.writeUInt16LE(0, 32); // comment
  central.writeUInt16LE(0, 34); // disk
  central.writeUInt16LE(0, 36); // internal attrs
  central.writeUInt32LE((0o100755 << 16) >>> 0, 38); // external attrs: -rwxr-xr-x
  central.writeUInt32LE(0, 42); // local header offset
  const localSize = local.length + nameBuf.length + content.length;
  const centralSize = central.length + nameBuf.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(localSize, 16);
  return Buffer.concat([local, nameBuf, content, central, nameBuf, end]);
}

export function writePlaceholderAssets(dir: string): string {
  const contract = loadContract();
  const zip = zipOneFile('bootstrap', Buffer.from(PLACEHOLDER));
  for (const key of FUNCTION_KEYS) {
    const folder = join(dir, contract.functions[key].binary);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'bootstrap.zip'), zip);
  }
  return dir;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node --import tsx scripts/placeholder-assets.ts DIR');
    process.exit(2);
  }
  writePlaceholderAssets(dir);
  console.log(`placeholder Lambda zips written to ${dir}`);
}
