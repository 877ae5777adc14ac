// How answers get back to the loop thread. A store works on its own threads;
// the only way it can answer is a `Reply`, which carries the loop it must run
// on: the hop back is part of the type, not a convention each store keeps.

/// Runs jobs on the loop thread, in the order given (the mailbox).
public protocol HubLoop: Sendable {
    /// Queues a job that must reach the loop (a committed result is never dropped).
    func enqueue(_ job: @escaping @Sendable () -> Void)
}

/// A reference to a loop-owned object (the hub, a feature) that can travel
/// with work to another thread and back. It is read only on the loop: the
/// store threads carry it, never open it.
public struct LoopBound<Object: AnyObject>: @unchecked Sendable {
    // Unchecked: the object is not Sendable; this box only lets its address
    // cross threads, and `Reply` (or a mailbox job) opens it on the loop.
    /// The object, if it is still alive; read it on the loop thread only.
    public private(set) weak var object: Object?

    /// A box for `object`.
    public init(_ object: Object) { self.object = object }
}

/// The answer to one store call: calling it from any thread runs its body
/// on the loop it was made for.
public struct Reply<Success: Sendable>: Sendable {
    private let loop: any HubLoop
    private let body: @Sendable (Result<Success, HubError>) -> Void

    /// A reply whose body runs on `loop`; the body captures only Sendable values.
    public init(on loop: any HubLoop, _ body: @escaping @Sendable (Result<Success, HubError>) -> Void) {
        self.loop = loop
        self.body = body
    }

    /// A reply for a loop-owned `owner` (a feature, the hub): on the loop,
    /// the body gets the owner back — if it still exists — with the result.
    /// The body itself cannot capture loop state: it is `@Sendable`.
    public init<Owner: AnyObject>(
        on loop: any HubLoop, to owner: Owner,
        _ body: @escaping @Sendable (Owner, Result<Success, HubError>) -> Void
    ) {
        let bound = LoopBound(owner)
        self.loop = loop
        self.body = { result in
            guard let owner = bound.object else { return }
            body(owner, result)
        }
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
