// A JSON Schema (draft 2020-12) validator for exactly the keywords
// Protocol/schemas use. Any other keyword makes the schema fail to load, so a
// rule added to a schema can never go silently unchecked: teach it here first.
import Foundation
import SwitchboardWire

/// A schema this validator cannot check: an unknown keyword or a malformed value.
struct SchemaError: Error, CustomStringConvertible {
    /// Where in the schema (a JSON pointer).
    var path: String
    var problem: String
    var description: String { "\(path.isEmpty ? "/" : path): \(problem)" }
}

/// One rule an instance breaks.
struct SchemaViolation: Equatable, Sendable, CustomStringConvertible {
    /// Where in the instance (a JSON pointer; empty for the whole value).
    var instancePath: String
    /// The violated keyword (`pattern`, `required`, …).
    var keyword: String
    var message: String
    var description: String { "\(instancePath.isEmpty ? "/" : instancePath): \(keyword): \(message)" }
}

/// A compiled schema.
struct JSONSchema: Sendable {
    /// Keywords that only annotate or hold definitions.
    static let annotations: Set<String> = ["$schema", "$id", "title", "description", "default", "$defs"]
    /// Keywords that constrain an instance, each implemented in `Rule`.
    static let assertions: Set<String> = [
        "type", "properties", "required", "additionalProperties", "const", "enum", "pattern", "minLength",
        "maxLength", "minimum", "maximum", "items", "minItems", "maxItems", "oneOf", "$ref",
    ]

    private let root: Node

    /// Compiles `document`; throws on any keyword outside `annotations` and `assertions`.
    init(_ document: JSON) throws {
        root = try Compiler(document: document).node(document, at: "", depth: 0)
    }

    /// Every rule `instance` breaks (empty when it is valid).
    func violations(of instance: JSON) -> [SchemaViolation] { root.violations(of: instance, at: "") }
}

private indirect enum Node: Sendable {
    case always(Bool)
    case rules([Rule])

    func violations(of value: JSON, at path: String) -> [SchemaViolation] {
        switch self {
        case .always(true): return []
        case .always(false): return [SchemaViolation(instancePath: path, keyword: "false", message: "no value is allowed")]
        case .rules(let rules): return rules.flatMap { $0.violations(of: value, at: path) }
        }
    }
}

private enum Rule: Sendable {
    case type([String])
    case properties([String: Node])
    case required([String])
    case additionalProperties(known: Set<String>, Node)
    case const(JSON)
    case oneOfValues([JSON])
    case pattern(String)
    case minLength(Int), maxLength(Int)
    case minimum(JSON), maximum(JSON)
    case items(Node)
    case minItems(Int), maxItems(Int)
    case oneOf([Node])

