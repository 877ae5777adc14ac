// Per-node figures of the scenarios that spread connections over several
// targets (fanout, connections): the workers' NodeFigures added up.
import Foundation
import Histogram

/// One target's share of a run, in the table and the JSON (`nodes`).
struct NodeResult: Encodable {
    var target: String
    /// Connections sent to it (round-robin), and how they ended.
    var connections, opened, failed, dropped: Int
    var deliveries, expectedDeliveries: Int
    var deliveryMs: Percentiles

    enum CodingKeys: String, CodingKey {
        case target, connections, opened, failed, dropped, deliveries
        case expectedDeliveries = "expected_deliveries", deliveryMs = "delivery_ms"
    }

    /// Figures per target: `opened` from the READY reports (the connections
    /// up when the publications started), the rest from the DONE reports.
    /// Each of `publications` is expected once on every connection opened.
    static func merge(
        _ targets: [Endpoint], requested: Int, ready: [WorkerReport], done: [WorkerReport], publications: Int
    ) -> [NodeResult] {
        func sum(_ reports: [WorkerReport]) -> [NodeFigures] {
            var nodes = Array(repeating: NodeFigures(), count: targets.count)
            for r in reports where r.nodes.count == targets.count {
                for i in nodes.indices { nodes[i].add(r.nodes[i]) }
            }
            return nodes
        }
        let up = sum(ready), end = sum(done)
        return targets.indices.map { i in
            NodeResult(
                target: targets[i].text, connections: Coordinator.share(requested, targets.count, i),
                opened: up[i].authenticated, failed: end[i].failed, dropped: end[i].closedEarly,
                deliveries: end[i].deliveries, expectedDeliveries: up[i].authenticated * publications,
                deliveryMs: Percentiles(end[i].latency))
        }
    }

    /// The table's line for this node.
    var row: (String, String) {
        (
            "node \(target)",
            "\(opened)/\(connections) open, \(failed) failed, \(dropped) dropped; deliveries \(deliveries)/\(expectedDeliveries)"
                + (deliveries > 0 ? "; p50/p99 \(String(format: "%.2f / %.2f", deliveryMs.p50, deliveryMs.p99)) ms" : "")
        )
    }
}
