/**
 * Values the memory read store keeps without copying them: containers it froze itself together
 * with everything inside them, and Dates whose maker promises never to change them. Frozen plain
 * containers of scalars need no note (a look at their values shows them immutable), but a Date
 * does: its setters work on a frozen one, so the store copies every Date it is given unless it is
 * noted here. A Date read from the store is noted (the store made it) and must not be changed
 * either.
 */
const keptAsIs = new WeakSet<object>();

/** Whether `value` may be stored as it is, shared with whatever else holds it. */
export const isKeptAsIs = (value: object): boolean => keptAsIs.has(value);

/** @internal for the memory store: `value` is frozen all the way down, by the store itself */
export function noteKeptAsIs(value: object): void {
  keptAsIs.add(value);
}

/**
 * A frozen Date the caller will never change, which a memory store may therefore keep without a
 * copy: for a document built to be stored as it is (an audit entry's TTL field), which a copy of
 * its Date alone would make the store copy whole.
 */
export function fixedDate(time: number | string): Date {
  const date = Object.freeze(new Date(time));
  keptAsIs.add(date);
  return date;
}
