import Testing

/// Every integration suite runs real `syncd` processes; they run one at a
/// time so timing figures are not skewed by each other.
/// A test that loops (a mutant, a lost wake-up) fails after its limit instead of hanging CI.
@Suite(.serialized, .timeLimit(.minutes(3))) struct Integration {}
