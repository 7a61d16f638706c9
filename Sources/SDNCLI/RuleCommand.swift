import ArgumentParser
import Foundation

/// `sdn rule`: focused edits of one policy's firewall rules on sdnd, by stable id.
struct RuleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rule",
        abstract: "List, add, delete and move firewall rules on sdnd; each edit makes a pending revision.",
        discussion: """
            POLICY is cluster, node:NAME, vnet:NAME, guest:ID or group:NAME. Rules keep their id when moved; \
            RULE is written as in Policies/*.yaml (\"accept in tcp/22 from 10.0.0.0/8\").
            """,
        subcommands: [RuleListCommand.self, RuleAddCommand.self, RuleDeleteCommand.self, RuleMoveCommand.self]
    )

    static func rulesPath(_ policy: String) -> String { "/v1/policies/\(APIPath.component(policy))/rules" }

    static func printRules(_ rules: [RemoteRule]) {
        var table = TextTable(headers: ["POS", "ID", "RULE"])
        for rule in rules.sorted(by: { $0.position < $1.position }) { table.rows.append([String(rule.position), rule.id, rule.text]) }
        print(table.render())
    }
}

/// Where a rule goes: before or after another rule's id (neither: at the end).
struct RulePlacement: ParsableArguments {
    @Option(help: ArgumentHelp("Put it before the rule with this id.", valueName: "id"))
    var before: String?

    @Option(help: ArgumentHelp("Put it after the rule with this id.", valueName: "id"))
    var after: String?

    func validate() throws {
        if before != nil && after != nil { throw argumentError("give --before or --after, not both") }
    }
}

struct RuleListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List a policy's rules in order with their ids.")

    @Argument(help: "cluster, node:NAME, vnet:NAME, guest:ID or group:NAME.")
    var policy: String

    @OptionGroup var client: ClientOptions

    func run() throws {
        let session = try client.session()
        let response = try session.call("GET", RuleCommand.rulesPath(policy))
        if session.output == .json { return session.printJSON(response) }
        let rules = try session.decode([RemoteRule].self, from: response)
        if rules.isEmpty { return print("\(policy): no rules") }
        RuleCommand.printRules(rules)
    }
}

struct RuleAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a rule to a policy (at the end, or --before/--after a rule id).")

    @Argument(help: "cluster, node:NAME, vnet:NAME, guest:ID or group:NAME.")
    var policy: String

    @Argument(help: "The rule, as written in Policies/*.yaml.")
    var rule: String

    @Option(help: "The new rule's id (default: sdnd makes one).")
    var id: String?

    @OptionGroup var placement: RulePlacement
    @OptionGroup var client: ClientOptions

    func run() throws {
        let session = try client.session()
        let response = try session.call("POST", RuleCommand.rulesPath(policy),
                                        json: RuleAddition(rule: rule, id: id, before: placement.before, after: placement.after))
        if session.output == .json { return session.printJSON(response) }
        let added = try session.decode(RemoteRule.self, from: response)
        print("\(policy): added rule \(added.id) at position \(added.position): \(added.text)")
    }
}

struct RuleDeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a rule from a policy by its id.")

    @Argument(help: "cluster, node:NAME, vnet:NAME, guest:ID or group:NAME.")
    var policy: String

    @Argument(help: "The rule's id (from `sdn rule list`).")
    var id: String

    @OptionGroup var client: ClientOptions

    func run() throws {
        let session = try client.session()
        let response = try session.call("DELETE", RuleCommand.rulesPath(policy) + "/" + APIPath.component(id))
        if session.output == .json { return session.printJSON(response) }
        print("\(policy): deleted rule \(id)")
    }
}

struct RuleMoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "move", abstract: "Move a rule before or after another one; it keeps its id.")

    @Argument(help: "cluster, node:NAME, vnet:NAME, guest:ID or group:NAME.")
    var policy: String

    @Argument(help: "The id of the rule to move.")
    var id: String

    @OptionGroup var placement: RulePlacement
    @OptionGroup var client: ClientOptions

    func validate() throws {
        if placement.before == nil && placement.after == nil { throw argumentError("say where to: --before ID or --after ID") }
    }

    func run() throws {
        let session = try client.session()
        let response = try session.call("POST", RuleCommand.rulesPath(policy) + "/" + APIPath.component(id) + "/move",
                                        json: RuleMove(before: placement.before, after: placement.after))
        if session.output == .json { return session.printJSON(response) }
        let target = placement.before.map { "before \($0)" } ?? placement.after.map { "after \($0)" } ?? ""
        if let moved = try? ClientJSON.decoder.decode(RemoteRule.self, from: response.body) {
            print("\(policy): moved rule \(moved.id) \(target), now at position \(moved.position)")
        } else {
            print("\(policy): moved rule \(id) \(target)")
        }
    }
}
