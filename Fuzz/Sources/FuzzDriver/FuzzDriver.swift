// The libFuzzer entry points every fuzz executable shares: each main.swift
// only names its target (`runFuzzer(.frames)`).
import Synchronization
import SwitchboardFuzzing
#if canImport(Glibc)
import Glibc
#endif

/// The target this process fuzzes; set once by `runFuzzer` before libFuzzer
/// calls `LLVMFuzzerTestOneInput` (an uncontended lock: a global stays isolated).
private let current = Mutex<FuzzTarget?>(nil)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    current.withLock { $0 }?.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

// SwiftPM names an executable's entry point itself, so libFuzzer's own main
// cannot be used: `runFuzzer` hands the command line to libFuzzer's driver.
// (Declared without a C header: pointer and integer arguments pass the same
// way under the Swift and C conventions on the platforms we fuzz on.)
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// Runs libFuzzer over `target` with this process's command line; exits.
public func runFuzzer(_ target: FuzzTarget) -> Never {
    current.withLock { $0 = target }
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(runDriver(&argc, &argv, fuzzOne))
}
