export { OrchestratorClient, type ClientOptions, type FeedOptions } from "./api.js";
export { ApiError } from "./errors.js";
export { subscribe, type SubscribeOptions, type Subscription } from "./sse.js";
export * from "./types.js";
