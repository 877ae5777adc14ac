// Which writer runs a write (see WriterPool): every write that locks a
// conversation's rows — a send, a mark-read, an edit, a market action that
// posts a `system` message into the project's conversation — runs on that
// conversation's lane, so one conversation's seqs are handed out, committed
// and answered in one order, and two writers never wait for each other's
// rows. A statement whose conversation is not in the request (an edit names
// a message, a market action a project, contract or payment) looks it up
// first on the reader: a message's conversation and a project's
// conversation never change once stored, so the lookup cannot go stale.
import SwitchboardHub

/// What a write's conversation is found from.
enum WriteLane: Sendable {
    /// No conversation: writer 0.
    case none
    /// Known from the request.
    case conversation(Int64?)
    /// The conversation of a stored message.
    case message(Int64)
    /// The conversation of a project (market rows go with it).
    case project(Int64)
    /// The conversation of a contract's project.
    case contract(Int64)
    /// The conversation of a payment's project.
    case payment(Int64)
    /// The conversation of the project of the payment with this provider reference.
    case providerReference(String)

    /// The lookup: one row with `lane` (NULL: no conversation), or none.
    var lookup: (sql: String, values: [SQLValue])? {
        switch self {
        case .none, .conversation: nil
        case .message(let id): ("SELECT conversation_id AS lane FROM messages WHERE id = $1", [.int64(id)])
        case .project(let id): ("SELECT conversation_id AS lane FROM projects WHERE id = $1", [.int64(id)])
        case .contract(let id):
            (
                "SELECT pj.conversation_id AS lane FROM contracts ct JOIN projects pj ON pj.id = ct.project_id WHERE ct.id = $1",
                [.int64(id)]
            )
        case .payment(let id):
            (
                "SELECT pj.conversation_id AS lane FROM payments p JOIN projects pj ON pj.id = p.project_id WHERE p.id = $1",
                [.int64(id)]
            )
        case .providerReference(let reference):
            (
                "SELECT pj.conversation_id AS lane FROM payments p JOIN projects pj ON pj.id = p.project_id WHERE p.provider_reference = $1",
                [.text(reference)]
            )
        }
    }
}

extension PostgresStore {
    /// Submits `job` on the lane of `lane`'s conversation, looking it up
    /// first when the request does not carry it. An entity that does not
    /// exist runs unlaned (its statement then finds nothing to lock). When
    /// the lookup fails, a job that must record an effect still runs, on
    /// writer 0 (PostgreSQL's deadlock detector and the writer's salvage
    /// are the backstop for that rare case); any other job gets the error.
    func submit(_ job: WriteJob, on lane: WriteLane) {
        switch lane {
        case .none:
            writers.submit(job.on(nil))
        case .conversation(let id):
            writers.submit(job.on(id))
        default:
            guard let (sql, values) = lane.lookup else { return }
            reader.read(
                { (conn: PGConnection) throws(PostgresError) -> Int64? in
                    try conn.query(sql, values).first?.optionalInt64("lane")
                },
                then: { [writers] result in
                    switch result {
                    case .success(let found):
                        writers.submit(job.on(found))
                    case .failure(let error):
                        if job.survivesOutage {
                            writers.submit(job.on(nil))
                        } else {
                            job.answer?(.failure(error))
                        }
                    }
                })
        }
    }
}

extension WriteJob {
    /// The job on `lane`.
    func on(_ lane: Int64?) -> WriteJob {
        var job = self
        job.lane = lane
        return job
    }
}
