/**
 * The agent (a real process) with a verification policy: a digest signed by the trusted key is written,
 * an unsigned one and one signed by another key never reach the directory (not even as a partial file),
 * the module already there stays, and the refusal is logged with the key tried and counted.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signManifest } from '../../src/sign/index.js';
import { moduleWithCustomSection } from '../support/wasm-fixtures.js';
import {
  eventually,
  getJson,
  metricValue,
  pushModule,
  spawnAgent,
  tempDir,
  useProxiedRegistry,
  type AgentProcess,
  type Pushed,
} from './helpers.js';

const fixture = useProxiedRegistry();
const trusted = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
let signed: Pushed;
let unsigned: Pushed;
let wronglySigned: Pushed;

async function sign(p: Pushed, key: typeof trusted.privateKey): Promise<void> {
  const { target } = await fixture.session.open(p.pinned);
  await signManifest(target, await target.resolve(p.digest), p.pinned.split('@')[0]!, key);
}

beforeAll(async () => {
  const { session, registry } = fixture;
  signed = await pushModule(session, registry.host, 'verify/ok', 'v1', moduleWithCustomSection(4096, 'ok'));
  unsigned = await pushModule(
    session,
    registry.host,
    'verify/none',
    'v1',
    moduleWithCustomSection(4096, 'no'),
  );
  wronglySigned = await pushModule(
    session,
    registry.host,
    'verify/bad',
    'v1',
    moduleWithCustomSection(4096, 'bad'),
  );
  await sign(signed, trusted.privateKey);
  await sign(wronglySigned, other.privateKey);
});

let agent: AgentProcess | undefined;
afterEach(async () => {
  agent?.child.kill('SIGTERM');
  await agent?.exited;
  agent = undefined;
});

describe('agent --verification-policy', () => {
  it('writes only digests a trusted key signed; the module already present keeps running', async () => {
    const dir = tempDir();
    const policyDir = tempDir('meshwasm-policy-');
    writeFileSync(
      join(policyDir, 'release.pub'),
      trusted.publicKey.export({ type: 'spki', format: 'pem' }) as string,
    );
    const policy = join(policyDir, 'policy.yaml');
    writeFileSync(policy, 'keys:\n  - name: release\n    file: release.pub\n');
    const images = join(policyDir, 'images');
    writeFileSync(images, `${signed.pinned}\n`);
    agent = spawnAgent([
      '--images-file',
      images,
      '--dir',
      dir,
      '--verification-policy',
      policy,
      '--plain-http',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--jitter',
      '0',
      '--retry-base',
      '200ms',
    ]);
    await agent.waitForLog((l) => l.msg.startsWith('signature verification on'));
    await eventually(() => expect(readdirSync(dir)).toContain(`${signed.hex}.wasm`));

    writeFileSync(images, `${signed.pinned}\n${unsigned.pinned}\n${wronglySigned.pinned}\n`);
    const refusedUnsigned = await agent.waitForLog(
      (l) => l.msg === 'module pull failed' && l.reference === unsigned.pinned && l.code === 'SIGNATURE',
    );
    expect(refusedUnsigned.err).toContain('no signature found');
    expect(refusedUnsigned.err).toContain('key release');
    const refusedWrong = await agent.waitForLog(
      (l) => l.msg === 'module pull failed' && l.reference === wronglySigned.pinned && l.code === 'SIGNATURE',
    );
    expect(refusedWrong.err).toContain('made by none of the keys');

    // Nothing of the refused digests was written, not even a temporary file; the signed one stays.
    const files = readdirSync(dir);
    expect(files.filter((f) => f.includes(unsigned.hex) || f.includes(wronglySigned.hex))).toEqual([]);
    expect(files).toContain(`${signed.hex}.wasm`);
    const port = await agent.port();
    const metrics = (await getJson(port, '/metrics')).text;
    expect(metricValue(metrics, 'meshwasm_agent_signature_failures_total')).toBeGreaterThanOrEqual(2);
    expect(metricValue(metrics, 'meshwasm_agent_modules_present')).toBe(1);
  });

  it('refuses to start with a broken policy, saying which field', async () => {
    const policyDir = tempDir('meshwasm-policy-');
    const policy = join(policyDir, 'policy.yaml');
    writeFileSync(policy, 'keys:\n  - publicKey: not a key\n');
    agent = spawnAgent([
      '--images-file',
      join(policyDir, 'images'),
      '--dir',
      tempDir(),
      '--verification-policy',
      policy,
    ]);
    const { code } = await agent.exited;
    expect(code).not.toBe(0);
    expect(agent.stderr()).toContain('keys[0]: no PEM block found');
  });
});
