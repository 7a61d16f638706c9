import Foundation
import SDNStore

/// A new directory under the system's temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        let template = (NSTemporaryDirectory() as NSString).appendingPathComponent("sdn-store-test-XXXXXX")
        var bytes = Array(template.utf8CString)
        guard let result = mkdtemp(&bytes) else {
            throw StateStoreError.storage("mkdtemp \(template): \(String(cString: strerror(errno)))")
        }
        path = String(cString: result)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