    func violations(of value: JSON, at path: String) -> [SchemaViolation] {
        func fail(_ keyword: String, _ message: String) -> [SchemaViolation] {
            [SchemaViolation(instancePath: path, keyword: keyword, message: message)]
        }
        switch (self, value) {
        case (.type(let types), _):
            return types.contains { value.isOfType($0) }
                ? [] : fail("type", "expected \(types.joined(separator: " or ")), got \(value.typeName)")
        case (.properties(let properties), .object(let fields)):
            return properties.sorted { $0.key < $1.key }.flatMap { key, node in
                fields[key].map { node.violations(of: $0, at: path + "/" + key) } ?? []
            }
        case (.required(let names), .object(let fields)):
            return names.filter { fields[$0] == nil }.flatMap { fail("required", "missing '\($0)'") }
        case (.additionalProperties(let known, let node), .object(let fields)):
            return fields.keys.sorted().filter { !known.contains($0) }.flatMap { key in
                if case .always(false) = node { return fail("additionalProperties", "'\(key)' is not allowed") }
                return node.violations(of: fields[key]!, at: path + "/" + key)
            }
        case (.const(let expected), _):
            return value.sameValue(as: expected) ? [] : fail("const", "expected \(expected.text), got \(value.text)")
        case (.oneOfValues(let allowed), _):
            return allowed.contains { value.sameValue(as: $0) }
                ? [] : fail("enum", "\(value.text) is not one of \(allowed.map(\.text).joined(separator: ", "))")
        case (.pattern(let pattern), .string(let text)):
            return text.range(of: pattern, options: .regularExpression) != nil
                ? [] : fail("pattern", "\(value.text) does not match \(pattern)")
        case (.minLength(let n), .string(let text)):
            return text.unicodeScalars.count >= n
                ? [] : fail("minLength", "\(text.unicodeScalars.count) characters, fewer than \(n)")
        case (.maxLength(let n), .string(let text)):
            return text.unicodeScalars.count <= n
                ? [] : fail("maxLength", "\(text.unicodeScalars.count) characters, more than \(n)")
        case (.minimum(let bound), .int), (.minimum(let bound), .double):
            return value.compare(to: bound) != .orderedAscending ? [] : fail("minimum", "\(value.text) < \(bound.text)")
        case (.maximum(let bound), .int), (.maximum(let bound), .double):
            return value.compare(to: bound) != .orderedDescending ? [] : fail("maximum", "\(value.text) > \(bound.text)")
        case (.items(let node), .array(let elements)):
            return elements.enumerated().flatMap { node.violations(of: $0.element, at: path + "/\($0.offset)") }
        case (.minItems(let n), .array(let elements)):
            return elements.count >= n ? [] : fail("minItems", "\(elements.count) items, fewer than \(n)")
        case (.maxItems(let n), .array(let elements)):
            return elements.count <= n ? [] : fail("maxItems", "\(elements.count) items, more than \(n)")
        case (.oneOf(let nodes), _):
            let matching = nodes.filter { $0.violations(of: value, at: path).isEmpty }.count
            return matching == 1 ? [] : fail("oneOf", "matches \(matching) of \(nodes.count) subschemas, not exactly 1")
        default:
            // A keyword for another type (pattern on a number…) does not apply.
            return []
        }
    }
}

/// Compiles schema documents, resolving `$ref`s to `#/…` pointers of the same document.
private struct Compiler {
    let document: JSON

    func node(_ schema: JSON, at path: String, depth: Int) throws -> Node {
        guard depth < 32 else { throw SchemaError(path: path, problem: "nested too deep (a $ref cycle?)") }
        if case .bool(let b) = schema { return .always(b) }
        guard case .object(let fields) = schema else {
            throw SchemaError(path: path, problem: "a schema must be an object or a boolean")
        }
        var rules: [Rule] = []
        for key in fields.keys.sorted() {
            let value = fields[key]!
            let here = path + "/" + key
            guard JSONSchema.annotations.contains(key) || JSONSchema.assertions.contains(key) else {
                throw SchemaError(path: here, problem: "keyword '\(key)' is not implemented by the test validator")
            }
            switch key {
            case "$defs":
                guard case .object(let defs) = value else { throw SchemaError(path: here, problem: "$defs must be an object") }
                for (name, def) in defs { _ = try node(def, at: here + "/" + name, depth: depth + 1) }
            case "type":
                let names = value.stringValue.map { [$0] } ?? value.arrayValue?.compactMap(\.stringValue) ?? []
                let known: Set = ["null", "boolean", "object", "array", "number", "integer", "string"]
                guard !names.isEmpty, names.allSatisfy(known.contains), names.count == (value.arrayValue?.count ?? 1) else {
                    throw SchemaError(path: here, problem: "type must name JSON types")
                }
                rules.append(.type(names))
            case "properties":
                guard case .object(let properties) = value else { throw SchemaError(path: here, problem: "must be an object") }
                var compiled: [String: Node] = [:]
                for (name, property) in properties {
                    compiled[name] = try node(property, at: here + "/" + name, depth: depth + 1)
                }
                rules.append(.properties(compiled))
            case "required":
                guard let names = value.arrayValue?.compactMap(\.stringValue), names.count == value.arrayValue?.count else {
                    throw SchemaError(path: here, problem: "required must list strings")
                }
                rules.append(.required(names))
            case "additionalProperties":
                let known = Set(fields["properties"]?.objectValue?.keys.map { $0 } ?? [])
                rules.append(.additionalProperties(known: known, try node(value, at: here, depth: depth + 1)))
            case "const": rules.append(.const(value))
            case "enum":
                guard let values = value.arrayValue, !values.isEmpty else {
                    throw SchemaError(path: here, problem: "enum must be a list")
                }
                rules.append(.oneOfValues(values))
            case "pattern":
                guard let pattern = value.stringValue, (try? NSRegularExpression(pattern: pattern)) != nil else {
                    throw SchemaError(path: here, problem: "pattern must be a regular expression")
                }
                rules.append(.pattern(pattern))
            case "minLength": rules.append(.minLength(try count(value, here)))
            case "maxLength": rules.append(.maxLength(try count(value, here)))
            case "minItems": rules.append(.minItems(try count(value, here)))
            case "maxItems": rules.append(.maxItems(try count(value, here)))
            case "minimum", "maximum":
                guard value.isOfType("number") else { throw SchemaError(path: here, problem: "must be a number") }
                rules.append(key == "minimum" ? .minimum(value) : .maximum(value))
            case "items": rules.append(.items(try node(value, at: here, depth: depth + 1)))
            case "oneOf":
                guard let options = value.arrayValue, !options.isEmpty else {
                    throw SchemaError(path: here, problem: "must be a list")
                }
                rules.append(
                    .oneOf(try options.enumerated().map { try node($0.element, at: here + "/\($0.offset)", depth: depth + 1) }))
            case "$ref":
                guard let ref = value.stringValue, ref.hasPrefix("#/"), let target = resolve(ref) else {
                    throw SchemaError(path: here, problem: "only $refs to #/… in the same document are supported")
                }
                if case .rules(let referenced) = try node(target, at: String(ref.dropFirst()), depth: depth + 1) {
                    rules += referenced
                } else if case .always(false) = try node(target, at: here, depth: depth + 1) {
                    rules.append(.type([]))
                }
            default: break  // annotations
            }
        }
        return .rules(rules)
    }

