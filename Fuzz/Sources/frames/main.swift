// libFuzzer executable of target `frames`; the body is FuzzTarget.frames (SwitchboardFuzzing).
import FuzzDriver

runFuzzer(.frames)
