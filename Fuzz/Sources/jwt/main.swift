// libFuzzer executable of target `jwt`; the body is FuzzTarget.jwt (SwitchboardFuzzing).
import SwitchboardFuzzing
#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.jwt.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

// SwiftPM names an executable's entry point itself, so libFuzzer's own main
// cannot be used: this main hands the command line to libFuzzer's driver.
// (Declared without a C header: pointer and integer arguments pass the same
// way under the Swift and C conventions on the platforms we fuzz on.)
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<CInt>,
               _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
               _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runDriver(&argc, &argv, fuzzOne))
