import Foundation

/// Writes a cpio archive in the "newc" format the Linux initramfs unpacker reads, streaming file
/// contents from disk.
///
/// The kernel accepts several archives one after another, later entries replacing earlier ones, so
/// ``KernelLab`` appends one of these, uncompressed, to the cached base initramfs for every run.
struct CPIOWriter {
    private let handle: FileHandle
    private var offset: UInt64
    private var nextInode: UInt32 = 1
    private var directories: Set<String> = []

    /// Writes at the end of `handle`, padding first with zeros to the 4-byte boundary at which the
    /// kernel looks for the next archive.
    init(appendingTo handle: FileHandle) throws {
        self.handle = handle
        offset = try handle.seekToEnd()
        try pad()
    }

    /// A directory and every missing parent (the unpacker does not create parents itself).
    mutating func addDirectory(_ path: String, mode: UInt32 = 0o755) throws {
        let components = Self.components(of: path)
        for count in components.indices {
            let directory = components[...count].joined(separator: "/")
            guard directories.insert(directory).inserted else { continue }
            try writeEntry(name: directory, mode: 0o040000 | mode, size: 0)
            try pad()
        }
    }

    /// A regular file with `data` as its contents.
    mutating func addFile(_ path: String, data: Data, mode: UInt32 = 0o644) throws {
        try addParents(of: path)
        try writeEntry(name: Self.components(of: path).joined(separator: "/"), mode: 0o100000 | mode, size: UInt32(data.count))
        try write(data)
        try pad()
    }

    /// A regular file copied from `hostPath` (symbolic links followed), keeping its permission bits.
    mutating func addFile(_ path: String, contentsOf hostPath: String) throws {
        // attributesOfItem describes a symbolic link itself (libraries and the loader often are).
        guard let resolved = realpath(hostPath, nil) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: hostPath])
        }
        let hostPath = String(cString: resolved)
        free(resolved)
        let attributes = try FileManager.default.attributesOfItem(atPath: hostPath)
        let permissions = (attributes[.posixPermissions] as? NSNumber)?.uint32Value ?? 0o644
        let size = (attributes[.size] as? NSNumber)?.uint64Value ?? 0
        guard size < UInt64(UInt32.max) else {
            throw CocoaError(.fileReadTooLarge, userInfo: [NSFilePathErrorKey: hostPath])
        }
        guard let source = FileHandle(forReadingAtPath: hostPath) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: hostPath])
        }
        defer { try? source.close() }
        try addParents(of: path)
        try writeEntry(name: Self.components(of: path).joined(separator: "/"), mode: 0o100000 | (permissions & 0o7777), size: UInt32(size))
        var remaining = size
        while remaining > 0, let chunk = try source.read(upToCount: Int(min(remaining, 1 << 22))), !chunk.isEmpty {
            try write(chunk)
            remaining -= UInt64(chunk.count)
        }
        guard remaining == 0 else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: hostPath, NSLocalizedDescriptionKey: "\(hostPath) shrank while being archived"])
        }
        try pad()
    }

    /// Ends the archive.
    mutating func finish() throws {
        try writeEntry(name: "TRAILER!!!", mode: 0, size: 0, links: 1)
        try pad()
    }

    private mutating func addParents(of path: String) throws {
        let components = Self.components(of: path)
        if components.count > 1 { try addDirectory(components.dropLast().joined(separator: "/")) }
    }

    private mutating func writeEntry(name: String, mode: UInt32, size: UInt32, links: UInt32? = nil) throws {
        let nameBytes = Array(name.utf8) + [0]
        let fields: [UInt32] = [
            nextInode, mode, 0, 0, links ?? (mode & 0o040000 != 0 ? 2 : 1),
            0, size, 0, 0, 0, 0, UInt32(nameBytes.count), 0,
        ]
        nextInode += 1
        var header = Array("070701".utf8)
        for field in fields {
            let hex = String(field, radix: 16, uppercase: true)
            header += Array((String(repeating: "0", count: 8 - hex.count) + hex).utf8)
        }
        try write(Data(header + nameBytes))
        try pad()
    }

    private mutating func write(_ data: Data) throws {
        try handle.write(contentsOf: data)
        offset += UInt64(data.count)
    }

    private mutating func pad() throws {
        let remainder = Int(offset % 4)
        if remainder != 0 { try write(Data(count: 4 - remainder)) }
    }

    private static func components(of path: String) -> [String] {
        path.split(separator: "/").map(String.init).filter { $0 != "." }
    }
}
