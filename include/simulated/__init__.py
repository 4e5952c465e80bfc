"""The simulated site of the demo and the tests: a pool (queue, startds, negotiator) and clouds, kept in
the state database and advanced with the cycle's clock."""
