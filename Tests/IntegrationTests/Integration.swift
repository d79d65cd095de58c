import Testing

/// Every integration suite runs real `syncd` processes; they run one at a
/// time so timing figures are not skewed by each other.
/// A test that loops (a mutant, a lost wake-up) fails after its limit instead of hanging CI.
/// 5 minutes: the slowest (a blocked device refused) took 157 s on two busy
/// cores, and the limit counts the wait for a pool thread too.
@Suite(.serialized, .timeLimit(.minutes(5))) struct Integration {}
