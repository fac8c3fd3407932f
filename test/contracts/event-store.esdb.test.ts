import { suite } from "uvu";
import { EsdbEventStore } from "../../src/events/store/esdb.js";
import { eventStoreContract } from "./event-store.js";

const url = process.env.EVENTSTORE_URL;

if (url) {
  // one shared server: the suite's unique stream names keep tests apart, so there is nothing to delete
  eventStoreContract("eventstoredb", async () => {
    const store = new EsdbEventStore(url);
    return { store, cleanup: () => store.close() };
  }).run();
} else {
  console.log("SKIPPED: EventStoreDB contract suite (set EVENTSTORE_URL to run)");
  suite("EventStore contract: eventstoredb (skipped)").run();
}
