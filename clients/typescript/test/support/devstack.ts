import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A devstack process started for a test, on a free port. */
export interface Devstack {
  /** `ws://127.0.0.1:PORT/local`. */
  wsUrl: string;
  /** `http://127.0.0.1:PORT/local`: the Management API is under `/@connections/{id}`. */
  managementUrl: string;
  /** Everything the process printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));

/**
 * The devstack binary: `STARLING_DEVSTACK_BIN`, else `target/debug/starling-devstack` in the
 * repository (what `cargo build -p starling-devstack` makes). Missing is a failure, never a
 * skip: these tests are the SDK's proof against the real server.
 */
export function devstackBinary(): string {
  const bin = process.env.STARLING_DEVSTACK_BIN ?? `${repoRoot}target/debug/starling-devstack`;
  if (!existsSync(bin)) {
    throw new Error(`no devstack binary at ${bin}: run \`cargo build -p starling-devstack\` in the repository root, or set STARLING_DEVSTACK_BIN`);
  }
  return bin;
}

/** Starts a devstack with `args` (after `--port 0`) and waits until it prints its WebSocket URL. */
export async function startDevstack(args: string[] = []): Promise<Devstack> {
  const child: ChildProcess = spawn(devstackBinary(), ['--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
  });
  let output = '';
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    output += chunk;
  });
  const wsUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the devstack did not print its URL within 20 s:\n${output}`)), 20_000);
    child.stdout?.on('data', (chunk: string) => {
      output += chunk;
      const match = /WebSocket:\s+(ws:\/\/\S+)/.exec(output);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the devstack exited with ${code} before it was ready:\n${output}`));
    });
  });
  return {
    wsUrl,
    managementUrl: wsUrl.replace(/^ws:/, 'http:'),
    output: () => output,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGINT');
        setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
      }),
  };
}