    private func count(_ value: JSON, _ path: String) throws -> Int {
        guard case .int(let n) = value, n >= 0, n <= Int64(Int32.max) else {
            throw SchemaError(path: path, problem: "must be a non-negative integer")
        }
        return Int(n)
    }

    /// The value at a `#/a/b` pointer (~0 and ~1 unescaped).
    private func resolve(_ ref: String) -> JSON? {
        var current: JSON? = document
        for token in ref.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) {
            let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            current = current?.objectValue?[key]
        }
        return current
    }
}

extension JSON {
    fileprivate var arrayValue: [JSON]? { if case .array(let a) = self { return a } else { return nil } }
    fileprivate var objectValue: [String: JSON]? { if case .object(let o) = self { return o } else { return nil } }

    fileprivate var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double(let d): return d.rounded() == d ? "integer" : "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// Draft 2020-12: an integer is any number with a zero fractional part.
    fileprivate func isOfType(_ name: String) -> Bool {
        switch (name, self) {
        case ("number", .int), ("number", .double): return true
        case ("integer", _): return typeName == "integer"
        default: return typeName == name
        }
    }

    /// JSON equality, where 2 and 2.0 are the same number.
    fileprivate func sameValue(as other: JSON) -> Bool {
        if isOfType("number"), other.isOfType("number") { return compare(to: other) == .orderedSame }
        switch (self, other) {
        case (.array(let a), .array(let b)): return a.count == b.count && zip(a, b).allSatisfy { $0.sameValue(as: $1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { value.sameValue(as: $0) } ?? false }
        default: return self == other
        }
    }

    /// Orders two numbers, exactly when both are integers.
    fileprivate func compare(to other: JSON) -> ComparisonResult {
        if case .int(let a) = self, case .int(let b) = other {
            return a < b ? .orderedAscending : a > b ? .orderedDescending : .orderedSame
        }
        let a = number, b = other.number
        return a < b ? .orderedAscending : a > b ? .orderedDescending : .orderedSame
    }

    private var number: Double {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return .nan
        }
    }

    /// Short JSON text for messages.
    fileprivate var text: String {
        let full = String(decoding: bytes, as: UTF8.self)
        return full.count > 80 ? String(full.prefix(80)) + "…" : full
    }
}
