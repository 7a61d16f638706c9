import Foundation
import Synchronization
public import Testing

/// Runs a shell script inside a QEMU guest booting Debian's stock 6.1 kernel, for the kernel
/// features this machine's own kernel lacks (bonds, 802.1Q and 802.1ad VLANs, VLAN-filtering
/// bridges, VRF, dummy links).
///
/// `scripts/kernel-lab/build.sh` downloads the kernel package and builds a base initramfs once
/// (cached under `.build/kernel-lab/`): busybox, the network modules (inserted at boot), the host's
/// real `ip` and `bridge`, and an `/init` that runs `/lab/run.sh`. Each ``run(script:files:binaries:timeout:memoryMiB:)``
/// appends a small cpio archive with the script, the binaries (and every library they link) and
/// the files, boots it under TCG with no network device, and returns what the script printed.
///
/// Inside the guest the script runs as root in `/lab`, with:
/// - `/bin/sh` the host's dash, `ip` and `bridge` the host's iproute2, `env`/`timeout`/`xargs` the
///   host's; every other tool is busybox's (whose own shell would run its `ip` applet instead of
///   the real one, so don't call `busybox sh`); binaries given to `run` in `/usr/local/bin`;
/// - `section NAME COMMAND…`, which saves COMMAND's standard output as ``KernelLabResult/sections``
///   `[NAME]`, so one boot can return several JSON documents;
/// - modules already inserted: bonding (`max_bonds=0`), dummy (`numdummies=0`), 8021q, bridge,
///   veth, macvlan, macvtap, ipvlan, tun, vxlan, geneve, vrf, and their dependencies;
/// - modules available to `modprobe NAME` but not inserted: nf_tables and the nft expressions both
///   firewall layouts use, nf_conntrack_bridge, nft_reject_bridge, nft_meta_bridge, br_netfilter
///   (``firewallModules`` lists them; `scripts/kernel-lab/build.sh` is the truth);
/// - no network device but `lo`: tests build their links from veth and dummy.
///
///     @Test(.kernelLab) func bond() throws {
///         let result = try await KernelLab.run(script: """
///             ip link add bond0 type bond mode active-backup
///             section links ip -j -d link show
///             """)
///         #expect(result.exitCode == 0, "\(result.stderr)")
///         let links = try result.section("links")
///     }
public enum KernelLab {
    /// The kernel and base initramfs that `build.sh` made.
    public struct Image: Sendable {
        /// The kernel image (`vmlinuz`).
        public var kernel: String
        /// The gzip-compressed base cpio archive.
        public var initrd: String
        /// The kernel release, e.g. `6.1.0-56-amd64`.
        public var release: String
        /// The Debian package the kernel came from.
        public var package: String

        public init(kernel: String, initrd: String, release: String, package: String) {
            self.kernel = kernel
            self.initrd = initrd
            self.release = release
            self.package = package
        }
    }

    /// The netfilter modules a test inserts (`modprobe`) before `sdn apply` programs a firewall in
    /// the lab: everything the `full` layout needs (bridge conntrack, reject and meta included). Not
    /// br_netfilter: a `full` node does not need it, and loading it would send bridged IP traffic
    /// through the `inet` hooks as well.
    public static let firewallModules = [
        // libcrc32c (under nf_tables and nf_conntrack) needs a crc32c implementation when it loads.
        "crc32c_generic", "nf_tables", "nf_conntrack", "nf_conntrack_bridge", "nf_nat", "nf_log_syslog",
        "nft_ct", "nft_reject", "nft_reject_inet", "nft_reject_ipv4", "nft_reject_ipv6", "nft_reject_bridge", "nft_meta_bridge",
        "nft_nat", "nft_masq", "nft_chain_nat", "nft_limit", "nft_log", "nft_quota", "nft_numgen", "nft_hash", "nft_objref",
        "nft_fib", "nft_fib_inet", "nft_fib_ipv4", "nft_fib_ipv6",
    ]

    /// How long a whole boot may take before QEMU is killed: a boot is seconds under TCG, so this
    /// only catches a hung guest.
    public static let defaultTimeout: Duration = .seconds(300)

    /// Why the lab cannot run here, or `nil` when it can: QEMU missing, the kernel package not
    /// downloadable (no network and no earlier build), or `SDN_KERNEL_LAB=off` in the environment.
    ///
    /// Builds the lab on first use (the download happens once per checkout; later calls take
    /// milliseconds). Tests use the ``Testing/Trait/kernelLab`` trait, which skips with this text.
    public static var unavailableReason: String? { availability }

