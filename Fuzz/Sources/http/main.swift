// libFuzzer executable of target `http`; the body is FuzzTarget.http (SwitchboardFuzzing).
import FuzzDriver

runFuzzer(.http)
