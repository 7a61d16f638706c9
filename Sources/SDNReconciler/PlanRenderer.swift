/// Prints a plan the way a reviewer reads it: a count per kind of change, then every step in the order it
/// runs, marked by how disruptive it is, with why and for which topology object.
public enum PlanRenderer {
    public static func symbol(_ category: PlanStep.Category) -> String {
        switch category {
        case .create: "+"
        case .change: "~"
        case .flap: "!"
        case .recreate: "±"
        case .delete: "-"
        case .firewall: "#"
        }
    }

    public static func summary(_ plan: Plan) -> String {
        guard !plan.isEmpty else { return "node \(plan.node): up to date, nothing to do" }
        let counts = PlanStep.Category.allCases.compactMap { category -> String? in
            let count = plan.steps.filter { $0.category == category }.count
            guard count > 0 else { return nil }
            return "\(count) \(category.rawValue)"
        }
        return "node \(plan.node): \(plan.steps.count) step\(plan.steps.count == 1 ? "" : "s") (\(counts.joined(separator: ", ")))"
    }

    /// - Parameter firewallLimit: how many firewall changes to list before "… N more".
    public static func render(_ plan: Plan, firewallLimit: Int = 20) -> String {
        var lines = [summary(plan)]
        for step in plan.steps {
            switch step.action {
            case .link(let operation):
                var line = "  \(symbol(step.category)) \(operation.summary)"
                var why: [String] = []
                if !step.detail.isEmpty && !operation.summary.contains(step.detail) { why.append(step.detail) }
                if let owner = step.owner { why.append(owner) }
                if !why.isEmpty { line += "   # " + why.joined(separator: "; ") }
                lines.append(line)
            case .firewall(let transaction):
                lines.append("  \(symbol(step.category)) firewall: \(step.detail)")
                for change in transaction.changes.prefix(firewallLimit) { lines.append("      " + change.description) }
                if transaction.changes.count > firewallLimit { lines.append("      … \(transaction.changes.count - firewallLimit) more") }
            }
        }
        for conflict in plan.conflicts { lines.append("conflict: " + conflict) }
        for note in plan.notes { lines.append("note: " + note) }
        return lines.joined(separator: "\n")
    }
}
