// libFuzzer executable of target `jwt`; the body is FuzzTarget.jwt (SwitchboardFuzzing).
import FuzzDriver

runFuzzer(.jwt)
