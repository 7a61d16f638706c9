public import Foundation
import GRDB

/// The embedded store: one SQLite file (`<state-dir>/sdn.sqlite`) through GRDB.
///
/// - WAL journal, so that readers (the API, status) never wait for the writer and a crash leaves either the
///   whole transaction or none of it.
/// - `synchronous = FULL`: every commit syncs the WAL before it returns. WAL with NORMAL survives a process
///   crash too, but a power loss or kernel panic can undo the last commits; then a revision the daemon
///   acknowledged (and nodes may have applied) would vanish and its number be given to different content.
///   Writes here are rare (people editing, nodes reporting), so one fsync each costs nothing that matters.
/// - A busy timeout, so that another process holding the write lock for a moment (a second `sdnd`, a
///   backup) makes a write wait rather than fail.
/// - Writes are IMMEDIATE transactions (GRDB's default for writes), so a conditional write reads the head
///   it compares under the write lock.
///
/// Dates are stored as seconds since Foundation's reference date (REAL), which gives back the same `Date`
/// bit for bit; `datetime(created_at + 978307200, 'unixepoch')` shows them in the sqlite3 shell.
public final class SQLiteStateStore: StateStore {
    public let path: String
    private let pool: DatabasePool
    private let broadcaster = StoreChangeBroadcaster()

    /// The schema migrations this version knows, oldest first; the last one applied is the schema version.
    public static var knownMigrations: [String] { migrator.migrations }

