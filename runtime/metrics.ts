import { monitorEventLoopDelay } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

/** The daemon's Prometheus metrics; one registry per daemon so tests can run several. */
export class RuntimeMetrics {
  readonly registry = new Registry();
  readonly jobs = new Counter({
    name: 'sdr_jobs_total',
    help: 'Job requests and outcomes, by event',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });
  readonly activeJobs = new Gauge({
    name: 'sdr_jobs_active',
    help: 'Jobs running in this process',
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'sdr_queue_depth',
    help: 'Jobs waiting in the Redis queue, by state',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly batchesSent = new Counter({
    name: 'sdr_batches_sent_total',
    help: 'Result batches sent over the tunnel (resends included)',
    registers: [this.registry],
  });
  readonly recordsSent = new Counter({
    name: 'sdr_records_sent_total',
    help: 'Metadata records sent in first sends of batches',
    registers: [this.registry],
  });
  readonly bytesSent = new Counter({
    name: 'sdr_tunnel_bytes_sent_total',
    help: 'Bytes of frames sent over the tunnel',
    registers: [this.registry],
  });
  readonly bytesReceived = new Counter({
    name: 'sdr_tunnel_bytes_received_total',
    help: 'Bytes of frames received over the tunnel',
    registers: [this.registry],
  });
  readonly reconnects = new Counter({
    name: 'sdr_tunnel_reconnects_total',
    help: 'Tunnel connection attempts after the first',
    registers: [this.registry],
  });
  readonly tunnelUp = new Gauge({
    name: 'sdr_tunnel_up',
    help: 'Connections of this instance that are up and welcomed (SDR_TUNNEL_CONNECTIONS at most)',
    registers: [this.registry],
  });
  readonly redisPersistent = new Gauge({
    name: 'sdr_redis_persistence',
    help: "1 when the queue's Redis persists its data (AOF or RDB), 0 when it does not (a restart loses queued jobs), -1 unknown",
    registers: [this.registry],
  });
  readonly framesRefused = new Counter({
    name: 'sdr_frames_refused_total',
    help: 'Received frames refused as malformed, unknown or too large, by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly jobWorkersStarted = new Counter({
    name: 'sdr_job_workers_started_total',
    help: 'Extraction worker threads started (each serves up to SDR_JOB_WORKER_MAX_JOBS jobs)',
    registers: [this.registry],
  });
  readonly uncaughtExceptions = new Counter({
    name: 'sdr_uncaught_exceptions_total',
    help: 'Exceptions no try/catch reached; `failed_job` says whether one was traced to a job and failed it',
    labelNames: ['failed_job'] as const,
    registers: [this.registry],
  });

  readonly welcomesRefused = new Counter({
    name: 'sdr_tunnel_welcomes_refused_total',
    help: 'welcome frames refused: repeated on one connection, or naming another agent id',
    registers: [this.registry],
  });
  /** perf_hooks' event-loop delay histogram; a stalled loop is what a hostile input would cause first. */
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });
  readonly eventLoopDelayMax = new Gauge({
    name: 'sdr_event_loop_delay_max_seconds',
    help: 'Longest event-loop delay since the previous scrape (monitorEventLoopDelay, 10 ms resolution)',
    registers: [this.registry],
    collect: () => {
      this.eventLoopDelayMax.set(this.loopDelay.max / 1e9);
      this.loopDelay.reset();
    },
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.loopDelay.enable();
  }
}
