// The quote-matching flow: requests, matches (idempotent per builder) and
// responses (forward moves only, under a row lock: the one place that rule
// is written), each committing its notifications in the same statement.
// Rows are read by column name from `quote_match_out` / `notification_out`
// (migration 6).
import SwitchboardHub
import SwitchboardWire

extension QuoteMatch {
    /// A row of `quote_match_out` columns.
    init(row: Row) throws(PostgresError) {
        guard let status = MatchStatus(rawValue: try row.text("status")) else { throw .decode("status") }
        self.init(
            id: try row.int64("match_id"), request: try row.int64("request_id"), builder: try row.text("builder_id"),
            score: try row.int("score"), breakdown: try row.bytes("breakdown"), status: status,
            estimateMin: try row.optionalInt64("estimate_min"), estimateMax: try row.optionalInt64("estimate_max"),
            proposalSummary: try row.optionalText("proposal_summary"), createdAtMillis: try row.int64("matched_ms"),
            respondedAtMillis: try row.optionalInt64("responded_ms"))
    }
}

extension PostgresStore: QuoteStore {
    /// Runs `decode` over a write's rows; a decode failure is the store's.
    private static func decoding<T>(
        _ result: Result<[Row], HubError>,
        _ decode: ([Row]) throws(PostgresError) -> Result<T, HubError>
    ) -> Result<T, HubError> {
        result.flatMap { rows in
            do throws(PostgresError) { return try decode(rows) } catch { return .failure(error.hubError) }
        }
    }

    public func createQuoteRequest(_ q: QuoteRequest, reply: Reply<QuoteRequest>) {
        let services = JSON.array(q.services.map(JSON.string)).bytes
        writers.submit(
            WriteJob(
                """
                INSERT INTO quote_requests (requester_id, event, city, starts_on, ends_on, stand_size_sqm, budget_min, budget_max,
                                            currency, services, urgency)
                VALUES ($1, $2, $3, $4::date, $5::date, $6::numeric, $7::bigint, $8::bigint, $9, $10::jsonb, $11)
                RETURNING id, epoch_ms(created_at) AS created_ms
                """,
                [
                    .text(q.requester), .text(q.event), .text(q.city), .text(q.startsOn), .text(q.endsOn),
                    .double(q.standSizeSqm),
                    .int64(q.budgetMin), .int64(q.budgetMax), .text(q.currency), .json(services), .text(q.urgency),
                ]
            ) { result in
                reply(
                    Self.decoding(result) { (rows: [Row]) throws(PostgresError) -> Result<QuoteRequest, HubError> in
                        guard let row = rows.first else { return .failure(.storeFailed) }
                        var stored = q
                        stored.id = try row.int64("id")
                        stored.createdAtMillis = try row.int64("created_ms")
                        return .success(stored)
                    })
            })
    }

    static let addMatchesSQL = """
        WITH req AS (
            SELECT id, requester_id, event, city FROM quote_requests WHERE id = $1
        ), input AS (
            SELECT * FROM jsonb_to_recordset($2::jsonb) AS t(o int, builder text, score int, breakdown jsonb)
        ), m AS (
            INSERT INTO quote_matches AS q (request_id, builder_id, score, breakdown)
            SELECT $1, i.builder, i.score, i.breakdown FROM input i WHERE EXISTS (SELECT 1 FROM req) ORDER BY i.o
            ON CONFLICT (request_id, builder_id) DO NOTHING
            RETURNING (quote_match_out(q)).*
        ), n AS (
            INSERT INTO notifications AS nt (user_id, kind, title, body, data, entity_type, entity_id)
            SELECT m.builder_id, 'quote_match', 'New quote request: ' || req.event,
                   req.city || ' · match score ' || m.score,
                   jsonb_build_object('quote_request_id', req.id::text, 'match_id', m.match_id::text, 'score', m.score,
                                      'breakdown', m.breakdown::jsonb, 'event', req.event, 'city', req.city),
                   'quote_match', m.match_id::text
            FROM m CROSS JOIN req
            ORDER BY m.match_id
            RETURNING (notification_out(nt)).*
        ), found AS (
            SELECT 'c' AS tag, m.* FROM m
            -- Read from the statement's snapshot: the new ones are not among them.
            UNION ALL SELECT 'e', (quote_match_out(e)).* FROM quote_matches e
                WHERE e.request_id = $1 AND e.builder_id IN (SELECT builder FROM input)
        )
        -- No row: no such request. A row without a tag: the request, no match.
        SELECT found.*, n.* FROM req LEFT JOIN found ON true LEFT JOIN n ON n.entity_id = found.match_id::text
        """

