// A send's answer names the conversation's members (the hub sends notices to
// them): read from PostgreSQL the first time a store meets the conversation,
// then from its MemberCache — the same list either way, for fresh sends,
// repeats of a stored key, and a second store that starts with no cache.
import Foundation
import Logging
import Testing
import SwitchboardHub
@testable import SwitchboardPostgres

@Suite struct SendMembersEndToEndTests {
    private func store() -> PostgresStore {
        PostgresStore(conninfo: TestDatabase.conninfo, logger: Logger(label: "test"), metrics: HubMetrics(), deliver: { $0() })
    }

    /// Sends `m` and waits for its answer.
    private func send(_ m: NewMessage, on store: PostgresStore) throws -> SendOutcome {
        let answer = Locked<Result<SendOutcome, HubError>?>(nil)
        store.send(m, reply: Reply(on: InlineLoop()) { r in answer.withLock { $0 = r } })
        #expect(eventually { answer.withLock { $0 } != nil })
        return try #require(answer.withLock { $0 }).get()
    }

    @Test func everySendIsAnsweredWithTheMembersCachedOrNot() throws {
        let alice = uniqueUser("alice"), bob = uniqueUser("bob"), carol = uniqueUser("carol")
        let one = try IdempotencyEndToEndTests.conversation([alice, bob])
        let two = try IdempotencyEndToEndTests.conversation([alice, carol, bob])
        func message(_ c: Int64, _ key: String) -> NewMessage {
            NewMessage(conversation: c, sender: alice, clientMessageID: key, kind: .text, body: Array(#"{"text":"x"}"#.utf8))
        }
        let first = store()
        first.start()
        defer { first.stop(timeout: 5) }
        #expect(first.memberCache.members(of: one) == nil)
        #expect(try send(message(one, "a"), on: first).members == [alice, bob].sorted())
        #expect(first.memberCache.members(of: one) == [alice, bob].sorted(), "remembered from the first answer")
        // Cached now: the statement is asked for no members, the answer still has them.
        #expect(try send(message(one, "b"), on: first).members == [alice, bob].sorted())
        #expect(try send(message(two, "c"), on: first).members == [alice, bob, carol].sorted())
        // A repeat of a stored key (duplicate) has them too.
        let repeated = try send(message(one, "a"), on: first)
        #expect(repeated.duplicate && repeated.members == [alice, bob].sorted())
        // Another store (another hub process) starts with nothing cached.
        let second = store()
        second.start()
        defer { second.stop(timeout: 5) }
        let again = try send(message(one, "a"), on: second)
        #expect(again.duplicate && again.members == [alice, bob].sorted())
        #expect(try send(message(one, "d"), on: second).members == [alice, bob].sorted())
    }

    @Test func theCacheStartsOverPastItsLimit() {
        let cache = MemberCache(limit: 2)
        cache.remember(["a"], of: 1)
        cache.remember(["b"], of: 2)
        #expect(cache.members(of: 1) == ["a"] && cache.members(of: 2) == ["b"])
        cache.remember(["c"], of: 3)
        #expect(cache.members(of: 1) == nil && cache.members(of: 2) == nil && cache.members(of: 3) == ["c"])
    }
}
