/** mulberry32: a tiny seedable PRNG, good enough for simulated jitter and failures (not for secrets). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit seed from a base seed and a name (FNV-1a), so each simulated node has its own stream. */
export function deriveSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export interface Random {
  next(): number;
  between(min: number, max: number): number;
  chance(p: number): boolean;
}

export function seededRandom(seed: number): Random {
  const next = mulberry32(seed);
  return { next, between: (min, max) => min + (max - min) * next(), chance: (p) => next() < p };
}
