/**
 * Frozen all the way down, for a value several readers share: a mutation then fails loudly (these
 * are ES modules, strict mode) instead of leaking into another reader. A part already frozen is
 * taken as frozen all the way down (as everything frozen here is). A Map's or Set's entries cannot
 * be frozen, only what they hold; whoever shares one must replace it rather than change it.
 */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  Object.freeze(value);
  if (value instanceof Map) for (const v of value.values()) deepFreeze(v);
  else if (value instanceof Set) for (const v of value) deepFreeze(v);
  else for (const v of Object.values(value)) deepFreeze(v);
  return value;
}
