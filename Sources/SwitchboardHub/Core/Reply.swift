// How answers get back to the loop thread. A store works on its own threads;
// the only way it can answer is a `Reply`, which carries the loop it must run
// on: the hop back is part of the type, not a convention each store keeps.

/// Runs jobs on the loop thread, in the order given (the mailbox).
public protocol HubLoop: Sendable {
    /// Queues a job that must reach the loop (a committed result is never dropped).
    func enqueue(_ job: @escaping @Sendable () -> Void)
}

/// The answer to one store call: calling it from any thread runs its body
/// on the loop it was made for.
public struct Reply<Success: Sendable>: Sendable {
    private let loop: any HubLoop
    private let body: @Sendable (Result<Success, HubError>) -> Void

    /// A reply whose body runs on `loop`.
    public init(on loop: any HubLoop, _ body: @escaping @Sendable (Result<Success, HubError>) -> Void) {
        self.loop = loop
        self.body = body
    }

    /// Answers (from any thread); the body runs on the loop.
    public func callAsFunction(_ result: Result<Success, HubError>) {
        let body = self.body
        loop.enqueue { body(result) }
    }

    /// Answers with a value.
    public func succeed(_ value: Success) { self(.success(value)) }

    /// Answers with a refusal.
    public func fail(_ error: HubError) { self(.failure(error)) }
}
