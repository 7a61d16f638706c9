import Foundation

/// Finds command-line tools the way a root shell would.
public enum ExecutableLookup {
    /// Searched after `PATH`: tools such as `ip` and `nft` live in sbin directories that a non-login
    /// or non-root `PATH` often lacks.
    static let systemDirectories = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

    /// The absolute path of the executable `name`, searching `PATH` and then the sbin and bin
    /// directories; `nil` if there is none. A name containing `/` is checked as given.
    public static func find(_ name: String) -> String? {
        if name.contains("/") { return isExecutableFile(name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        var seen = Set<String>()
        let directories = path.split(separator: ":").map(String.init) + systemDirectories
        for directory in directories where !directory.isEmpty && seen.insert(directory).inserted {
            let candidate = (directory as NSString).appendingPathComponent(name)
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    private static func isExecutableFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
            && FileManager.default.isExecutableFile(atPath: path)
    }
}
