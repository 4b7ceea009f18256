import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { faultPolicy, PluginsConfig } from '../../../daemon/config/plugins-schema.ts';
import { DEFAULT_POLICY } from '../../../plugins/runtime/policy.ts';

describe('plugins config section', () => {
  it('defaults to running plugins at 60 fps on a 1920×1080 canvas with the runtime’s default fault policy', () => {
    const c = PluginsConfig.parse({});
    assert.deepEqual(
      { enabled: c.enabled, frameRate: c.frameRate, width: c.width, height: c.height },
      { enabled: true, frameRate: 60, width: 1920, height: 1080 },
    );
    assert.deepEqual(faultPolicy(c.faults), DEFAULT_POLICY);
  });

  it('refuses out-of-range values and unknown fields', () => {
    for (const bad of [
      { frameRate: 0 },
      { frameRate: 240 },
      { width: 8 },
      { height: 1.5 },
      { faults: { faultsToRestart: 0 } },
      { faults: { faultsToRestart: 11, faultWindowFrames: 10 } },
      { faults: { consecutiveFaults: 5 } },
      { faults: { windowSeconds: 0 } },
      { faults: { typo: 1 } },
      { fps: 60 },
    ]) {
      assert.equal(PluginsConfig.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });

  it('describes every field (docs/configuration.md is generated from the descriptions)', () => {
    const shape = PluginsConfig.shape;
    for (const [k, v] of Object.entries(shape)) assert.ok(v.description, `plugins.${k} has a description`);
    for (const [k, v] of Object.entries(shape.faults.unwrap().shape))
      assert.ok(v.description, `plugins.faults.${k} has a description`);
  });
});