    /// Opens (creating it if missing) and migrates the store at `path`.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.foreignKeysEnabled = true
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        // Created owner-only: it holds the audit log and the tokens' hashes, and SQLite gives the -wal and
        // -shm files the mode of the database. An existing file keeps its mode; a failure here is left for
        // SQLite to report with its own error.
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        if descriptor >= 0 { close(descriptor) }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw Self.openError(error, path: path)
        }
        do {
            let applied = try pool.read { try Self.migrator.appliedIdentifiers($0) }
            let unknown = applied.subtracting(Self.knownMigrations)
            guard unknown.isEmpty else {
                throw StateStoreError.storage(
                    "\(path) was written by a newer sdnd: it has schema migrations \(unknown.sorted().joined(separator: ", ")) "
                        + "that this version does not know (it knows up to \(Self.knownMigrations.last ?? "none")); "
                        + "run the newer sdnd, or restore a backup of the state directory made by this version"
                )
            }
            try Self.migrator.migrate(pool)
        } catch let error as StateStoreError {
            throw error
        } catch {
            throw Self.openError(error, path: path)
        }
    }

    /// The last schema migration applied (`v1-initial`, ...), for `sdnd --version` and status.
    public func schemaVersion() throws -> String? {
        try access { try self.pool.read { try Self.migrator.appliedMigrations($0).last } }
    }

    /// SQLite's `PRAGMA integrity_check`: `["ok"]` when the file is sound, else the problems it found.
    public func integrityCheck() throws -> [String] {
        try access { try self.pool.read { try String.fetchAll($0, sql: "PRAGMA integrity_check") } }
    }

    /// The journal mode in force (`wal`).
    public func journalMode() throws -> String {
        try access { try self.pool.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") ?? "" } }
    }

    // MARK: - Schema

    private static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-initial") { db in
            try db.execute(
                sql: """
                    CREATE TABLE revision (
                        number INTEGER PRIMARY KEY,
                        parent INTEGER REFERENCES revision(number),
                        author TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        message TEXT NOT NULL,
                        diff BLOB NOT NULL
                    );
                    -- Contents (and diffs) as BLOB: the bytes the user sent, whatever they are (GRDB reads
                    -- TEXT as a C string, which would end at a NUL).
                    CREATE TABLE revision_document (
                        revision INTEGER NOT NULL REFERENCES revision(number),
                        position INTEGER NOT NULL,
                        path TEXT NOT NULL,
                        content BLOB NOT NULL,
                        PRIMARY KEY (revision, position)
                    ) WITHOUT ROWID;
                    -- One row: the revision nodes should run.
                    CREATE TABLE target (
                        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
                        revision INTEGER NOT NULL REFERENCES revision(number),
                        set_by TEXT NOT NULL,
                        set_at REAL NOT NULL
                    );
                    CREATE TABLE node_status (
                        node TEXT PRIMARY KEY,
                        applied_revision INTEGER,
                        last_error TEXT,
                        updated_at REAL NOT NULL
                    );
                    -- AUTOINCREMENT: a sequence number is never given twice.
                    CREATE TABLE audit (
                        sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                        time REAL NOT NULL,
                        actor TEXT NOT NULL,
                        action TEXT NOT NULL,
                        object TEXT NOT NULL,
                        outcome TEXT NOT NULL,
                        revision INTEGER,
                        detail TEXT NOT NULL
                    );
                    CREATE TRIGGER audit_refuses_update BEFORE UPDATE ON audit
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: rows cannot be updated'); END;
                    CREATE TRIGGER audit_refuses_delete BEFORE DELETE ON audit
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: rows cannot be deleted'); END;
                    CREATE TABLE token (
                        id TEXT PRIMARY KEY,
                        secret_hash BLOB NOT NULL UNIQUE,
                        role TEXT NOT NULL,
                        path_prefix TEXT NOT NULL,
                        comment TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        expires_at REAL,
                        revoked_at REAL
                    );
                    """
            )
        }
        // The cluster's records, kept here too so that one node and a cluster answer alike: target
        // generations, what a node applied, its liveness, its installed guest ports.
        migrator.registerMigration("v2-generations") { db in
            try db.execute(
                sql: """
                    -- Existing targets count as the first choice.
                    ALTER TABLE target ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;
                    ALTER TABLE node_status ADD COLUMN applied_generation INTEGER;
                    ALTER TABLE node_status ADD COLUMN generation INTEGER;
                    ALTER TABLE node_status ADD COLUMN drift INTEGER NOT NULL DEFAULT 0;
                    CREATE TABLE node_liveness (
                        node TEXT PRIMARY KEY,
                        expires_at REAL NOT NULL
                    );
                    CREATE TABLE installed_port (
                        node TEXT NOT NULL,
                        port TEXT NOT NULL,
                        guest INTEGER NOT NULL,
                        generation INTEGER,
                        installed_at REAL NOT NULL,
                        PRIMARY KEY (node, port)
                    ) WITHOUT ROWID;
                    """
            )
        }
        return migrator
    }()

    // MARK: - Revisions

    public func createRevision(documents: [StoredDocument], author: String, message: String,
                               expectedHead: RevisionNumber??) async throws -> Revision {
        let broadcaster = self.broadcaster
        return try await write { db in
            let head = try Int64.fetchOne(db, sql: "SELECT MAX(number) FROM revision")
            if let expected = expectedHead, expected != head {
                throw StateStoreError.headMoved(expected: expected, actual: head)
            }
            let parentDocuments = try head.map { try Self.documents(db, revision: $0) } ?? []
            let summary = RevisionSummary(number: (head ?? 0) + 1, parent: head, author: author, createdAt: Date(), message: message)
            let revision = Revision(summary: summary, documents: documents, diff: UnifiedDiff.between(old: parentDocuments, new: documents))
            try db.execute(
                sql: "INSERT INTO revision (number, parent, author, created_at, message, diff) VALUES (?, ?, ?, ?, ?, COALESCE(?, x''))",
                arguments: [summary.number, summary.parent, author, Self.seconds(summary.createdAt), message, Data(revision.diff.utf8)]
            )
            for (position, document) in documents.enumerated() {
                try db.execute(
                    // GRDB binds an empty Data as NULL (no base address); x'' is the empty BLOB.
                    sql: "INSERT INTO revision_document (revision, position, path, content) VALUES (?, ?, ?, COALESCE(?, x''))",
                    arguments: [summary.number, position, document.path, Data(document.text.utf8)]
                )
            }
            db.afterNextTransaction { _ in broadcaster.send(.revisionCreated(summary.number)) }
            return revision
        }
    }

    public func revision(_ number: RevisionNumber) async throws -> Revision? {
        try await read { db in try Self.revision(db, number: number) }
    }

    public func head() async throws -> Revision? {
        try await read { db in
            guard let head = try Int64.fetchOne(db, sql: "SELECT MAX(number) FROM revision") else { return nil }
            return try Self.revision(db, number: head)
        }
    }

    public func headNumber() async throws -> RevisionNumber? {
        try await read { db in try Int64.fetchOne(db, sql: "SELECT MAX(number) FROM revision") }
    }

    public func history(limit: Int, before: RevisionNumber?) async throws -> [RevisionSummary] {
        guard limit > 0 else { return [] }
        return try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT number, parent, author, created_at, message FROM revision
                    WHERE ?1 IS NULL OR number < ?1 ORDER BY number DESC LIMIT ?2
                    """,
                arguments: [before, limit]
            ).map(Self.summary)
        }
    }

    private static func revision(_ db: Database, number: RevisionNumber) throws -> Revision? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM revision WHERE number = ?", arguments: [number]) else { return nil }
        let diff: Data = row["diff"] ?? Data()
        return Revision(summary: summary(row), documents: try documents(db, revision: number), diff: String(decoding: diff, as: UTF8.self))
    }

    private static func summary(_ row: Row) -> RevisionSummary {
        RevisionSummary(number: row["number"], parent: row["parent"], author: row["author"],
                        createdAt: date(row["created_at"]), message: row["message"])
    }

    private static func documents(_ db: Database, revision: RevisionNumber) throws -> [StoredDocument] {
        try Row.fetchAll(db, sql: "SELECT path, content FROM revision_document WHERE revision = ? ORDER BY position", arguments: [revision])
            .map { row in
                let content: Data = row["content"] ?? Data()
                return StoredDocument(path: row["path"], text: String(decoding: content, as: UTF8.self))
            }
    }

    // MARK: - Target

    public func target() async throws -> RevisionNumber? {
        try await read { db in try Int64.fetchOne(db, sql: "SELECT revision FROM target WHERE singleton = 1") }
    }

    public func targetState() async throws -> TargetState? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM target WHERE singleton = 1").map { row in
                TargetState(revision: row["revision"], generation: row["generation"], setBy: row["set_by"], setAt: Self.date(row["set_at"]))
            }
        }
    }

    public func setTarget(_ number: RevisionNumber, author: String) async throws {
        let broadcaster = self.broadcaster
        try await write { db in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM revision WHERE number = ?)", arguments: [number]) == true else {
                throw StateStoreError.noSuchRevision(number)
            }
            try db.execute(
                sql: """
                    INSERT INTO target (singleton, revision, set_by, set_at, generation) VALUES (1, ?, ?, ?, 1)
                    ON CONFLICT (singleton) DO UPDATE SET revision = excluded.revision, set_by = excluded.set_by, set_at = excluded.set_at,
                        generation = target.generation + 1
                    """,
                arguments: [number, author, Self.seconds(Date())]
            )
            db.afterNextTransaction { _ in broadcaster.send(.targetChanged(number)) }
        }
    }

    // MARK: - Nodes

    public func recordNodeStatus(_ status: NodeApplyStatus) async throws {
        let broadcaster = self.broadcaster
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO node_status (node, applied_revision, applied_generation, generation, last_error, drift, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (node) DO UPDATE SET applied_revision = excluded.applied_revision,
                        applied_generation = excluded.applied_generation, generation = excluded.generation,
                        last_error = excluded.last_error, drift = excluded.drift, updated_at = excluded.updated_at
                    """,
                arguments: [status.node, status.appliedRevision, status.appliedGeneration, status.generation, status.lastError,
                            status.drift, Self.seconds(status.updatedAt)]
            )
            db.afterNextTransaction { _ in broadcaster.send(.nodeStatus(status.node)) }
        }
    }

    public func nodeStatuses() async throws -> [NodeApplyStatus] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM node_status ORDER BY node").map { row in
                NodeApplyStatus(node: row["node"], appliedRevision: row["applied_revision"], appliedGeneration: row["applied_generation"],
                                generation: row["generation"], lastError: row["last_error"], drift: row["drift"],
                                updatedAt: Self.date(row["updated_at"]))
            }
        }
    }

    public func keepNodeAlive(_ node: String, ttl: Duration) async throws {
        let broadcaster = self.broadcaster
        let expiry = Self.seconds(Date()) + Double(ttl.components.seconds) + Double(ttl.components.attoseconds) / 1e18
        try await write { db in
            let wasLive = try Bool.fetchOne(db, sql: "SELECT expires_at > ? FROM node_liveness WHERE node = ?",
                                            arguments: [Self.seconds(Date()), node]) ?? false
            try db.execute(
                sql: "INSERT INTO node_liveness (node, expires_at) VALUES (?, ?) ON CONFLICT (node) DO UPDATE SET expires_at = excluded.expires_at",
                arguments: [node, expiry]
            )
            if !wasLive { db.afterNextTransaction { _ in broadcaster.send(.nodeLiveness(node)) } }
        }
    }

    public func endNodeLiveness(_ node: String) async throws {
        let broadcaster = self.broadcaster
        try await write { db in
            try db.execute(sql: "DELETE FROM node_liveness WHERE node = ?", arguments: [node])
            if db.changesCount > 0 { db.afterNextTransaction { _ in broadcaster.send(.nodeLiveness(node)) } }
        }
    }

    public func liveNodes() async throws -> Set<String> {
        try await read { db in
            Set(try String.fetchAll(db, sql: "SELECT node FROM node_liveness WHERE expires_at > ?", arguments: [Self.seconds(Date())]))
        }
    }

    public func recordInstalledPorts(_ ports: [InstalledPort], node: String) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM installed_port WHERE node = ?", arguments: [node])
            for port in ports {
                try db.execute(
                    sql: "INSERT INTO installed_port (node, port, guest, generation, installed_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [node, port.port, port.guest, port.generation, Self.seconds(port.installedAt)]
                )
            }
        }
    }

    public func installedPorts() async throws -> [InstalledPort] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM installed_port ORDER BY node, port").map { row in
                InstalledPort(port: row["port"], node: row["node"], guest: row["guest"], generation: row["generation"],
                              installedAt: Self.date(row["installed_at"]))
            }
        }
    }

    public func forgetNode(_ node: String) async throws {
        let broadcaster = self.broadcaster
        try await write { db in
            for table in ["node_status", "node_liveness", "installed_port"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE node = ?", arguments: [node])
            }
            db.afterNextTransaction { _ in
                broadcaster.send(.nodeStatus(node))
                broadcaster.send(.nodeLiveness(node))
            }
        }
    }

    // MARK: - Audit

    @discardableResult
    public func appendAudit(_ entry: AuditEntry) async throws -> AuditEntry {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO audit (time, actor, action, object, outcome, revision, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [Self.seconds(entry.time), entry.actor, entry.action, entry.object, entry.outcome, entry.revision, entry.detail]
            )
            var stored = entry
            stored.sequence = db.lastInsertedRowID
            return stored
        }
    }

    public func audit(after: Int64, limit: Int) async throws -> [AuditEntry] {
        guard limit > 0 else { return [] }
        return try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit WHERE sequence > ? ORDER BY sequence LIMIT ?", arguments: [after, limit]).map { row in
                AuditEntry(sequence: row["sequence"], time: Self.date(row["time"]), actor: row["actor"], action: row["action"],
                           object: row["object"], outcome: row["outcome"], revision: row["revision"], detail: row["detail"])
            }
        }
    }

    // MARK: - Tokens

    public func addToken(_ token: APIToken, secretHash: [UInt8]) async throws {
        try await write { db in
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM token WHERE id = ?)", arguments: [token.id]) == true {
                throw StateStoreError.storage("a token with id \(token.id) already exists; choose another id")
            }
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM token WHERE secret_hash = ?)", arguments: [Data(secretHash)]) == true {
                throw StateStoreError.storage("a token with the same secret already exists; generate a new secret")
            }
            try db.execute(
                sql: """
                    INSERT INTO token (id, secret_hash, role, path_prefix, comment, created_at, expires_at, revoked_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [token.id, Data(secretHash), token.role.rawValue, token.pathPrefix, token.comment, Self.seconds(token.createdAt),
                            token.expiresAt.map(Self.seconds), token.revokedAt.map(Self.seconds)]
            )
        }
    }

    public func token(secretHash: [UInt8]) async throws -> APIToken? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM token WHERE secret_hash = ?", arguments: [Data(secretHash)]).map(Self.token)
        }
    }

    public func tokens() async throws -> [APIToken] {
        try await read { db in try Row.fetchAll(db, sql: "SELECT * FROM token ORDER BY created_at, id").map(Self.token) }
    }

    /// Every token with the hash of its secret (`sdn cluster init --from-sqlite` copies them as they are:
    /// the secrets are not known, and need not be).
    public func tokensWithHashes() async throws -> [(token: APIToken, secretHash: [UInt8])] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM token ORDER BY created_at, id").map { row in
                (try Self.token(row), [UInt8](row["secret_hash"] as Data))
            }
        }
    }

    public func revokeToken(id: String, at time: Date) async throws {
        try await write { db in
            // A token revoked twice keeps the time it was first revoked.
            try db.execute(sql: "UPDATE token SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", arguments: [Self.seconds(time), id])
            if db.changesCount == 0 { throw StateStoreError.noSuchToken(id) }
        }
    }

    private static func token(_ row: Row) throws -> APIToken {
        let roleName: String = row["role"]
        guard let role = Role(rawValue: roleName) else {
            throw StateStoreError.storage("token \(row["id"] as String) has role \(roleName), which this sdnd does not know")
        }
        return APIToken(id: row["id"], role: role, pathPrefix: row["path_prefix"], comment: row["comment"],
                        createdAt: date(row["created_at"]), expiresAt: (row["expires_at"] as Double?).map(date),
                        revokedAt: (row["revoked_at"] as Double?).map(date))
    }

    // MARK: - Changes

    public func changes() -> AsyncStream<StoreChange> {
        broadcaster.subscribe()
    }

    // MARK: - Access

    private static func seconds(_ date: Date) -> Double { date.timeIntervalSinceReferenceDate }
    private static func date(_ seconds: Double) -> Date { Date(timeIntervalSinceReferenceDate: seconds) }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch {
            throw storageError(error)
        }
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.write(body)
        } catch {
            throw storageError(error)
        }
    }

    private func access<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw storageError(error)
        }
    }

    /// Our own errors pass through; SQLite's name the file.
    private func storageError(_ error: any Error) -> any Error {
        if error is StateStoreError || error is CancellationError { return error }
        return StateStoreError.storage("\(path): \(Self.describe(error))")
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError { return error.message ?? "\(error.resultCode)" }
        return "\(error)"
    }

    private static func openError(_ error: any Error, path: String) -> StateStoreError {
        let directory = (path as NSString).deletingLastPathComponent
        guard let databaseError = error as? DatabaseError else {
            return .storage("cannot open the state database \(path): \(describe(error))")
        }
        switch databaseError.resultCode {
        case .SQLITE_NOTADB:
            return .storage(
                "\(path) is not an SQLite database (\(describe(error))); move it aside, or point --state-dir at a directory holding sdnd's state"
            )
        case .SQLITE_CORRUPT:
            return .storage("\(path) is corrupt (\(describe(error))); restore it from a backup")
        case .SQLITE_CANTOPEN, .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_IOERR:
            return .storage(
                "cannot open the state database \(path) (\(describe(error))); check that \(directory.isEmpty ? "." : directory) exists "
                    + "and that the user running sdnd can write it and the files in it (sdn.sqlite, sdn.sqlite-wal, sdn.sqlite-shm)"
            )
        default:
            return .storage("cannot open the state database \(path): \(describe(error))")
        }
    }
}