    /// The lab's kernel and base initramfs, built or checked once per process.
    public static func image() throws -> Image {
        if let reason = availability {
            throw KernelLabError(code: .unavailable, message: reason)
        }
        return try prepared.get()
    }

    /// Boots the lab once, runs `script` as `/lab/run.sh`, and returns its output and status.
    ///
    /// - Parameters:
    ///   - script: POSIX `sh` text (dash); it runs after `/etc/lab/profile`, which defines `section`.
    ///   - files: guest path → host path of a file or a directory (copied whole), e.g.
    ///     `["/lab/fixture": fixturesDirectory]`.
    ///   - binaries: host executables, put in `/usr/local/bin` under their own names, each with the
    ///     shared libraries `ldd` lists at the same paths as on the host.
    ///   - timeout: QEMU is killed (SIGKILL, with its process group) after this.
    ///   - memoryMiB: guest memory; the initramfs is unpacked into it.
    /// - Returns: the script's result; a non-zero exit status is returned, not thrown.
    /// - Throws: ``KernelLabError`` when the lab is unavailable, a binary links a library that is
    ///   not found, QEMU outlives `timeout`, or the guest ended without printing its result.
    ///
    /// The guest is waited for on a thread of its own (``OwnThread``), not on the caller's cooperative one.
    public static func run(
        script: String,
        files: [String: String] = [:],
        binaries: [String] = [],
        timeout: Duration = defaultTimeout,
        memoryMiB: Int = 1024
    ) async throws -> KernelLabResult {
        try await OwnThread.run {
            try runBlocking(script: script, files: files, binaries: binaries, timeout: timeout, memoryMiB: memoryMiB)
        }
    }

