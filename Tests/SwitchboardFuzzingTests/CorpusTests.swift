// The fuzz smoke run: every input of the repository's corpus (Fuzz/Corpus)
// and every saved crash (Fuzz/Crashes) through the fuzz targets' bodies,
// without libFuzzer (scripts/fuzz builds and runs the real fuzzers).
import Foundation
import SwitchboardFuzzing
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct CorpusTests {
    static let fuzzDirectory: String = {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        return path + "/Fuzz"
    }()

    static let verbose = getenv("FUZZ_SMOKE_VERBOSE") != nil

    /// The regular files in a directory, sorted (empty when it is missing).
    static func files(in directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if entry.pointee.d_type == UInt8(DT_REG) { names.append(directory + "/" + name) }
        }
        return names.sorted()
    }

    static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            bytes += chunk[..<n]
        }
        return bytes
    }

    @Test(arguments: FuzzTarget.allCases)
    func corpusAndCrashesRunClean(_ target: FuzzTarget) throws {
        let corpus = Self.files(in: Self.fuzzDirectory + "/Corpus/" + target.rawValue)
        // A corpus that vanished (a wrong path) must not pass silently.
        #expect(corpus.count >= 5, "corpus of \(target.rawValue) missing under \(Self.fuzzDirectory)")
        for path in corpus + Self.files(in: Self.fuzzDirectory + "/Crashes/" + target.rawValue) {
            let bytes = try #require(Self.read(path), "cannot read \(path)")
            // A trap ends the process before any #expect reports; with
            // FUZZ_SMOKE_VERBOSE=1 the last line printed names the input.
            if Self.verbose { FileHandle.standardError.write(Data("fuzz smoke \(target.rawValue): \(path)\n".utf8)) }
            target.run(bytes)
        }
    }
}
