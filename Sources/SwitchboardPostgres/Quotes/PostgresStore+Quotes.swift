// The quote-matching flow: requests, matches (idempotent per builder) and
// responses (forward moves only, under a row lock), each committing its
// notifications in the same statement.
import SwitchboardHub
import SwitchboardWire

extension PostgresStore {
    /// A match row as JSON text (alias `m`).
    static let matchJSON = """
        json_build_object('id', m.id, 'request_id', m.request_id, 'builder_id', m.builder_id, 'score', m.score,
                          'breakdown', m.breakdown, 'status', m.status, 'estimate_min', m.estimate_min,
                          'estimate_max', m.estimate_max, 'proposal_summary', m.proposal_summary,
                          'created_at', (extract(epoch FROM m.created_at) * 1000)::bigint,
                          'responded_at', (extract(epoch FROM m.responded_at) * 1000)::bigint)::text
        """

    static func match(_ text: String?) -> QuoteMatch? {
        guard let text, let j = try? JSON.parse(Array(text.utf8)), let id = j["id"]?.intValue else { return nil }
        return QuoteMatch(id: id, request: j["request_id"]?.intValue ?? 0, builder: j["builder_id"]?.stringValue ?? "",
                          score: Int(j["score"]?.intValue ?? 0), breakdown: j["breakdown"]?.bytes ?? Array("{}".utf8),
                          status: MatchStatus(rawValue: j["status"]?.stringValue ?? "") ?? .matched,
                          estimateMin: j["estimate_min"]?.intValue, estimateMax: j["estimate_max"]?.intValue,
                          proposalSummary: j["proposal_summary"]?.stringValue, createdAtMillis: j["created_at"]?.intValue ?? 0,
                          respondedAtMillis: j["responded_at"]?.intValue)
    }

    public func createQuoteRequest(_ q: QuoteRequest, reply: @escaping (Result<QuoteRequest, DomainFailure>) -> Void) {
        let deliver = self.deliver
        let services = JSON.array(q.services.map(JSON.string)).serialized
        writer.submit(WriteJob(sql: """
            INSERT INTO quote_requests (requester_id, event, city, starts_on, ends_on, stand_size_sqm, budget_min, budget_max,
                                        currency, services, urgency)
            VALUES ($1, $2, $3, $4::date, $5::date, $6::numeric, $7::bigint, $8::bigint, $9, $10::jsonb, $11)
            RETURNING id, (extract(epoch FROM created_at) * 1000)::bigint
            """, params: [q.requester, q.event, q.city, q.startsOn, q.endsOn, String(q.standSizeSqm), String(q.budgetMin),
                          String(q.budgetMax), q.currency, services, q.urgency]) { result in
            let outcome: Result<QuoteRequest, DomainFailure> = result.mapError { .store($0) }.flatMap { rows in
                guard let row = rows.first, let id = row[0].flatMap({ Int64($0) }) else { return .failure(.store(StoreError(.failed))) }
                var stored = q
                stored.id = id
                stored.createdAtMillis = row[1].flatMap { Int64($0) } ?? 0
                return .success(stored)
            }
            deliver { reply(outcome) }
        })
    }

    static let addMatchesSQL = """
        WITH req AS (
            SELECT id, requester_id, event, city FROM quote_requests WHERE id = $1
        ), input AS (
            SELECT * FROM jsonb_to_recordset($2::jsonb) AS t(o int, builder text, score int, breakdown jsonb)
        ), m AS (
            INSERT INTO quote_matches (request_id, builder_id, score, breakdown)
            SELECT $1, i.builder, i.score, i.breakdown FROM input i WHERE EXISTS (SELECT 1 FROM req) ORDER BY i.o
            ON CONFLICT (request_id, builder_id) DO NOTHING
            RETURNING *
        ), n AS (
            INSERT INTO notifications (user_id, kind, title, body, data, entity_type, entity_id)
            SELECT m.builder_id, 'quote_match', 'New quote request: ' || req.event,
                   req.city || ' · match score ' || m.score,
                   jsonb_build_object('quote_request_id', req.id::text, 'match_id', m.id::text, 'score', m.score,
                                      'breakdown', m.breakdown, 'event', req.event, 'city', req.city),
                   'quote_match', m.id::text
            FROM m CROSS JOIN req
            ORDER BY m.id
            RETURNING *
        )
        SELECT 'r', NULL FROM req
        UNION ALL SELECT 'c', \(matchJSON) FROM m
        UNION ALL SELECT 'e', \(matchJSON) FROM quote_matches m
            WHERE m.request_id = $1 AND m.builder_id IN (SELECT builder FROM input)
        UNION ALL SELECT 'n', \(notificationJSON) FROM n
        """

