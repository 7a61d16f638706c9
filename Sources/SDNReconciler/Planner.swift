// Planner and applier: see Planner.
