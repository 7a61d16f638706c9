import Foundation
import Glibc

struct TemporaryDirectoryError: Error, CustomStringConvertible {
    var description: String
}

/// A new, private (0700) directory `PREFIX-XXXXXX` under the system's temporary directory; the caller
/// removes it.
func makeTemporaryDirectory(prefix: String) throws -> String {
    let template = (NSTemporaryDirectory() as NSString).appendingPathComponent("\(prefix)-XXXXXX")
    var bytes = Array(template.utf8CString)
    guard let made = mkdtemp(&bytes) else {
        throw TemporaryDirectoryError(description: "mkdtemp \(template): \(String(cString: strerror(errno)))")
    }
    return String(cString: made)
}