    private static func runBlocking(script: String, files: [String: String], binaries: [String], timeout: Duration,
                                    memoryMiB: Int) throws -> KernelLabResult {
        let image = try image()
        guard let qemu = ExecutableLookup.find(qemuName) else {
            throw KernelLabError(code: .unavailable, message: "`\(qemuName)` not found")
        }
        let directory = try makeRunDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let initrd = directory + "/initrd.img"
        try writeInitramfs(at: initrd, base: image.initrd, script: script, files: files, binaries: binaries)

        let command = [
            qemu, "-accel", "tcg", "-m", "\(memoryMiB)", "-smp", "1",
            "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio", "-monitor", "none",
            "-kernel", image.kernel, "-initrd", initrd,
            "-append", "console=ttyS0 quiet panic=-1",
        ]
        let started = ContinuousClock.now
        let output: (status: Int32, stdout: String, stderr: String)
        do {
            output = try Shell.run(command, timeout: timeout)
        } catch let error as ShellError where error.code == .timedOut {
            throw KernelLabError(code: .timedOut, message: "the guest was still running after \(timeout); QEMU killed", console: error.stdout)
        }
        let wallTime = ContinuousClock.now - started
        guard var result = KernelLabResult(console: output.stdout) else {
            throw KernelLabError(
                code: .incompleteOutput,
                message: "the guest stopped without printing its result (QEMU status \(output.status)\(output.stderr.isEmpty ? "" : ": \(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))"))",
                console: output.stdout
            )
        }
        result.wallTime = wallTime
        return result
    }

    /// Writes an initramfs at `path`: the base one followed by a layer with `script` as `/lab/run.sh`
    /// and the given files and binaries (as for ``run(script:files:binaries:timeout:memoryMiB:)``), and
    /// returns the lab's kernel with it, for a guest that something else boots (LibvirtLab's domains).
    public static func makeImage(at path: String, script: String, files: [String: String] = [:], binaries: [String] = []) throws -> Image {
        var image = try image()
        try? FileManager.default.removeItem(atPath: path)
        try writeInitramfs(at: path, base: image.initrd, script: script, files: files, binaries: binaries)
        image.initrd = path
        return image
    }

    /// The path of the product executable `name` (by default `sdn`) built from the current tree,
    /// for ``run(script:files:binaries:timeout:memoryMiB:)``'s `binaries`.
    ///
    /// `swift test` (and `swift build --build-tests`) build every product before the tests run, so
    /// this is the executable beside the running test bundle: a debug build whose Swift runtime
    /// libraries go into the guest with it (no separate static build to wait for). If it is
    /// missing, it is built with `swift build --product NAME`, unless another SwiftPM process holds
    /// the build directory (as `swift test` does while building), which would deadlock.
    public static func productBinary(_ name: String = "sdn") throws -> String {
        try productLock.withLock { cache in
            if let path = cache[name] { return path }
            let path = try locateOrBuildProduct(name)
            cache[name] = path
            return path
        }
    }

    // MARK: - Building

    private static let qemuName = "qemu-system-x86_64"
    private static let buildScript = repositoryRoot + "/scripts/kernel-lab/build.sh"

    /// Why the lab is unavailable, worked out once per process; `nil` when it is available.
    private static let availability: String? = {
        let switchedOff = ["0", "off", "no", "false"]
        if let setting = ProcessInfo.processInfo.environment["SDN_KERNEL_LAB"], switchedOff.contains(setting.lowercased()) {
            return "kernel lab switched off (SDN_KERNEL_LAB=\(setting))"
        }
        guard ExecutableLookup.find(qemuName) != nil else {
            return "`\(qemuName)` not found (scripts/setup.sh installs qemu-system-x86)"
        }
        switch prepared {
        case .success: return nil
        case .failure(let error): return "kernel lab could not be built: \(error.message)"
        }
    }()

    private static let prepared: Result<Image, KernelLabError> = Result {
        guard FileManager.default.fileExists(atPath: buildScript) else {
            throw KernelLabError(code: .buildFailed, message: "\(buildScript) not found")
        }
        let output: (status: Int32, stdout: String, stderr: String)
        do {
            // Long enough to download the kernel package (~70 MB) on a slow link.
            output = try Shell.run(["bash", buildScript], timeout: .seconds(900))
        } catch {
            throw KernelLabError(code: .buildFailed, message: "\(error)")
        }
        guard output.status == 0 else {
            let lastLine = output.stderr.split(separator: "\n").last.map(String.init) ?? "exit status \(output.status)"
            let reason = lastLine.hasPrefix("kernel-lab: ") ? String(lastLine.dropFirst("kernel-lab: ".count)) : lastLine
            throw KernelLabError(code: .buildFailed, message: reason)
        }
        var values: [String: String] = [:]
        for line in output.stdout.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        guard let kernel = values["kernel"], let initrd = values["initrd"],
            FileManager.default.fileExists(atPath: kernel), FileManager.default.fileExists(atPath: initrd)
        else {
            throw KernelLabError(code: .buildFailed, message: "build.sh printed no kernel and initrd: \(output.stdout)")
        }
        return Image(kernel: kernel, initrd: initrd, release: values["release"] ?? "", package: values["package"] ?? "")
    }.mapError { $0 as? KernelLabError ?? KernelLabError(code: .buildFailed, message: "\($0)") }

    private static let runCounter = Atomic<Int>(0)

    private static func makeRunDirectory() throws -> String {
        let number = runCounter.add(1, ordering: .relaxed).newValue
        let path = FileManager.default.temporaryDirectory.path + "/sdn-kernel-lab-\(getpid())-\(number)"
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The base initramfs followed by this run's layer (uncompressed: the kernel unpacks it faster
    /// than it would gunzip it, and the host skips compressing the Swift runtime every run).
    private static func writeInitramfs(
        at path: String, base: String, script: String, files: [String: String], binaries: [String]
    ) throws {
        try FileManager.default.copyItem(atPath: base, toPath: path)
        guard let handle = FileHandle(forUpdatingAtPath: path) else {
            throw KernelLabError(code: .buildFailed, message: "cannot open \(path)")
        }
        defer { try? handle.close() }
        var archive = try CPIOWriter(appendingTo: handle)
        try archive.addDirectory("lab/out")
        try archive.addFile("lab/run.sh", data: Data(script.utf8), mode: 0o755)

        var added: Set<String> = []
        var libraryDirectories: Set<String> = []
        for binary in binaries {
            let name = (binary as NSString).lastPathComponent
            try archive.addFile("usr/local/bin/\(name)", contentsOf: binary)
            for library in try sharedLibraries(of: binary) where added.insert(library).inserted {
                try archive.addFile(library, contentsOf: library)
                libraryDirectories.insert((library as NSString).deletingLastPathComponent)
            }
        }
        try archive.addFile("etc/lab/libdirs.d/run", data: Data(libraryDirectories.sorted().map { $0 + "\n" }.joined().utf8))

        for (guestPath, hostPath) in files.sorted(by: { $0.key < $1.key }) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: hostPath, isDirectory: &isDirectory) else {
                throw KernelLabError(code: .buildFailed, message: "file for the guest not found: \(hostPath)")
            }
            guard isDirectory.boolValue else {
                try archive.addFile(guestPath, contentsOf: hostPath)
                continue
            }
            try archive.addDirectory(guestPath)
            for relative in try FileManager.default.subpathsOfDirectory(atPath: hostPath).sorted() {
                let source = hostPath + "/" + relative
                var sourceIsDirectory: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: source, isDirectory: &sourceIsDirectory)
                if sourceIsDirectory.boolValue {
                    try archive.addDirectory(guestPath + "/" + relative)
                } else {
                    try archive.addFile(guestPath + "/" + relative, contentsOf: source)
                }
            }
        }
        try archive.finish()
    }

    /// Every shared library `binary` loads, the dynamic loader included, as absolute host paths.
    static func sharedLibraries(of binary: String) throws -> [String] {
        let result = try Shell.run(["ldd", binary])
        if result.status != 0 {
            // A static executable: nothing to copy.
            if (result.stdout + result.stderr).contains("not a dynamic executable") { return [] }
            throw KernelLabError(code: .missingLibrary, message: "ldd \(binary) failed: \(result.stderr)")
        }
        var libraries: [String] = []
        for line in result.stdout.split(separator: "\n") {
            if line.contains("not found") {
                throw KernelLabError(code: .missingLibrary, message: "\(binary) links a library that is not installed: \(line.trimmingCharacters(in: .whitespaces))")
            }
            // "\tlibx.so.1 => /lib/x86_64-linux-gnu/libx.so.1 (0x…)" or "\t/lib64/ld-linux-x86-64.so.2 (0x…)"
            let path = line.split(separator: " ").map { $0.trimmingCharacters(in: .whitespaces) }.first { $0.hasPrefix("/") }
            if let path { libraries.append(path) }
        }
        return libraries
    }

    // MARK: - The product binary

    private static let productLock = Mutex<[String: String]>([:])

    private static func locateOrBuildProduct(_ name: String) throws -> String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let buildDirectory = (executable as NSString).deletingLastPathComponent
        let candidate = buildDirectory + "/" + name
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }

        // buildDirectory is <scratch>/<triple>/<configuration>.
        let configuration = (buildDirectory as NSString).lastPathComponent
        let scratch = ((buildDirectory as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        guard ["debug", "release"].contains(configuration) else {
            throw KernelLabError(code: .productMissing, message: "\(candidate) does not exist and \(buildDirectory) is not a SwiftPM build directory")
        }
        if let holder = swiftPMLockHolder(scratch: scratch) {
            throw KernelLabError(
                code: .productMissing,
                message: "\(candidate) does not exist and SwiftPM (pid \(holder)) holds \(scratch); run `swift build --product \(name)` first"
            )
        }
        guard let swift = ExecutableLookup.find("swift") ?? ExecutableLookup.find("/opt/swift/usr/bin/swift") else {
            throw KernelLabError(code: .productMissing, message: "\(candidate) does not exist and `swift` is not in PATH to build it")
        }
        let result = try Shell.run(
            [swift, "build", "--package-path", repositoryRoot, "--scratch-path", scratch, "-c", configuration, "--product", name],
            timeout: .seconds(1800)
        )
        guard result.status == 0, FileManager.default.isExecutableFile(atPath: candidate) else {
            throw KernelLabError(code: .productMissing, message: "swift build --product \(name) failed:\n\(result.stdout)\n\(result.stderr)")
        }
        return candidate
    }

    /// The pid in SwiftPM's `<scratch>/.lock` if that process is alive and is not this one.
    private static func swiftPMLockHolder(scratch: String) -> Int32? {
        guard let text = try? String(contentsOfFile: scratch + "/.lock", encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, pid != getpid()
        else { return nil }
        return kill(pid, 0) == 0 || errno == EPERM ? pid : nil
    }
}

/// What a lab script printed, and how it ended.
public struct KernelLabResult: Sendable {
    /// The script's exit status.
    public var exitCode: Int32
    /// The script's standard output.
    public var stdout: String
    /// The script's standard error.
    public var stderr: String
    /// Output saved with `section NAME COMMAND…` in the script, by name.
    public var sections: [String: String]
    /// Seconds from the guest kernel's start to the script's start (kernel boot, unpacking the
    /// initramfs, inserting modules).
    public var bootSeconds: Double?
    /// Seconds from the guest kernel's start to the end of the script.
    public var guestSeconds: Double?
    /// Wall time of the whole QEMU run, as seen by the host.
    public var wallTime: Duration = .zero
    /// Everything the serial console showed, for diagnosing a failure.
    public var console: String

    /// The output of `section name …`.
    /// - Throws: ``KernelLabError`` with the script's stderr if the script saved no such section.
    public func section(_ name: String) throws -> String {
        guard let text = sections[name] else {
            throw KernelLabError(
                code: .incompleteOutput,
                message: "the script saved no section `\(name)` (saved: \(sections.keys.sorted().joined(separator: ", "))); exit status \(exitCode), stderr: \(stderr)"
            )
        }
        return text
    }

    /// Decodes the section `name` as JSON (e.g. `ip -j` output).
    public func decodeSection<T: Decodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(try section(name).utf8))
    }

    /// Parses the serial console of a lab boot (the markers `scripts/kernel-lab/init` prints);
    /// `nil` if the closing marker is missing.
    public init?(console raw: String) {
        // The serial line turns "\n" into "\r\n".
        let console = raw.replacingOccurrences(of: "\r\n", with: "\n")
        self.console = console
        guard let end = console.range(of: "\n=== LAB OUTPUT END rc=", options: .backwards) else { return nil }
        let closing = console[end.upperBound...].prefix { $0 != "\n" }
        let closingFields = Self.fields(closing.replacingOccurrences(of: " ===", with: ""))
        guard let code = Int32(closing.prefix { $0 != " " }) else { return nil }
        exitCode = code
        guestSeconds = closingFields["uptime"].flatMap(Double.init)

        let body = console[..<end.lowerBound]
        if let ready = body.range(of: "=== LAB READY ") {
            let line = body[ready.upperBound...].prefix { $0 != "\n" }.replacingOccurrences(of: " ===", with: "")
            bootSeconds = Self.fields(line)["uptime"].flatMap(Double.init)
        }
        stdout = Self.block(in: body, named: "STDOUT") ?? ""
        stderr = Self.block(in: body, named: "STDERR") ?? ""
        var sections: [String: String] = [:]
        // Sections follow stderr; starting there keeps marker-like text in stdout from matching.
        var rest = body.range(of: "\n=== LAB STDERR END ===").map { body[$0.lowerBound...] } ?? body[...]
        while let begin = rest.range(of: "\n=== LAB SECTION ") {
            let name = rest[begin.upperBound...].prefix { $0 != " " && $0 != "\n" }
            guard let text = Self.block(in: rest[begin.lowerBound...], named: "SECTION \(name)") else { break }
            sections[String(name)] = text
            guard let closingMarker = rest.range(of: "\n=== LAB SECTION \(name) END ===", range: begin.upperBound..<rest.endIndex) else { break }
            rest = rest[closingMarker.upperBound...]
        }
        self.sections = sections
    }

    /// The text between `=== LAB <name> BEGIN ===` and `=== LAB <name> END ===`, without the newline
    /// the guest adds before the closing marker.
    private static func block(in text: Substring, named name: String) -> String? {
        guard let begin = text.range(of: "=== LAB \(name) BEGIN ===\n"),
            let end = text.range(of: "\n=== LAB \(name) END ===", range: begin.upperBound..<text.endIndex)
        else { return nil }
        return String(text[begin.upperBound..<end.lowerBound])
    }

    private static func fields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for word in text.split(separator: " ") {
            let parts = word.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        return fields
    }
}

