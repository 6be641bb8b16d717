#!/usr/bin/env node
// CDK app entry: `npx cdk synth` / `npx cdk deploy` from infra/cdk (see docs/deploy.md).
//
// The Rust functions are deployed from the zips cargo-lambda writes:
//   cargo lambda build --release --arm64 --output-format zip   (at the workspace root)
// which land in <workspace>/target/lambda/starling-<name>/bootstrap.zip ($CARGO_TARGET_DIR/lambda when
// that is set). `-c lambdaAssetDir=DIR` points elsewhere; CI's offline synth points it at placeholder
// zips (scripts/placeholder-assets.ts) that are never deployed.
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { StarlingStack } from '../lib/starling-stack.js';

const app = new App();

const workspaceRoot = fileURLToPath(new URL('../../..', import.meta.url));
const defaultAssetDir = process.env.CARGO_TARGET_DIR
  ? join(resolve(workspaceRoot, process.env.CARGO_TARGET_DIR), 'lambda')
  : join(workspaceRoot, 'target', 'lambda');
const lambdaAssetDir = resolve((app.node.tryGetContext('lambdaAssetDir') as string | undefined) ?? defaultAssetDir);

new StarlingStack(app, 'Starling', {
  stackName: (app.node.tryGetContext('stackName') as string | undefined) ?? 'starling',
  lambdaAssetDir,
});
