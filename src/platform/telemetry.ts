import {
  context,
  diag,
  DiagLogLevel,
  INVALID_SPAN_CONTEXT,
  ProxyTracerProvider,
  propagation,
  SpanStatusCode,
  trace,
  type Attributes,
  type AttributeValue,
  type Context,
  type Span,
} from "@opentelemetry/api";
import type { NodeSDKConfiguration } from "@opentelemetry/sdk-node";
import type { Logger } from "./logger.js";

export interface Telemetry {
  /** Flushes pending spans and unregisters the global providers; safe to call twice. */
  shutdown(): Promise<void>;
}

export interface TelemetryOptions {
  /** OTLP base URL (e.g. http://jaeger:4318); spans go to `${endpoint}/v1/traces`. */
  endpoint?: string;
  serviceName: string;
  /** Where exporter errors go; without it they are silent, as the OTel API defaults to. */
  logger?: Logger;
  env?: Record<string, string | undefined>;
}

const TRACER_NAME = "kernel-orchestrator";
const NOT_RECORDING = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** True while a tracer provider is registered (startTelemetry, or a test's own). */
export function tracing(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegateTracer(TRACER_NAME) !== undefined;
}

/**
 * Starts tracing when an endpoint is configured (here or through the standard OTEL_* variables)
 * and does nothing otherwise, so the embedded `npm start` sends nothing anywhere.
 */
export async function startTelemetry(opts: TelemetryOptions): Promise<Telemetry> {
  const env = opts.env ?? process.env;
  const tracesExporter = env.OTEL_TRACES_EXPORTER?.trim();
  const fromEnv = [tracesExporter, env.OTEL_EXPORTER_OTLP_ENDPOINT, env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT].some(Boolean);
  if (env.OTEL_SDK_DISABLED === "true" || tracesExporter === "none" || (!opts.endpoint && !fromEnv)) {
    return { shutdown: async () => {} };
  }

  // Loaded only when tracing is on: the SDK and its exporters take seconds to import, which every
  // embedded start and every test importing withSpan would otherwise pay.
  const [{ NodeSDK }, { OTLPTraceExporter }] = await Promise.all([
    import("@opentelemetry/sdk-node"),
    import("@opentelemetry/exporter-trace-otlp-http"),
  ]);

  const ownsDiag = Boolean(opts.logger);
  if (opts.logger) diag.setLogger(diagToPino(opts.logger), DiagLogLevel.WARN);

  const config: Partial<NodeSDKConfiguration> = {
    serviceName: opts.serviceName,
    // Metrics are served by prom-client on /metrics and logs go to stdout; the SDK would otherwise
    // push both over OTLP by default, which Jaeger refuses. An explicit OTEL_*_EXPORTER still wins.
    ...(env.OTEL_METRICS_EXPORTER ? {} : { metricReaders: [] }),
    ...(env.OTEL_LOGS_EXPORTER ? {} : { logRecordProcessors: [] }),
  };
  // An explicit OTEL_TRACES_EXPORTER (otlp, console, zipkin, with its protocol variables) is the
  // SDK's to build; otherwise the endpoint gets the OTLP HTTP exporter.
  if (!tracesExporter) {
    // Without a URL the exporter reads OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT itself; the
    // signal-specific variable outranks the generic endpoint, as the OTel spec says.
    const url = opts.endpoint && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? tracesUrl(opts.endpoint) : undefined;
    config.traceExporter = new OTLPTraceExporter(url ? { url } : {});
  }

  const sdk = new NodeSDK(config);
  sdk.start();

  let stopped: Promise<void> | undefined;
  return {
    shutdown() {
      stopped ??= sdk.shutdown().finally(() => {
        // Unregister so a later startTelemetry in the same process (tests, restarts) can register.
        trace.disable();
        propagation.disable();
        context.disable();
        if (ownsDiag) diag.disable();
      });
      return stopped;
    },
  };
}

function tracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, "")}/v1/traces`;
}

function diagToPino(logger: Logger) {
  const log = logger.child({ component: "otel" });
  return {
    error: (msg: string, ...args: unknown[]) => log.error({ args }, msg),
    warn: (msg: string, ...args: unknown[]) => log.warn({ args }, msg),
    info: (msg: string, ...args: unknown[]) => log.info({ args }, msg),
    debug: (msg: string, ...args: unknown[]) => log.debug({ args }, msg),
    verbose: (msg: string, ...args: unknown[]) => log.trace({ args }, msg),
  };
}

/** W3C traceparent of the active span, for event metadata; undefined when not tracing. */
export function currentTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** The context a traceparent describes, or the active one when it is absent or malformed. */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  if (!traceparent) return context.active();
  return propagation.extract(context.active(), { traceparent });
}

export type SpanAttrs = Record<string, AttributeValue | undefined> & {
  /** Parent to join instead of the active span: the traceparent stored on the causing event. */
  traceparent?: string | undefined;
};

/**
 * Runs `fn` inside a new span, child of `attrs.traceparent` when given (so a deployment runner step
 * joins the trace of the request that started it) or of the active span. Errors mark the span and
 * are rethrown. `traceparent` is the parent link, not recorded as an attribute; undefined values
 * are left out.
 */
export async function withSpan<T>(name: string, attrs: SpanAttrs, fn: (span: Span) => Promise<T>): Promise<T> {
  // Without a registered provider the API's tracer makes non-recording spans and its context
  // manager does not switch contexts: the same outcome as calling fn, minus the attributes,
  // the parent lookup and a closure per request.
  if (!tracing()) return fn(NOT_RECORDING);
  const { traceparent, ...rest } = attrs;
  const attributes: Attributes = {};
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) attributes[k] = v;

  const parent = contextFromTraceparent(traceparent);
  return trace.getTracer(TRACER_NAME).startActiveSpan(name, { attributes }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}
