// This node's side of the publication path: what the broker brings is sent
// to the node's subscribers of the channel, and resumed streams meet their
// live publications at a seam with no gap and no duplicate.
import SwitchboardWire

extension Hub {
    /// Hands a publication to the broker (every node's delivery). Returns how
    /// many of this node's connections it was queued for.
    @discardableResult
    public func publish(_ publication: Publication) -> Int {
        broker.publish(publication)
    }

    /// Publishes JSON `data` to every subscriber of `channel` (a server
    /// publication); the frame is encoded once.
    @discardableResult
    public func publish(channel: String, data: [UInt8]) -> Int {
        publish(
            Publication(
                channel: channel,
                frame: ServerFrame.publication(channel: channel, data: data, sentAtMillis: clock.nowMillis())))
    }

    /// Sends a publication to this node's subscribers of its channel.
    func deliver(_ publication: Publication) -> Int {
        metrics.publications.increment()
        let subscribers = registry.subscribers(of: publication.channel)
        if let position = publication.position {
            guard !subscribers.isEmpty || seams.hasWaiters(position.stream) else { return 0 }
            // Brought by another node, or again by a repair: once per node.
            guard
                heads.record(
                    position, channel: publication.channel, nowMillis: clock.nowMillis(),
                    floorIfNew: subscribers.compactMap { connections[$0]?.marks[position.stream] }.min())
            else { return 0 }
            seams.buffer(stream: position.stream, seq: position.seq, frame: publication.frame)
        }
        guard !subscribers.isEmpty, let transport else { return 0 }
        var delivered = 0
        if publication.position == nil && publication.excluding == nil && publication.unlessWatching == nil {
            for id in subscribers { transport.send(publication.frame, to: id) }
            delivered = subscribers.count
        } else {
            for id in subscribers where shouldReceive(publication, id) {
                transport.send(publication.frame, to: id)
                delivered += 1
            }
        }
        metrics.deliveries.increment(by: delivered)
        return delivered
    }

    private func shouldReceive(_ publication: Publication, _ id: ConnectionID) -> Bool {
        switch publication.excluding {
        case .connection(let excluded)?: if id == excluded { return false }
        case .user(let user)?: if connections[id]?.admitted?.user == user { return false }
        case nil: break
        }
        // A notice: not to a connection that watches the conversation
        // itself (another connection of the same user still gets it).
        if let watched = publication.unlessWatching,
            registry.subscribers(of: watched).contains(id) || seams.isWaiting(id, stream: watched)
        {
            return false
        }
        guard let position = publication.position else { return true }
        // Waiting at its seam: the buffer holds it. At or below its mark: it
        // was in the replay.
        if seams.isWaiting(id, stream: position.stream) { return false }
        return (connections[id]?.marks[position.stream] ?? 0) < position.seq
    }

    // MARK: Resuming a stream

    /// Starts a resume: live publications of `stream` are buffered for the
    /// connection until `endResume`.
    public func beginResume(_ connection: ConnectionID, stream: String, requestID: RequestID?, since: Int64?) {
        seams.begin(connection, stream: stream, requestID: requestID, since: since)
    }

    /// Whether the connection is resuming `stream` (its replay is being read).
    public func isResuming(_ connection: ConnectionID, stream: String) -> Bool {
        seams.isWaiting(connection, stream: stream)
    }

    /// Ends the wait and returns it, or nil when it was cancelled (the
    /// connection left or unsubscribed) — then nothing is to be sent.
    public func endResume(_ connection: ConnectionID, stream: String) -> StreamSeams.Entry? {
        guard connections[connection] != nil else { return nil }
        return seams.end(connection, stream: stream)
    }

    /// After the replay (delivered up to `position`): sends what was
    /// buffered past it, in order, and marks the connection there, so later
    /// live publications at or below the mark are not sent again. Returns
    /// the connection's position.
    /// `contiguousOn`: the channel, when the stream has every position (a
    /// conversation): the node then knows how far the stream goes even
    /// before a live publication arrives, and can tell a missing one.
    @discardableResult
    public func completeResume(
        _ connection: ConnectionID, stream: String, _ entry: StreamSeams.Entry,
        deliveredUpTo position: Int64, contiguousOn channel: String? = nil
    ) -> Int64 {
        var last = position
        for (seq, frame) in entry.buffered where seq > last {
            send(frame, to: connection)
            last = seq
        }
        if let channel { heads.start(stream: stream, channel: channel, floor: last) }
        connections[connection]?.marks[stream] = last
        return last
    }

    /// The frames of a replay, or nil when together they would take more
    /// than half a connection's outbound queue bound: sending them would
    /// only close the connection as a slow consumer (4009), every time it
    /// came back. The client pages the REST history instead.
    public func replayFrames(_ frames: [OutboundFrame]) -> [OutboundFrame]? {
        var bytes = 0
        for frame in frames {
            bytes += frame.payloadCount
            if bytes > configuration.maxPublicationBytes / 2 { return nil }
        }
        return frames
    }
}
