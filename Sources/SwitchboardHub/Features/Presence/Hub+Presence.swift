// Presence on the loop: changes go to the user's contacts (everyone who
// shares a conversation with them), queries are answered for contacts only.
import SwitchboardWire

extension Hub {
    /// A connection of `user` was admitted.
    func userAdmitted(_ user: String) {
        let change = presence.connected(user)
        if contacts[user] != nil {
            if let change { announce(change) }
            return
        }
        chat.contacts(of: user, reply: Reply(on: loop) { [weak self] result in
            guard let self, case .success(let list) = result else { return }
            // Still online (or within the grace) by the time the answer came?
            guard presence.isOnline(user) else { return }
            contacts[user] = Set(list)
            if let change { announce(change) }
        })
    }

    /// Tells the user's connected contacts.
    func announce(_ change: PresenceTracker.Change) {
        let frame: OutboundFrame
        let user: String
        switch change {
        case .online(let u):
            user = u
            frame = ServerFrame.presenceChange(user: u, online: true, lastSeenMillis: nil)
        case .offline(let u, let at):
            user = u
            frame = ServerFrame.presenceChange(user: u, online: false, lastSeenMillis: at)
        }
        for contact in contacts[user] ?? [] {
            for id in registry.subscribers(of: Channel.user(contact).name) { transport?.send(frame, to: id) }
        }
        if case .offline = change { contacts[user] = nil }
    }

    /// A member took part in a conversation (created it, sent in it): the
    /// other members become contacts who see the member's presence. Being
    /// added by somebody else makes nobody a contact.
    func tookPart(_ member: String, members: [String]) {
        guard let known = contacts[member], !known.isSuperset(of: members.lazy.filter { $0 != member }) else { return }
        let met = members.filter { $0 != member && !known.contains($0) }
        contacts[member]?.formUnion(met)
        // The new contacts learn at once that the member is online.
        guard presence.isOnline(member) else { return }
        let frame = ServerFrame.presenceChange(user: member, online: true, lastSeenMillis: nil)
        for contact in met {
            for id in registry.subscribers(of: Channel.user(contact).name) { transport?.send(frame, to: id) }
        }
    }

    func presenceQuery(asker: String, users: [String], connection: ConnectionID?, requestID: String?,
                       completion: ((Result<[(user: String, online: Bool, lastSeenMillis: Int64?)], HubError>) -> Void)? = nil) {
        chat.presence(asker: asker, users: users, reply: Reply(on: loop) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let visible):
                // Users the asker shares no conversation with are left out,
                // not reported offline: nothing about them is revealed.
                let answer = users.filter { visible.keys.contains($0) }.map { user in
                    (user: user, online: self.presence.isOnline(user), lastSeenMillis: visible[user] ?? nil)
                }
                if let connection { transport?.send(ServerFrame.presenceState(id: requestID, users: answer), to: connection) }
                completion?(.success(answer))
            case .failure(let error):
                if let connection { transport?.send(ServerFrame.error(id: requestID, error), to: connection) }
                completion?(.failure(error))
            }
        })
    }
}