    public func addMatches(request: Int64, _ matches: [QuoteMatchInput], reply: Reply<AddedMatches>) {
        // The batch as one bound JSON document (jsonb_to_recordset).
        let input = JSON.array(
            matches.enumerated().map { o, match in
                .object([
                    "o": .int(Int64(o)), "builder": .string(match.builder), "score": .int(Int64(match.score)),
                    "breakdown": .object(match.breakdown.mapValues { .int(Int64($0)) }),
                ])
            })
        writers.submit(
            WriteJob(Self.addMatchesSQL, [.int64(request), .json(input.bytes)]) { result in
                reply(
                    Self.decoding(result) { (rows: [Row]) throws(PostgresError) -> Result<AddedMatches, HubError> in
                        guard !rows.isEmpty else { return .failure(HubError(.notFound, "no such quote request")) }
                        var created: [QuoteMatch] = [], existing: [QuoteMatch] = []
                        for row in rows {
                            switch try row.optionalText("tag") {
                            case "c"?: created.append(try QuoteMatch(row: row))
                            case "e"?: existing.append(try QuoteMatch(row: row))
                            default: break
                            }
                        }
                        return .success(
                            AddedMatches(
                                created: created.sorted { $0.id < $1.id }, existing: existing.sorted { $0.id < $1.id },
                                notifications: try Self.notifications(in: rows)))
                    })
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
            RETURNING (quote_match_out(q)).*
        ), n AS (
            INSERT INTO notifications AS nt (user_id, kind, title, body, data, entity_type, entity_id)
            SELECT cur.requester_id, 'quote_response', 'A builder answered: ' || cur.event,
                   m.builder_id || ' is ' || m.status,
                   jsonb_build_object('quote_request_id', cur.request_id::text, 'match_id', m.match_id::text, 'builder', m.builder_id,
                                      'status', m.status, 'estimate_min', m.estimate_min, 'estimate_max', m.estimate_max,
                                      'proposal_summary', m.proposal_summary),
                   'quote_match', m.match_id::text
            FROM m JOIN cur ON cur.id = m.match_id
            RETURNING (notification_out(nt)).*
        )
        SELECT cur.builder_id AS owner, cur.status AS current_status, m.*, n.* FROM cur LEFT JOIN m ON true LEFT JOIN n ON true
        """

    public func respond(match: Int64, builder: String, _ response: MatchResponse, reply: Reply<AnsweredMatch>) {
        let values: [SQLValue] = [
            .int64(match), .text(builder), .text(response.status.rawValue), .int64(response.estimateMin),
            .int64(response.estimateMax), .text(response.proposalSummary),
        ]
        writers.submit(
            WriteJob(Self.respondSQL, values) { result in
                reply(
                    Self.decoding(result) { (rows: [Row]) throws(PostgresError) -> Result<AnsweredMatch, HubError> in
                        guard let row = rows.first else { return .failure(HubError(.notFound, "no such quote match")) }
                        guard try row.text("owner") == builder else {
                            return .failure(HubError(.forbidden, "only the matched builder may answer"))
                        }
                        guard try row.optionalInt64("match_id") != nil, try row.optionalInt64("notification_id") != nil else {
                            let current = try row.text("current_status")
                            return .failure(
                                HubError(.conflict, "a match that is \(current) cannot become \(response.status.rawValue)"))
                        }
                        return .success(
                            AnsweredMatch(match: try QuoteMatch(row: row), notification: try StoredNotification(row: row)))
                    })
            })
    }

    public func matches(request: Int64, requester: String, reply: Reply<[QuoteMatch]>) {
        reader.read(
            { (conn: PGConnection) throws(PostgresError) -> Result<[QuoteMatch], HubError> in
                guard let owner = try conn.query("SELECT requester_id FROM quote_requests WHERE id = $1", [.int64(request)]).first
                else {
                    return .failure(HubError(.notFound, "no such quote request"))
                }
                guard try owner.text("requester_id") == requester else {
                    return .failure(HubError(.forbidden, "only the requester sees the matches"))
                }
                var out: [QuoteMatch] = []
                for row in try conn.query(
                    """
                    SELECT (quote_match_out(m)).* FROM quote_matches m WHERE m.request_id = $1 ORDER BY m.score DESC, m.id
                    """, [.int64(request)])
                { out.append(try QuoteMatch(row: row)) }
                return .success(out)
            }, then: { reply($0.flatMap { $0 }) })
    }

    public func matches(builder: String, limit: Int, reply: Reply<[QuoteMatch]>) {
        reader.read(
            { (conn: PGConnection) throws(PostgresError) -> [QuoteMatch] in
                var out: [QuoteMatch] = []
                for row in try conn.query(
                    """
                    SELECT (quote_match_out(m)).* FROM quote_matches m WHERE m.builder_id = $1 ORDER BY m.id DESC LIMIT $2
                    """, [.text(builder), .int(limit)])
                { out.append(try QuoteMatch(row: row)) }
                return out
            }, reply: reply)
    }
}
