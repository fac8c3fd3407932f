import { trace } from "@opentelemetry/api";
import { pino, type DestinationStream, type Logger as PinoLogger } from "pino";

export type Logger = PinoLogger;

/**
 * Paths whose values never reach the log. fast-redact has no deep wildcard, so the common
 * shapes are listed at the depths where they occur (top level, one object down, request headers).
 */
const REDACT_PATHS = [
  "authorization",
  "headers.authorization",
  "req.headers.authorization",
  "request.headers.authorization",
  "*.headers.authorization",
  "headers.cookie",
  "req.headers.cookie",
  "*.headers.cookie",
  "password",
  "*.password",
  "*.*.password",
  "newPassword",
  "*.newPassword",
  "passwordHash",
  "*.passwordHash",
  "token",
  "*.token",
  "*.*.token",
  "accessToken",
  "*.accessToken",
  "refreshToken",
  "*.refreshToken",
  "secret",
  "*.secret",
  "jwtSecret",
  "*.jwtSecret",
];

/**
 * JSON lines on stdout (or `destination`, for tests). Each line carries the active span's ids so a
 * log line can be found from a trace in Jaeger and back.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: "[REDACTED]" },
      mixin() {
        const span = trace.getActiveSpan()?.spanContext();
        return span ? { trace_id: span.traceId, span_id: span.spanId } : {};
      },
    },
    destination ?? pino.destination(1),
  );
}
