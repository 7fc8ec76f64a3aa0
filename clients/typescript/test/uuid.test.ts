import { afterEach, describe, expect, it, vi } from 'vitest';
import { randomUUID } from '../src/uuid.js';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('randomUUID', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("uses Web Crypto's randomUUID", () => {
    expect(randomUUID()).toMatch(V4);
    expect(randomUUID()).not.toBe(randomUUID());
  });

  it('falls back to getRandomValues, then to Math.random, where Web Crypto is missing (Node 18 without the flag)', () => {
    const fixed = { getRandomValues: (bytes: Uint8Array) => bytes.fill(0xab) };
    vi.stubGlobal('crypto', fixed);
    expect(randomUUID()).toBe('abababab-abab-4bab-abab-abababababab');
    vi.stubGlobal('crypto', undefined);
    const ids = new Set(Array.from({ length: 50 }, () => randomUUID()));
    expect(ids.size).toBe(50);
    for (const id of ids) expect(id).toMatch(V4);
  });
});
