// Every write that touches a conversation lands on that conversation's
// writer, also when the request names only a message, a project or a
// contract (the store looks the conversation up first). Checked on a store
// whose writers are not started: the queued jobs show where each went.
import Foundation
import Logging
import SwitchboardHub
@testable import SwitchboardPostgres
import Testing

@Suite struct WriterLaneTests {
    /// Waits (bounded) for a store answer.
    func wait<T: Sendable>(_ call: (Reply<T>) -> Void) throws -> T {
        let box = Locked<Result<T, HubError>?>(nil)
        call(Reply(on: InlineLoop()) { r in box.withLock { $0 = r } })
        _ = eventually { box.withLock { $0 } != nil }
        return try #require(box.withLock { $0 }).get()
    }

    @Test func conversationWritesLandOnTheConversationsWriter() throws {
        let client = uniqueUser("client"), craftsman = uniqueUser("craftsman")
        let actor = Actor(id: client, isBackend: false, ip: nil)
        let setup = PostgresStore(
            conninfo: TestDatabase.conninfo, logger: Logger(label: "test"), metrics: HubMetrics(), deliver: { $0() })
        setup.start()
        defer { setup.stop(timeout: 10) }
        // A conversation whose writer among 4 is not writer 0 (where a job without a lane would go).
        var conversation: Int64 = 0
        repeat {
            conversation = try wait {
                setup.createConversation(creator: client, participants: [craftsman], projectID: UUID().uuidString, reply: $0)
            }.id
        } while WriterPool.index(of: conversation, count: 4) == 0
        let project = try wait {
            setup.createProject(
                client: client, craftsman: craftsman, title: "Kitchen", budget: nil, currency: "EUR", conversation: conversation,
                actor: Actor(id: "backend:e2e", isBackend: true, ip: nil), reply: $0)
        }.value.id
        let contract = try wait {
            setup.createContract(
                project: project, terms: Array(#"{"scope":"kitchen"}"#.utf8), milestones: [], actor: actor, reply: $0)
        }.value.id
        let sent = try wait {
            setup.send(
                NewMessage(
                    conversation: conversation, sender: client, clientMessageID: "m1", kind: .text,
                    body: Array(#"{"text":"hi"}"#.utf8)),
                reply: $0)
        }

        // Four writers, not started: jobs stay queued where they were routed.
        let store = PostgresStore(
            conninfo: TestDatabase.conninfo, logger: Logger(label: "test"), metrics: HubMetrics(), writers: 4, deliver: { $0() })
        store.reader.start()
        let ignore: @Sendable (Any) -> Void = { _ in }
        store.send(
            NewMessage(
                conversation: conversation, sender: client, clientMessageID: "m2", kind: .text,
                body: Array(#"{"text":"hi"}"#.utf8)),
            reply: Reply(on: InlineLoop()) { ignore($0) })
        store.markRead(conversation, user: craftsman, seq: 1, reply: Reply(on: InlineLoop()) { ignore($0) })
        store.editMessage(
            sent.id, sender: client, body: Array(#"{"text":"edited"}"#.utf8), reply: Reply(on: InlineLoop()) { ignore($0) })
        store.deleteMessage(sent.id, sender: client, reply: Reply(on: InlineLoop()) { ignore($0) })
        store.createContract(
            project: project, terms: Array(#"{"scope":"more"}"#.utf8), milestones: [], actor: actor,
            reply: Reply(on: InlineLoop()) { ignore($0) })
        store.sign(contract: contract, actor: actor, reply: Reply(on: InlineLoop()) { ignore($0) })
        store.completeMilestone(project: project, milestone: 0, actor: actor, reply: Reply(on: InlineLoop()) { ignore($0) })
        let lane = WriterPool.index(of: conversation, count: 4)
        #expect(eventually { store.writers.writers[lane].queueDepth == 7 })
        for (i, writer) in store.writers.writers.enumerated() where i != lane { #expect(writer.queueDepth == 0) }
        store.writers.start()
        #expect(store.stop(timeout: 10))
    }

    @Test func aWriteWhoseLaneIsStillBeingLookedUpAtStopIsNotDropped() throws {
        // (A provider's charge recorded at shutdown must reach the writer.)
        let store = PostgresStore(
            conninfo: TestDatabase.conninfo, logger: Logger(label: "test"), metrics: HubMetrics(), deliver: { $0() })
        store.start()
        #expect(eventually { store.isAvailable })
        // The reader is busy; the edit's lookup waits behind, then stop comes.
        store.reader.read(
            { (conn: PGConnection) throws(PostgresError) -> Int in
                _ = try conn.query("SELECT pg_sleep(0.3)", []); return 0
            }, then: { _ in })
        let answer = Locked<Result<StoredMessage, HubError>?>(nil)
        store.editMessage(
            -1, sender: "nobody", body: Array(#"{"text":"x"}"#.utf8),
            reply: Reply(on: InlineLoop()) { r in answer.withLock { $0 = r } })
        #expect(store.stop(timeout: 10))
        #expect(answer.withLock { $0 }?.failure == .notTheSender)
    }

    @Test func everyLookupFindsTheConversationOrNothing() throws {
        let conn = try PGConnection(TestDatabase.conninfo)
        let lanes: [WriteLane] = [.message(-1), .project(-1), .contract(-1), .payment(-1), .providerReference("none")]
        for lane in lanes {
            let (sql, values) = try #require(lane.lookup)
            #expect(try conn.query(sql, values).isEmpty)
        }
        #expect(WriteLane.conversation(3).lookup == nil)
        #expect(WriteLane.none.lookup == nil)
    }
}
