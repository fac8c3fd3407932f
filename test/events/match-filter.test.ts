import * as fc from "fast-check";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { matchesFilter } from "../../src/events/store/port.js";

// A long list of types is looked up in a Set made once per list: the same answers as the plain
// definition (the list includes the type, and the stream has one of the prefixes).
test("property: matchesFilter agrees with includes/startsWith for short and long type lists", () => {
  const type = fc.constantFrom("A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "constructor", "__proto__", "");
  fc.assert(
    fc.property(
      fc.option(fc.array(type, { maxLength: 14 }), { nil: undefined }),
      fc.option(fc.array(fc.constantFrom("deployment-", "node-", "user-"), { maxLength: 2 }), { nil: undefined }),
      fc.array(fc.record({ type, streamId: fc.constantFrom("deployment-1", "node-2", "secret-3") }), { maxLength: 8 }),
      (eventTypes, streamPrefixes, events) => {
        const filter = { eventTypes, streamPrefixes };
        for (const e of events) {
          const plain = (!streamPrefixes || streamPrefixes.some((p) => e.streamId.startsWith(p))) && (!eventTypes || eventTypes.includes(e.type));
          assert.is(matchesFilter(e, filter), plain);
        }
      },
    ),
  );
});

test.run();
