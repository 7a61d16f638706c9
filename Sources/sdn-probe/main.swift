// `sdn-probe`: the traffic prober of the path-matrix tests (see Probe.swift).
import Glibc

exit(Probe.main(Array(CommandLine.arguments.dropFirst())))
