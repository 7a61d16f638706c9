import Glibc

extension Probe {
    /// Opens every connection at once (non-blocking) and reports how each ended.
    static func connect(_ options: [String]) -> Int32 {
        let (named, specs) = parse(options)
        let timeout = Int(named["timeout-ms"] ?? "1500") ?? 1500
        struct Attempt {
            var id: String
            var fd: Int32
            var outcome: String?
        }
        var attempts: [Attempt] = []
        for spec in specs {
            let parts = spec.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 3, let port = UInt16(parts[2]), let destination = SocketAddress(parts[1], port: port) else {
                return usage("bad connection \(spec): want ID,DESTINATION,PORT[,SOURCE]")
            }
            let fd = socket(destination.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            var attempt = Attempt(id: parts[0], fd: fd)
            if parts.count > 3, !parts[3].isEmpty {
                guard let source = SocketAddress(parts[3]) else { return usage("bad source address in \(spec)") }
                if source.withPointer({ bind(fd, $0, $1) }) != 0 { attempt.outcome = "error \(errnoName(errno)) (bind)" }
            }
            if attempt.outcome == nil {
                if destination.withPointer({ Glibc.connect(fd, $0, $1) }) == 0 {
                    attempt.outcome = "connected"
                } else if errno != EINPROGRESS {
                    attempt.outcome = classify(errno)
                }
            }
            attempts.append(attempt)
        }
        var clock = timespec()
        clock_gettime(CLOCK_MONOTONIC, &clock)
        let deadline = Int(clock.tv_sec) * 1000 + Int(clock.tv_nsec) / 1_000_000 + timeout
        while attempts.contains(where: { $0.outcome == nil }) {
            clock_gettime(CLOCK_MONOTONIC, &clock)
            let remaining = deadline - (Int(clock.tv_sec) * 1000 + Int(clock.tv_nsec) / 1_000_000)
            if remaining <= 0 { break }
            let open = attempts.indices.filter { attempts[$0].outcome == nil }
            var polled = open.map { pollfd(fd: attempts[$0].fd, events: Int16(POLLOUT), revents: 0) }
            let ready = poll(&polled, nfds_t(polled.count), Int32(remaining))
            if ready < 0 && errno != EINTR { break }
            for (slot, index) in open.enumerated() where polled[slot].revents != 0 {
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(attempts[index].fd, SOL_SOCKET, SO_ERROR, &error, &length)
                attempts[index].outcome = error == 0 ? "connected" : classify(error)
            }
        }
        for attempt in attempts {
            say("\(attempt.id) \(attempt.outcome ?? "timeout")")
            close(attempt.fd)
        }
        return 0
    }

    static func classify(_ code: Int32) -> String {
        switch code {
        case ECONNREFUSED, ECONNRESET: "refused \(errnoName(code))"
        case EHOSTUNREACH, ENETUNREACH, EACCES, EHOSTDOWN: "unreachable \(errnoName(code))"
        case EPERM: "local-drop \(errnoName(code))"
        case ETIMEDOUT: "timeout \(errnoName(code))"
        default: "error \(errnoName(code))"
        }
    }
}
