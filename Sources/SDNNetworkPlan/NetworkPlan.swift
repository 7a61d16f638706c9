// Topology → desired links per node: see NetworkPlan.