    public func addMatches(request: Int64, _ matches: [QuoteMatchInput],
                           reply: @escaping (Result<(created: [QuoteMatch], existing: [QuoteMatch], notifications: [StoredNotification]), DomainFailure>) -> Void) {
        let deliver = self.deliver
        var w = JSONWriter(capacity: matches.count * 120)
        w.raw("[")
        for (o, match) in matches.enumerated() {
            if o > 0 { w.raw(",") }
            w.raw("{\"o\":"); w.int(o)
            w.key("builder"); w.string(match.builder)
            w.key("score"); w.int(match.score)
            w.key("breakdown"); w.write(.object(match.breakdown.mapValues { .int(Int64($0)) }))
            w.raw("}")
        }
        w.raw("]")
        writer.submit(WriteJob(sql: Self.addMatchesSQL, params: [String(request), w.string]) { result in
            let outcome: Result<(created: [QuoteMatch], existing: [QuoteMatch], notifications: [StoredNotification]), DomainFailure>
            switch result {
            case .failure(let error): outcome = .failure(.store(error))
            case .success(let rows) where !rows.contains(where: { $0[0] == "r" }):
                outcome = .failure(.notFound("no such quote request"))
            case .success(let rows):
                // 'e' rows are read from the statement's snapshot: the new ones are not among them.
                let created = rows.filter { $0[0] == "c" }.compactMap { Self.match($0[1]) }
                let existing = rows.filter { $0[0] == "e" }.compactMap { Self.match($0[1]) }
                outcome = .success((created, existing, rows.filter { $0[0] == "n" }.compactMap { Self.notification($0[1]) }))
            }
            deliver { reply(outcome) }
        })
    }

    static let respondSQL = """
        WITH cur AS (
            SELECT qm.id, qm.builder_id, qm.status, qr.requester_id, qr.event, qr.id AS request_id
            FROM quote_matches qm JOIN quote_requests qr ON qr.id = qm.request_id
            WHERE qm.id = $1 FOR UPDATE OF qm
        ), m AS (
            UPDATE quote_matches q SET status = $3, estimate_min = coalesce($4::bigint, q.estimate_min),
                   estimate_max = coalesce($5::bigint, q.estimate_max), proposal_summary = coalesce($6, q.proposal_summary),
                   responded_at = now()
            FROM cur
            WHERE q.id = cur.id AND cur.builder_id = $2
              AND (cur.status, $3::text) IN (('matched', 'interested'), ('matched', 'responded'), ('matched', 'declined'),
                                             ('interested', 'responded'), ('interested', 'declined'))
            RETURNING q.*
        ), n AS (
            INSERT INTO notifications (user_id, kind, title, body, data, entity_type, entity_id)
            SELECT cur.requester_id, 'quote_response', 'A builder answered: ' || cur.event,
                   m.builder_id || ' is ' || m.status,
                   jsonb_build_object('quote_request_id', cur.request_id::text, 'match_id', m.id::text, 'builder', m.builder_id,
                                      'status', m.status, 'estimate_min', m.estimate_min, 'estimate_max', m.estimate_max,
                                      'proposal_summary', m.proposal_summary),
                   'quote_match', m.id::text
            FROM m JOIN cur ON cur.id = m.id
            RETURNING *
        )
        SELECT 'x', builder_id, status FROM cur
        UNION ALL SELECT 'm', \(matchJSON), NULL FROM m
        UNION ALL SELECT 'n', \(notificationJSON), NULL FROM n
        """

    public func respond(match: Int64, builder: String, _ response: MatchResponse,
                        reply: @escaping (Result<(QuoteMatch, StoredNotification), DomainFailure>) -> Void) {
        let deliver = self.deliver
        let params: [String?] = [String(match), builder, response.status.rawValue, response.estimateMin.map(String.init),
                                 response.estimateMax.map(String.init), response.proposalSummary]
        writer.submit(WriteJob(sql: Self.respondSQL, params: params) { result in
            let outcome: Result<(QuoteMatch, StoredNotification), DomainFailure>
            switch result {
            case .failure(let error): outcome = .failure(.store(error))
            case .success(let rows):
                let current = rows.first { $0[0] == "x" }
                if current == nil {
                    outcome = .failure(.notFound("no such quote match"))
                } else if current?[1] != builder {
                    outcome = .failure(.forbidden("only the matched builder may answer"))
                } else if let updated = rows.first(where: { $0[0] == "m" }).flatMap({ Self.match($0[1]) }),
                          let note = rows.first(where: { $0[0] == "n" }).flatMap({ Self.notification($0[1]) }) {
                    outcome = .success((updated, note))
                } else {
                    outcome = .failure(.conflict("a match that is \(current?[2] ?? "?") cannot become \(response.status.rawValue)"))
                }
            }
            deliver { reply(outcome) }
        })
    }

    public func matches(request: Int64, requester: String, reply: @escaping (Result<[QuoteMatch], DomainFailure>) -> Void) {
        let deliver = self.deliver
        reader.read({ (conn: PGConnection) throws(PostgresError) -> Result<[QuoteMatch], DomainFailure> in
            guard let owner = try conn.execute("SELECT requester_id FROM quote_requests WHERE id = $1", [String(request)]).first?[0] ?? nil else {
                return .failure(.notFound("no such quote request"))
            }
            guard owner == requester else { return .failure(.forbidden("only the requester sees the matches")) }
            return .success(try conn.execute("SELECT \(Self.matchJSON) FROM quote_matches m WHERE m.request_id = $1 ORDER BY m.score DESC, m.id",
                                             [String(request)]).compactMap { Self.match($0[0]) })
        }, completion: { result in deliver { reply(result.mapError { .store($0) }.flatMap { $0 }) } })
    }

    public func matches(builder: String, limit: Int, reply: @escaping (Result<[QuoteMatch], DomainFailure>) -> Void) {
        let deliver = self.deliver
        reader.read({ (conn: PGConnection) throws(PostgresError) -> [QuoteMatch] in
            try conn.execute("SELECT \(Self.matchJSON) FROM quote_matches m WHERE m.builder_id = $1 ORDER BY m.id DESC LIMIT $2",
                             [builder, String(limit)]).compactMap { Self.match($0[0]) }
        }, completion: { result in deliver { reply(result.mapError { .store($0) }) } })
    }
}
