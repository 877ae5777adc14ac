// The hub's metrics through swift-metrics; the executable bootstraps the
// Prometheus backend, tests may bootstrap their own.
import Metrics

/// Counters and gauges the hub and its transport update.
public final class HubMetrics: Sendable {
    /// Open WebSocket connections.
    public let connections = Gauge(label: "switchboard_connections")
    /// Authenticated WebSocket connections.
    public let authenticated = Gauge(label: "switchboard_connections_authenticated")
    /// Frames received.
    public let framesIn = Counter(label: "switchboard_frames_in_total")
    /// Frames sent.
    public let framesOut = Counter(label: "switchboard_frames_out_total")
    /// Payload bytes received.
    public let bytesIn = Counter(label: "switchboard_bytes_in_total")
    /// Payload bytes sent.
    public let bytesOut = Counter(label: "switchboard_bytes_out_total")
    /// Publications accepted.
    public let publications = Counter(label: "switchboard_publications_total")
    /// Frames queued for subscribers by publications.
    public let deliveries = Counter(label: "switchboard_deliveries_total")
    /// Frames rejected as malformed.
    public let badFrames = Counter(label: "switchboard_bad_frames_total")
    /// Connections closed by the hub, any reason but shutdown.
    public let closes = Counter(label: "switchboard_closes_total")
    /// Messages waiting in the loop's mailbox.
    public let mailboxDepth = Gauge(label: "switchboard_mailbox_depth")
    /// Seconds work waited for the loop thread (`Mailbox.lag`): how far
    /// behind a saturated loop is (frames it has not read wait as long).
    public let loopLag = Gauge(label: "switchboard_loop_lag_seconds")
    /// Work refused by the full mailbox (periodic ticks; the next one comes).
    public let mailboxRefused = Counter(label: "switchboard_mailbox_refused_total")
    /// Store answers queued past the mailbox's bound after waiting for room.
    public let mailboxOverflowed = Counter(label: "switchboard_mailbox_overflowed_total")
    /// Jobs waiting for the store.
    public let storeQueueDepth = Gauge(label: "switchboard_store_queue_depth")
    /// Seconds a write queued now is predicted to wait for its commit (the
    /// longest over the writers; admission refuses past `--max-write-delay-ms`).
    public let storeQueueDelay = Gauge(label: "switchboard_store_queue_delay_seconds")
    /// Writes refused with `overloaded` because their predicted delay passed the bound.
    public let storeAdmissionRefused = Counter(label: "switchboard_store_admission_refused_total")
    /// Batches a rejected statement sent to the statement-by-statement salvage.
    public let storeSalvagedBatches = Counter(label: "switchboard_store_salvaged_batches_total")
    /// Messages this node put on the cluster link.
    public let brokerSent = Counter(label: "switchboard_broker_sent_total")
    /// Messages the link refused (full or down); features repair what matters.
    public let brokerDropped = Counter(label: "switchboard_broker_dropped_total")
    /// Messages from other nodes.
    public let brokerReceived = Counter(label: "switchboard_broker_received_total")
    /// Link messages that did not decode.
    public let brokerMalformed = Counter(label: "switchboard_broker_malformed_total")
    /// Seconds from another node's send to this node's loop, last message.
    public let brokerLag = Gauge(label: "switchboard_broker_lag_seconds")
    /// 1 while the cluster link is up.
    public let brokerUp = Gauge(label: "switchboard_broker_up")
    /// Repairs from PostgreSQL after the link came back, and holes in a
    /// stream filled from it.
    public let brokerRepairs = Counter(label: "switchboard_broker_repairs_total")
    /// Jobs per group commit.
    public let groupCommitBatch = Recorder(label: "switchboard_group_commit_batch_size", aggregate: true)
    /// HTTP requests served.
    public let httpRequests = Counter(label: "switchboard_http_requests_total")

    /// Metrics through the bootstrapped backend.
    public init() {}
}
