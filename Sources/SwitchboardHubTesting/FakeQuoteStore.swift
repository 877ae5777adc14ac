// The quote flow in memory: calls recorded, answers scripted by the test
// (the rules — who may see or answer what, forward-only moves — live in SQL).
import SwitchboardHub

/// Quote requests and matches in memory; answers delivered on `flush()`.
public final class FakeQuoteStore: QuoteStore {
    public init() {}
    /// The quote requests received, in order.
    public var createdRequests: [QuoteRequest] = []
    /// The match batches received, in order.
    public var addedMatches: [(request: Int64, matches: [QuoteMatchInput])] = []
    /// The builders' answers received, in order.
    public var responses: [(match: Int64, builder: String, response: MatchResponse)] = []
    /// The match lists asked for: `request:<id>:<requester>` or `builder:<id>:<limit>`.
    public var listings: [String] = []
    /// When set, what creating a request answers; else the request stored with the next id.
    public var createAnswer: Result<QuoteRequest, HubError>?
    /// What adding matches answers.
    public var addAnswer: Result<AddedMatches, HubError> = .failure(HubError(.notFound, "no such quote request"))
    /// What a builder's answer gets.
    public var respondAnswer: Result<AnsweredMatch, HubError> = .failure(HubError(.notFound, "no such quote match"))
    /// What both match lists answer.
    public var matchesAnswer: Result<[QuoteMatch], HubError> = .success([])
    private var pending: [() -> Void] = []
    public var clock: Int64 = 1_800_000_000_000

    /// Delivers the answers held back so far.
    public func flush() {
        while !pending.isEmpty { let work = pending; pending = []; work.forEach { $0() } }
    }

    public func createQuoteRequest(_ request: QuoteRequest, reply: Reply<QuoteRequest>) {
        createdRequests.append(request)
        var stored = request
        stored.id = Int64(createdRequests.count)
        stored.createdAtMillis = clock
        let answer = createAnswer ?? .success(stored)
        pending.append { reply(answer) }
    }

    public func addMatches(request: Int64, _ matches: [QuoteMatchInput], reply: Reply<AddedMatches>) {
        addedMatches.append((request, matches))
        let answer = addAnswer
        pending.append { reply(answer) }
    }

    public func respond(match: Int64, builder: String, _ response: MatchResponse, reply: Reply<AnsweredMatch>) {
        responses.append((match, builder, response))
        let answer = respondAnswer
        pending.append { reply(answer) }
    }

    public func matches(request: Int64, requester: String, reply: Reply<[QuoteMatch]>) {
        listings.append("request:\(request):\(requester)")
        let answer = matchesAnswer
        pending.append { reply(answer) }
    }

    public func matches(builder: String, limit: Int, reply: Reply<[QuoteMatch]>) {
        listings.append("builder:\(builder):\(limit)")
        let answer = matchesAnswer
        pending.append { reply(answer) }
    }
}
