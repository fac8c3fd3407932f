/**
 * Values the memory read store keeps without copying them: containers it froze itself together
 * with everything inside them, and Dates whose maker promises never to change them. Frozen plain
 * containers of scalars need no note (a look at their values shows them immutable), but a Date
 * does: its setters work on a frozen one, so the store copies every Date it is given unless it is
 * one of these. A Date read from the store is kept as it is (the store made it) and must not be
 * changed either.
 */
const keptAsIs = new WeakSet<object>();

/** Whether `value` may be stored as it is, shared with whatever else holds it (a fixedDate is asked with isFixedDate). */
export const isKeptAsIs = (value: object): boolean => keptAsIs.has(value);

/** @internal for the memory store: `value` is frozen all the way down, by the store itself */
export function noteKeptAsIs(value: object): void {
  keptAsIs.add(value);
}

/** A base whose constructor hands back the object it is given, so a subclass's field initialisers run on that object. */
class OnGiven {
  constructor(given: object) {
    return given as OnGiven;
  }
}

/**
 * Marks fixed Dates with a private field: a brand no property lookup, Object.keys, Reflect.ownKeys,
 * JSON or structured clone sees, put on before the Date is frozen. A WeakSet entry did the same at
 * ~0.4 us in the audit replay and well over a microsecond where the Dates are kept (every audit
 * entry is): each new key of a large WeakSet is an ephemeron every scavenge has to trace.
 */
class FixedDateBrand extends OnGiven {
  #fixed = true;
  static stamp(date: Date): void {
    new FixedDateBrand(date);
  }
  static has(value: object): boolean {
    return #fixed in value;
  }
}

/**
 * A frozen Date the caller will never change, which a memory store may therefore keep without a
 * copy: for a document built to be stored as it is (an audit entry's TTL field), which a copy of
 * its Date alone would make the store copy whole.
 */
export function fixedDate(time: number | string): Date {
  const date = new Date(time);
  FixedDateBrand.stamp(date);
  return Object.freeze(date);
}

/** Whether a Date came from fixedDate. */
export const isFixedDate = (date: Date): boolean => FixedDateBrand.has(date);
