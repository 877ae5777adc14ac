// The auth state machine on its own.
import SwitchboardAuth
import Testing
@testable import SwitchboardHub
import SwitchboardHubTesting

@Suite struct ConnectionSessionTests {
    let claims = Claims(subject: "alice", role: "client", expiresAt: 2_000)

    @Test func admitsThenRejectsSecondAuth() {
        var session = ConnectionSession(deadlineMillis: 5_000)
        let admitted = session.authenticate(requestID: "1", .success(claims))
        #expect(admitted == .admit(requestID: "1", Principal(user: "alice", role: "client", expiresAtMillis: 2_000_000)))
        guard case .reject(_, .alreadyAuthenticated, _, close: nil) = session.authenticate(requestID: "2", .success(claims))
        else {
            Issue.record("second auth must be rejected without closing"); return
        }
    }

    @Test func deadlineClosesUnauthenticated() {
        var session = ConnectionSession(deadlineMillis: 5_000)
        let early = session.tick(nowMillis: 4_999)
        let due = session.tick(nowMillis: 5_000)
        let after = session.tick(nowMillis: 6_000)
        #expect(early == .none && due == .close(.unauthorized) && after == .none)
    }

    @Test func badTokenClosesWith4001() {
        var session = ConnectionSession(deadlineMillis: 5_000)
        guard
            case .reject(_, .unauthorized, _, close: .unauthorized?) = session.authenticate(
                requestID: nil, .failure(AuthError(.badSignature)))
        else {
            Issue.record("expected reject + close"); return
        }
        #expect(session.state == .closing)
    }

    @Test func expiryAndRefresh() {
        var session = ConnectionSession(deadlineMillis: 5_000)
        _ = session.authenticate(requestID: nil, .success(claims))
        let later = Claims(subject: "alice", role: "client", expiresAt: 3_000)
        guard case .refreshed = session.refresh(requestID: "r", .success(later)) else { Issue.record("refresh"); return }
        let before = session.tick(nowMillis: 2_500_000)
        let expired = session.tick(nowMillis: 3_000_000)
        #expect(before == .none && expired == .close(.tokenExpired))
    }

    @Test func refreshForAnotherUserIsForbiddenAndKeepsTheOldToken() {
        var session = ConnectionSession(deadlineMillis: 5_000)
        _ = session.authenticate(requestID: nil, .success(claims))
        guard
            case .reject(_, .forbidden, _, close: nil) = session.refresh(
                requestID: nil, .success(Claims(subject: "mallory", expiresAt: 9_999)))
        else {
            Issue.record("expected forbidden"); return
        }
        #expect(session.principal?.user == "alice")
        let expired = session.tick(nowMillis: 2_000_000)
        #expect(expired == .close(.tokenExpired))
    }
}
