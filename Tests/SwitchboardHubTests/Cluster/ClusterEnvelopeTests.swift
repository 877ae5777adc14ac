// What travels between nodes: publications and control messages survive the
// trip exactly; anything else is refused, never trapped on.
import SwitchboardWire
import Testing
@testable import SwitchboardHub

@Suite struct ClusterEnvelopeTests {
    func frame(_ text: String) -> OutboundFrame {
        var writer = JSONWriter(headroom: OutboundFrame.headroom)
        writer.raw(Array(text.utf8))
        return OutboundFrame(writer: writer)
    }

    @Test func aPublicationArrivesAsItWasPublished() throws {
        let publication = Publication(
            channel: "conversation:7", frame: frame(#"{"type":"message","body":"a\nb \u0000 ü"}"#),
            position: StreamPosition(stream: "conversation:7", seq: 42, contiguous: true), excluding: .user("al\"ice"),
            unlessWatching: "conversation:8")
        let bytes = ClusterEnvelope.publication(publication).encoded(origin: "node-a", sentMicros: 123)
        let received = try #require(ClusterEnvelope.decode(bytes))
        #expect(received.origin == "node-a")
        #expect(received.sentMicros == 123)
        guard case .publication(let back) = received.envelope else {
            Issue.record("not a publication")
            return
        }
        #expect(back.channel == "conversation:7")
        #expect(back.frame.text == publication.frame.text)
        #expect(back.position == publication.position)
        #expect(back.excluding == .user("al\"ice"))
        #expect(back.unlessWatching == "conversation:8")
    }

    @Test func aNodeKnowsItsOwnMessagesByTheirFirstBytesAndNoOtherNodes() {
        let publication = Publication(channel: "topic:x", frame: frame("{}"))
        let fromNode1 = ClusterEnvelope.publication(publication).encoded(origin: "node1", sentMicros: 9)
        let control = ClusterEnvelope.control(topic: "presence", .object([:])).encoded(origin: "node1", sentMicros: 9)
        #expect(fromNode1.starts(with: ClusterEnvelope.originPrefix("node1")))
        #expect(control.starts(with: ClusterEnvelope.originPrefix("node1")))
        // A name that starts like another node's is another node.
        #expect(!fromNode1.starts(with: ClusterEnvelope.originPrefix("node")))
        let fromNode10 = ClusterEnvelope.publication(publication).encoded(origin: "node10", sentMicros: 9)
        #expect(!fromNode10.starts(with: ClusterEnvelope.originPrefix("node1")))
        let quoted = ClusterEnvelope.publication(publication).encoded(origin: "a\"b", sentMicros: 9)
        #expect(quoted.starts(with: ClusterEnvelope.originPrefix("a\"b")))
    }

    @Test func aConnectionExclusionStaysOnItsNode() throws {
        let publication = Publication(channel: "user:bob", frame: frame("{}"), excluding: .connection(5))
        let received = try #require(
            ClusterEnvelope.decode(ClusterEnvelope.publication(publication).encoded(origin: "a", sentMicros: 0)))
        guard case .publication(let back) = received.envelope else {
            Issue.record("not a publication")
            return
        }
        #expect(back.excluding == nil)
        #expect(back.position == nil)
    }

    @Test func aControlMessageArrivesWhole() throws {
        let body = JSON.object(["users": .array([.string("a"), .string("b\n")]), "seq": .int(9)])
        let received = try #require(
            ClusterEnvelope.decode(ClusterEnvelope.control(topic: "presence", body).encoded(origin: "b", sentMicros: 5)))
        guard case .control(let topic, let back) = received.envelope else {
            Issue.record("not a control message")
            return
        }
        #expect(topic == "presence")
        #expect(back == body)
    }

    @Test func malformedMessagesAreRefused() {
        let long = String(repeating: "x", count: ClusterEnvelope.maxNameBytes + 1)
        let cases = [
            "", "no newline", "\n{}", "[1]\n{}", #"{"o":"a","t":1,"k":"p"}"# + "\n{}",  // no channel
            #"{"o":"a","t":1,"k":"p","c":"x"}"# + "\n",  // no frame
            #"{"o":"a","t":1,"k":"p","c":"x","s":"x"}"# + "\n{}",  // stream without a position
            #"{"o":"a","t":1,"k":"p","c":"x","s":"x","q":"1"}"# + "\n{}",
            #"{"o":"a","t":1,"k":"p","c":1}"# + "\n{}", #"{"o":"","t":1,"k":"p","c":"x"}"# + "\n{}",
            #"{"o":"a","t":1,"k":"p","c":"\#(long)"}"# + "\n{}", #"{"o":"a","t":1,"k":"z","c":"x"}"# + "\n{}",
            #"{"o":"a","k":"p","c":"x"}"# + "\n{}",  // no time
            #"{"o":"a","t":1,"k":"c","tp":"p"}"# + "\n{not json", #"{"o":"a","t":1,"k":"c"}"# + "\n{}",
            #"{"o":"a","t":1e400,"k":"c","tp":"p"}"# + "\n{}", #"{"o":{"x":{"y":1}},"t":1,"k":"c","tp":"p"}"# + "\n{}",
        ]
        for text in cases {
            #expect(ClusterEnvelope.decode(Array(text.utf8)) == nil, "\(text)")
        }
    }
}
