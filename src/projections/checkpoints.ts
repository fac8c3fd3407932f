import type { Doc } from "./store/port.js";

/** The collection holding one checkpoint document per projection (and per rebuild under way). */
export const CHECKPOINTS = "_checkpoints";

export interface Checkpoint extends Doc {
  /** events up to and including this position are applied and stored */
  position: number;
  version: number;
  failed?: { position: number; message: string };
}