/// A lab run that could not happen or did not finish.
public struct KernelLabError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: Sendable, Hashable {
        /// QEMU or the kernel package cannot be had here (see ``KernelLab/unavailableReason``).
        case unavailable
        /// `build.sh` failed, or a file for the guest is missing.
        case buildFailed
        /// A binary for the guest links a library that is not installed.
        case missingLibrary
        /// The guest ran past its timeout and QEMU was killed.
        case timedOut
        /// The guest ended without its closing marker, or a section is missing.
        case incompleteOutput
        /// The product executable is not built and could not be.
        case productMissing
    }

    public var code: Code
    /// A sentence about the failure.
    public var message: String
    /// The serial console up to the failure, when the guest ran.
    public var console: String

    public init(code: Code, message: String, console: String = "") {
        self.code = code
        self.message = message
        self.console = console
    }

    public var description: String {
        var text = "kernel lab: \(message)"
        if !console.isEmpty {
            // The end of the console is where a panic or a hung script shows.
            text += "\nconsole (last 40 lines):\n" + console.split(separator: "\n", omittingEmptySubsequences: false).suffix(40).joined(separator: "\n")
        }
        return text
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only where the kernel lab works (QEMU present, kernel package downloaded or
    /// downloadable), and otherwise skips it with ``KernelLab/unavailableReason``: never a silent
    /// pass. Building the lab on first use happens when the trait is made, at test discovery.
    public static var kernelLab: Self {
        let reason = KernelLab.unavailableReason
        return .enabled(if: reason == nil, reason.map { Comment(rawValue: $0) })
    }
}
