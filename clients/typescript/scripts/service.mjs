// Starts the real recommendation service (`python -m recommendation_engine serve`, on its
// embedded PostgreSQL in a temporary directory) for code generation and the tests.
// SERVICE_PYTHON names a Python with the service installed; by default the repository's
// .venv/bin/python, relative to this package.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const API_KEY = 'sdk-test-key';
const KEEP = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'USER', 'LOGNAME', 'SYSTEMROOT'];
const READY_WITHIN_MS = 120_000;

/** The Python that runs the service. */
export function servicePython() {
  return resolve(PACKAGE_DIR, process.env.SERVICE_PYTHON || '../../.venv/bin/python');
}

/**
 * A free TCP port on the loopback interface.
 * @returns {Promise<number>}
 */
export function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

/**
 * @typedef {object} RunningService
 * @property {string} url the service's base URL
 * @property {string} apiKey its administrator key
 * @property {string} log path of its log file
 * @property {string} dataDir its DATA_DIR (the embedded PostgreSQL is in its postgres/)
 * @property {() => Promise<void>} stop SIGTERM, then removes its data
 */

/**
 * Start the service with the test settings, `settings` added to its environment, and
 * wait until GET /ready answers 200.
 * @param {Record<string, string>} [settings]
 * @returns {Promise<RunningService>}
 */
export async function startService(settings = {}) {
  const home = mkdtempSync(join(tmpdir(), 'rec-ts-client-'));
  const port = await freePort();
  /** @type {Record<string, string>} */
  const env = {};
  for (const name of KEEP) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, {
    DATA_DIR: join(home, 'data'),
    PORT: String(port),
    HOST: '127.0.0.1',
    API_KEY,
    RATE_LIMIT_ENABLED: 'false',
    SHUTDOWN_DRAIN_SECS: '0',
    BACKGROUND_JOBS: 'false',
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    LOG_LEVEL: 'warn',
    ...settings,
  });
  const log = join(home, 'serve.log');
  const out = openSync(log, 'a');
  const child = spawn(servicePython(), ['-m', 'recommendation_engine', 'serve'], {
    env,
    cwd: home,
    stdio: ['ignore', out, out],
  });
  /** @type {number | null} */
  let exitCode = null;
  let spawnError = '';
  const exited = new Promise((done) => {
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? 128 : 1);
      done(undefined);
    });
    child.once('error', (error) => {
      spawnError = String(error);
      exitCode = exitCode ?? 127;
      done(undefined);
    });
  });
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (exitCode === null) {
      child.kill('SIGTERM');
      const killed = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(killed);
    }
    rmSync(home, { recursive: true, force: true });
  };

  const deadline = Date.now() + READY_WITHIN_MS;
  for (;;) {
    if (exitCode !== null) {
      const text = spawnError || readFileSync(log, 'utf8');
      await stop();
      throw new Error(`the service (${servicePython()}) exited:\n${text}`);
    }
    if (Date.now() > deadline) {
      const text = readFileSync(log, 'utf8');
      await stop();
      throw new Error(`the service was not ready in time:\n${text}`);
    }
    try {
      const response = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((done) => setTimeout(done, 200));
  }
  return { url, apiKey: API_KEY, log, dataDir: env['DATA_DIR'] ?? '', stop };
}

/**
 * The service's OpenAPI document.
 * @param {string} url the document's URL
 * @param {string | undefined} apiKey sent as X-API-Key
 * @returns {Promise<Record<string, unknown>>}
 */
export async function fetchDocument(url, apiKey) {
  const response = await fetch(url, { headers: apiKey ? { 'X-API-Key': apiKey } : {} });
  if (!response.ok) {
    throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`);
  }
  return /** @type {Record<string, unknown>} */ (await response.json());
}
